package dev.onnxprune.bench;

import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.PruneNet;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * PruneNet (global channel pruning) on the Fashion-MNIST ResNet-20 fixture: prunes to a FLOPs
 * (or parameter) target with the chosen objective, training on the first N training images and
 * validating on the fixture's 2000-image test subset, and prints the trajectory, the achieved
 * FLOPs and parameters, the top-1 right after pruning (no fine-tuning), the per-group widths
 * (the paper's Figures 2-3) and the wall time.
 *
 * <p>Usage: {@code PruneNetRun [--data DIR] [--train-limit 10000] [--objective flops|params|latency]
 * [--flops 0.5 | --params F] [--lambda L] [--reg-lr LR] [--rec-lr LR] [--step-fraction F]
 * [--reg-steps N] [--rec-steps N] [--max-steps N] [--batch 64] [--threads 2] [--seed 1]
 * [--recover-convs] [--out FILE.onnx]}. Steps 0 mean one epoch per phase (the paper's).
 */
public final class PruneNetRun {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    int trainLimit = TrainThroughputBench.intArg(args, "--train-limit", 10000);
    int batch = TrainThroughputBench.intArg(args, "--batch", 64);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    long seed = Long.parseLong(TrainThroughputBench.stringArg(args, "--seed", "1"));
    PruneNet.Objective objective = PruneNet.Objective.byName(TrainThroughputBench.stringArg(args, "--objective",
        "flops"));
    String params = TrainThroughputBench.stringArg(args, "--params", null);
    Target target = params != null ? Target.params(Double.parseDouble(params))
        : Target.flops(Double.parseDouble(TrainThroughputBench.stringArg(args, "--flops", "0.5")));
    PruneNet.Options o = new PruneNet.Options().objective(objective);
    String v;
    if ((v = TrainThroughputBench.stringArg(args, "--lambda", null)) != null) {
      o.lambda(Double.parseDouble(v));
    }
    if ((v = TrainThroughputBench.stringArg(args, "--reg-lr", null)) != null) {
      o.regularisedLr(Double.parseDouble(v));
    }
    if ((v = TrainThroughputBench.stringArg(args, "--rec-lr", null)) != null) {
      o.recoveryLr(Double.parseDouble(v));
    }
    if ((v = TrainThroughputBench.stringArg(args, "--step-fraction", null)) != null) {
      o.stepFraction(Double.parseDouble(v));
    }
    o.regularisedSteps(TrainThroughputBench.intArg(args, "--reg-steps", 0));
    o.recoverySteps(TrainThroughputBench.intArg(args, "--rec-steps", 0));
    if ((v = TrainThroughputBench.stringArg(args, "--max-steps", null)) != null) {
      o.maxSteps(Long.parseLong(v));
    }
    o.recoverConvolutions(Arrays.asList(args).contains("--recover-convs"));

    Path images = dir.resolve("train-images-idx3-ubyte.gz");
    if (!Files.exists(images)) {
      System.err.println("missing " + images + "; install Debian's dataset-fashion-mnist or give --data DIR");
      System.exit(2);
    }
    ArrayDataset train = IdxDataset.read(images, dir.resolve("train-labels-idx1-ubyte.gz"), FinetuneBench.NORM,
        trainLimit);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), FinetuneBench.NORM, 0);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    System.out.printf(Locale.ROOT, "data: %d training images (the first of %s), %d validation images (fixture test"
        + " subset); ONNX Runtime CPU, %d threads; batch %d, seed %d%n", train.size(), images, test.size(), threads,
        batch, seed);
    System.out.printf(Locale.ROOT, "prunenet: target %s, objective %s, lambda %s, lr %s/%s, step fraction %s,"
        + " steps per phase %s/%s, max steps %d, convolutions %s in recovery%n", target, o.objective(), o.lambda(),
        o.regularisedLr(), o.recoveryLr(), o.stepFraction(), phase(o.regularisedSteps()), phase(o.recoverySteps()),
        o.maxSteps(), o.recoverConvolutions() ? "trained" : "fixed");

    Model original = OnnxModels.read(TestModels.model("resnet20.onnx"));
    CostReport before = CostModel.analyze(original);
    double top1Before = top1(original, test, sessions);
    MethodSetup setup = new MethodSetup(train, test, sessions).batchSize(batch).seed(seed)
        .validationLimit(test.size()).listener(p -> System.out.printf(Locale.ROOT,
            "%8.1fs %-8s step %5d  FLOPs kept %.3f  loss %.4f  top-1 %s  widths %s%n", p.seconds(), p.event(),
            p.step(), p.flopsKept(), p.loss(), p.accuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f",
                p.accuracy()), p.widths().values()));
    long t0 = System.nanoTime();
    PruneResult r = Pruner.builder().method(PruneNet.create(setup, o)).target(target).verify(true)
        .sessions(sessions).build().prune(OnnxModels.read(OnnxModels.toBytes(original), null));
    double wall = (System.nanoTime() - t0) / 1e9;
    PruneReport rep = r.report();
    CostReport after = CostModel.analyze(r.model());
    double top1After = top1(r.model(), test, sessions);
    var last = rep.trajectory().get(rep.trajectory().size() - 1);

    System.out.println();
    System.out.printf(Locale.ROOT, "FLOPs %.2f M -> %.2f M (kept %.4f, removed %.4f); params %,d -> %,d (kept %.4f)%n",
        before.totalFlops() / 1e6, after.totalFlops() / 1e6, (double) after.totalFlops() / before.totalFlops(),
        1 - (double) after.totalFlops() / before.totalFlops(), before.totalParams(), after.totalParams(),
        (double) after.totalParams() / before.totalParams());
    System.out.printf(Locale.ROOT, "top-1 on the %d-image test subset: %.4f unpruned -> %.4f pruned (no fine-tuning)%n",
        test.size(), top1Before, top1After);
    long prunes = rep.trajectory().stream().filter(p -> p.event().equals("prune")).count();
    System.out.printf(Locale.ROOT, "%d pruning steps, %d optimizer steps; wall time %.1f s (PruneNet + surgery +"
        + " verification: %s)%n", prunes, last.step(), wall, rep.verify());
    System.out.println();
    System.out.println("| group | producers | channels | kept | kept % |");
    System.out.println("|---:|---|---:|---:|---:|");
    for (PruneReport.Group g : rep.groups()) {
      if (g.prunable()) {
        System.out.printf(Locale.ROOT, "| %d | %s | %d | %d | %.0f%% |%n", g.id(), shortNames(g.producers()),
            g.channels(), g.kept(), 100.0 * g.kept() / g.channels());
      }
    }
    String out = TrainThroughputBench.stringArg(args, "--out", null);
    if (out != null) {
      OnnxModels.write(r.model(), Path.of(out));
    }
  }

  private static String phase(int steps) {
    return steps == 0 ? "1 epoch" : Integer.toString(steps);
  }

  private static String shortNames(java.util.List<String> producers) {
    return String.join(", ", producers.stream().map(p -> p.replace("/layers/layers.", "L").replace("/Conv", "")
        .replace("/stem/stem.0", "stem").replace("/shortcut/shortcut.0", "/shortcut")).toList());
  }

  private static double top1(Model m, ArrayDataset test, Sessions sessions) throws Exception {
    try (Runner runner = Runner.open(sessions, m)) {
      Evaluation e = new Evaluator(runner).evaluate(test, 500);
      return e.top1();
    }
  }
}
