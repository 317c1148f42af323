package dev.onnxprune.bench;

import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * AOFP training-time multi-path pruning ({@link AofpTraining}) of the Fashion-MNIST ResNet-20
 * fixture to a FLOPs target, measured: the achieved FLOPs, top-1 on the fixture's 2000 test
 * images right after pruning (no fine-tuning) and before, the per-group widths, moves, steps and
 * wall time. Progress (every trajectory point) on stderr.
 *
 * <p>Usage: {@code AofpTrainingRun [--data DIR] [--train-limit 10000] [--flops 0.5] [--theta 0.01]
 * [--phi 20] [--lr 0.01] [--batch 64] [--max-steps 20000] [--validate-every 10] [--threads 2]
 * [--no-restart] [--no-trim] [--seed 1] [--out pruned.onnx]}. DIR holds the Fashion-MNIST IDX
 * files (default /usr/share/datasets/fashion-mnist); training uses the first {@code --train-limit}
 * training images.
 */
public final class AofpTrainingRun {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    int trainLimit = TrainThroughputBench.intArg(args, "--train-limit", 10000);
    double flops = Double.parseDouble(TrainThroughputBench.stringArg(args, "--flops", "0.5"));
    double theta = Double.parseDouble(TrainThroughputBench.stringArg(args, "--theta", "0.01"));
    int phi = TrainThroughputBench.intArg(args, "--phi", 20);
    double lr = Double.parseDouble(TrainThroughputBench.stringArg(args, "--lr", "0.01"));
    int batch = TrainThroughputBench.intArg(args, "--batch", 64);
    int maxSteps = TrainThroughputBench.intArg(args, "--max-steps", 20000);
    int validateEvery = TrainThroughputBench.intArg(args, "--validate-every", 10);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    int seed = TrainThroughputBench.intArg(args, "--seed", 1);
    String out = TrainThroughputBench.stringArg(args, "--out", null);
    List<String> flags = List.of(args);

    ArrayDataset train = IdxDataset.read(dir.resolve("train-images-idx3-ubyte.gz"),
        dir.resolve("train-labels-idx1-ubyte.gz"), FinetuneBench.NORM, trainLimit);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), FinetuneBench.NORM, 0);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    long before = CostModel.analyze(m).totalFlops();
    double top1Before = top1(sessions, m, test);
    System.out.printf(Locale.ROOT, "resnet20: %.2f MFLOPs, top-1 %.2f%% on %d test images; %d training images,"
        + " batch %d, theta %s, phi %d batches, lr %s, %d threads%n", before / 1e6, 100 * top1Before, test.size(),
        train.size(), batch, theta, phi, lr, threads);

    MethodSetup setup = new MethodSetup(train, test, sessions).batchSize(batch).seed(seed).validationLimit(test.size())
        .listener(p -> System.err.println(describe(p)));
    AofpTraining.Options o = new AofpTraining.Options().theta(theta).phi(phi).learningRate(lr).maxSteps(maxSteps)
        .validateEvery(validateEvery).restart(!flags.contains("--no-restart"))
        .trimFinalMove(!flags.contains("--no-trim"));
    AofpTraining method = AofpTraining.create(setup, o);
    long t0 = System.nanoTime();
    PruneResult r = Pruner.builder().method(method).target(Target.flops(flops)).verify(true).sessions(sessions)
        .build().prune(m);
    double seconds = (System.nanoTime() - t0) / 1e9;
    long after = CostModel.analyze(r.model()).totalFlops();
    double top1After = top1(sessions, r.model(), test);
    List<TrajectoryPoint> tr = r.report().trajectory();
    TrajectoryPoint end = tr.get(tr.size() - 1);
    long moves = tr.stream().filter(p -> p.event().equals("prune")).count();
    long refines = tr.stream().filter(p -> p.event().equals("refine")).count();
    long stops = tr.stream().filter(p -> p.event().equals("stop-layer")).count();
    System.out.println();
    System.out.printf(Locale.ROOT, "FLOPs: %.2f M -> %.2f M (%.2f%% removed; target %.0f%%)%n", before / 1e6,
        after / 1e6, 100 * (1 - (double) after / before), 100 * flops);
    System.out.printf(Locale.ROOT, "top-1 on %d test images: %.2f%% before, %.2f%% right after pruning (no"
        + " fine-tuning)%n", test.size(), 100 * top1Before, 100 * top1After);
    System.out.printf(Locale.ROOT, "steps %d (%.2f epochs of %d images), prune moves %d, refinements %d, stopped"
        + " moves %d, wall time %.1f s (%.1f s in the method), verification %s%n", end.step(),
        (double) end.step() * batch / train.size(), train.size(), moves, refines, stops, seconds, end.seconds(),
        r.report().verify());
    System.out.println("| group | producers | channels | kept |");
    System.out.println("|---:|---|---:|---:|");
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable()) {
        System.out.printf(Locale.ROOT, "| %d | %s | %d | %d |%n", g.id(), String.join(", ", g.producers()),
            g.channels(), g.kept());
      }
    }
    if (out != null) {
      OnnxModels.write(r.model(), Path.of(out));
    }
  }

  private static double top1(Sessions sessions, Model m, ArrayDataset test) throws Exception {
    try (Runner runner = Runner.open(sessions, m)) {
      Evaluation e = new Evaluator(runner).evaluate(test, 500);
      return e.top1();
    }
  }

  private static String describe(TrajectoryPoint p) {
    return String.format(Locale.ROOT, "%7.1f s step %6d %-10s FLOPs %.3f loss %.4f%s widths %s", p.seconds(),
        p.step(), p.event(), p.flopsKept(), p.loss(),
        p.accuracy() == null ? "" : String.format(Locale.ROOT, " top-1 %.2f%%", 100 * p.accuracy()),
        p.widths().values());
  }
}
