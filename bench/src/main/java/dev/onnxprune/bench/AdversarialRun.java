package dev.onnxprune.bench;

import dev.onnxprune.methods.AdversarialPruning;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Adversarial structured pruning of the Fashion-MNIST ResNet-20 fixture to a FLOPs target, measured:
 * training data the first N images of the Fashion-MNIST training set, validation (the method's
 * recovery check) the fixture's 2000-image test subset; prints the trajectory as it goes, then the
 * achieved FLOPs, top-1 right after pruning (no extra fine-tuning) on the subset and on the full
 * 10k test set, the kept channels per group, passes, reversals and wall time.
 *
 * <p>Usage: {@code AdversarialRun [--data DIR] [--train N] [--flops 0.5] [--threads 2] [--batch 64]
 * [--epsilon 0.1] [--tau 0.9] [--T 10] [--eta-adv 0.01] [--pgd-steps 10] [--eta-reg 1e-4]
 * [--decay-interval 5] [--iteration-batches 10] [--max-steps 20000] [--tolerance 0.01]
 * [--reference START|LAYER] [--two-sided] [--validation-limit 2000]}.
 */
public final class AdversarialRun {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    int trainN = TrainThroughputBench.intArg(args, "--train", 10000);
    double flops = Double.parseDouble(TrainThroughputBench.stringArg(args, "--flops", "0.5"));
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    int batch = TrainThroughputBench.intArg(args, "--batch", 64);
    AdversarialPruning.Options o = new AdversarialPruning.Options()
        .epsilon(d(args, "--epsilon", 0.1)).tau(d(args, "--tau", 0.9))
        .iterations(TrainThroughputBench.intArg(args, "--T", 10)).etaAdv(d(args, "--eta-adv", 1e-2))
        .pgdSteps(TrainThroughputBench.intArg(args, "--pgd-steps", 10)).etaReg(d(args, "--eta-reg", 1e-4))
        .decayInterval(TrainThroughputBench.intArg(args, "--decay-interval", 5))
        .iterationBatches(TrainThroughputBench.intArg(args, "--iteration-batches", 10))
        .maxSteps(TrainThroughputBench.intArg(args, "--max-steps", 20000)).tolerance(d(args, "--tolerance", 0.01))
        .twoSided(java.util.Arrays.asList(args).contains("--two-sided"))
        .reference(AdversarialPruning.Reference.valueOf(TrainThroughputBench.stringArg(args, "--reference",
            "START")));
    ArrayDataset train = IdxDataset.read(dir.resolve("train-images-idx3-ubyte.gz"),
        dir.resolve("train-labels-idx1-ubyte.gz"), FinetuneBench.NORM, trainN);
    ArrayDataset val = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), FinetuneBench.NORM, 0);
    ArrayDataset test = IdxDataset.read(dir.resolve("t10k-images-idx3-ubyte.gz"),
        dir.resolve("t10k-labels-idx1-ubyte.gz"), FinetuneBench.NORM, 0);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    MethodSetup setup = new MethodSetup(train, val, sessions).batchSize(batch).seed(1)
        .validationLimit(TrainThroughputBench.intArg(args, "--validation-limit", val.size()))
        .listener(AdversarialRun::print);
    System.out.printf(Locale.ROOT, "resnet20 fixture; %d training images, %d validation images (fixture test subset);"
        + " batch %d; eps %s tau %s T %d eta_adv %s pgd %d eta_reg %s I %d iteration %d batches; budget %d steps;"
        + " tolerance %s vs %s; %s%n", train.size(), val.size(), batch, o.epsilon(), o.tau(), o.iterations(), o.etaAdv(),
        o.pgdSteps(), o.etaReg(), o.decayInterval(), o.iterationBatches(), o.maxSteps(), o.tolerance(),
        o.reference(), o.twoSided() ? "two-sided |m-1|" : "|m| as printed");
    Model original = OnnxModels.read(TestModels.model("resnet20.onnx"));
    Model model = OnnxModels.read(OnnxModels.toBytes(original), null);
    AdversarialPruning method = AdversarialPruning.create(setup, o);
    long t0 = System.nanoTime();
    PruneResult r;
    try {
      r = Pruner.builder().method(method).target(Target.flops(flops)).verify(true).sessions(sessions).build()
          .prune(model);
    } catch (dev.onnxprune.errors.TargetUnreachableException e) {
      System.out.printf(Locale.ROOT, "%nstopped short after %.1f s: %s%n%s%n", (System.nanoTime() - t0) / 1e9,
          e.getMessage(), method.summary());
      return;
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    PruneReport rep = r.report();
    AdversarialPruning.Summary s = method.summary();
    System.out.printf(Locale.ROOT, "%nwall %.1f s; %s%n", secs, s);
    System.out.printf(Locale.ROOT, "FLOPs %.2f M -> %.2f M (removed %.4f); params %d -> %d; verify %s%n",
        rep.before().flops() / 1e6, rep.after().flops() / 1e6, rep.achieved(), rep.before().params(),
        rep.after().params(), rep.verify());
    System.out.println("kept channels per group (group: kept/of, producers):");
    for (PruneReport.Group g : rep.groups()) {
      if (g.prunable()) {
        System.out.printf(Locale.ROOT, "  %2d: %2d/%2d %s%n", g.id(), g.kept(), g.channels(), g.producers());
      }
    }
    for (String[] row : new String[][] {{"original", "o"}, {"pruned", "p"}}) {
      Model m = row[1].equals("o") ? original : r.model();
      try (Runner runner = Runner.open(sessions, m)) {
        Evaluation ev = new Evaluator(runner).evaluate(val, 500);
        Evaluation et = new Evaluator(runner).evaluate(test, 500);
        System.out.printf(Locale.ROOT, "%s: top-1 %.2f%% on the 2000-image subset (used for the decisions),"
            + " %.2f%% on the 10k test set (loss %.4f)%n", row[0], 100 * ev.top1(), 100 * et.top1(), et.loss());
      }
    }
  }

  private static void print(TrajectoryPoint p) {
    System.out.printf(Locale.ROOT, "%7.1f s step %5d %-7s flops %.3f top-1 %s loss %.4f widths %s%n", p.seconds(),
        p.step(), p.event(), p.flopsKept(), p.accuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f",
            p.accuracy()), p.loss(), p.widths().values());
  }

  private static double d(String[] args, String name, double def) {
    return Double.parseDouble(TrainThroughputBench.stringArg(args, name, Double.toString(def)));
  }
}
