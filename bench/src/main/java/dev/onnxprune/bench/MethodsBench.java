package dev.onnxprune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
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
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.Schedules;
import dev.onnxprune.training.Scratch;
import dev.onnxprune.training.Trainer;
import dev.onnxprune.training.TrainerOptions;
import dev.onnxprune.training.TrainingOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The pruning methods side by side on equal terms (issue: gradient-based methods): the
 * Fashion-MNIST ResNet-20 fixture pruned to --flops 0.5 by L1, Taylor, Oracle, AOFP
 * (training-time), adversarial structured pruning and PruneNet, each then fine-tuned with the
 * same budget (SGD momentum 0.9, wd 5e-4, lr 0.01 cosine to 0, batch 64, the same images in the
 * same order), beside the scratch baseline (the uniform L1 architecture re-initialised and
 * trained for the fine-tuning budget times the FLOPs reduction, Scratch-B of Liu et al.): top-1
 * on the 10k test images right after pruning and after fine-tuning, wall times, and per-group
 * widths against uniform pruning at the same FLOPs. Run by {@code bench/methods.sh}.
 *
 * <p>Usage: {@code MethodsBench [--model resnet20] [--data DIR] [--train-limit 10000]
 * [--finetune-epochs 1] [--threads 2] [--method-steps N] [--theta T] [--phi P] [--methods l1,taylor,...]
 * [--json FILE]}; --model names a bundled fixture; --theta and --phi are AOFP's. Settings not given
 * keep the library's defaults (--method-steps: each method's own budget); the training-time
 * methods stop at their budget (and fail if the target is not met by then).
 */
public final class MethodsBench {
  /** One method: how it prunes a copy of the model. */
  interface Method {
    PruneResult prune(Model model) throws Exception;
  }

  record Row(String name, String description, double pruneSeconds, double prunedTop1, double tunedTop1,
      double tuneSeconds, long flops, long params, Map<Integer, Integer> widths, List<TrajectoryPoint> trajectory) {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    int trainLimit = TrainThroughputBench.intArg(args, "--train-limit", 10000);
    int ftEpochs = TrainThroughputBench.intArg(args, "--finetune-epochs", 1);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    int maxSteps = TrainThroughputBench.intArg(args, "--method-steps", 0);
    String modelName = TrainThroughputBench.stringArg(args, "--model", "resnet20");
    String json = TrainThroughputBench.stringArg(args, "--json", null);
    List<String> names = Arrays.asList(TrainThroughputBench.stringArg(args, "--methods",
        "l1,taylor,oracle,aofp,adversarial,prunenet,scratch").split(","));
    Path trainImages = dir.resolve("train-images-idx3-ubyte.gz");
    if (!Files.exists(trainImages)) {
      System.err.println("missing " + trainImages + "; install Debian's dataset-fashion-mnist or give --data DIR");
      System.exit(2);
    }
    ArrayDataset all = IdxDataset.read(trainImages, dir.resolve("train-labels-idx1-ubyte.gz"), FinetuneBench.NORM,
        trainLimit);
    ArrayDataset train = all;
    ArrayDataset calib = all.shuffled(7, Math.min(1000, all.size()));
    ArrayDataset test = IdxDataset.read(dir.resolve("t10k-images-idx3-ubyte.gz"),
        dir.resolve("t10k-labels-idx1-ubyte.gz"), FinetuneBench.NORM, 0);
    ArrayDataset val = test.shuffled(3, 1000);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    System.out.printf(Locale.ROOT, "data: %d training images (the first %d), %d calibration, %d test; ONNX Runtime"
        + " CPU, %d threads; fine-tuning %d epoch(s)%n", train.size(), trainLimit, calib.size(), test.size(), threads,
        ftEpochs);
    Model original = OnnxModels.read(TestModels.model(modelName + ".onnx"));
    System.out.println("model: " + modelName);
    Target target = Target.flops(0.5);
    MethodSetup setup = new MethodSetup(train, val, sessions).batchSize(64).seed(0).validationLimit(500)
        .listener(p -> System.err.printf(Locale.ROOT, "  step %d %s: FLOPs %.3f, loss %.4f, acc %s (%.1f s)%n",
            p.step(), p.event(), p.flopsKept(), p.loss(), p.accuracy() == null ? "-"
                : String.format(Locale.ROOT, "%.2f%%", 100 * p.accuracy()), p.seconds()));

    Map<String, Method> methods = new LinkedHashMap<>();
    methods.put("l1", m -> prune(m, Criteria.l1(), target));
    methods.put("taylor", m -> prune(m, DataCriteria.taylor(calib, sessions), target));
    methods.put("oracle", m -> prune(m, DataCriteria.oracle(calib, sessions), target));
    MethodsBenchMethods.add(methods, setup, target, maxSteps, args);

    List<Row> rows = new ArrayList<>();
    Row unpruned = evaluateOnly("unpruned", "the fixture", original, test, sessions);
    rows.add(unpruned);
    Model l1Architecture = null;
    for (String name : names) {
      if (name.equals("scratch")) {
        continue;
      }
      Method method = methods.get(name);
      if (method == null) {
        throw new IllegalArgumentException("unknown method " + name + "; known: " + methods.keySet() + ", scratch");
      }
      System.err.println("== " + name);
      long t0 = System.nanoTime();
      PruneResult r;
      try {
        r = method.prune(copy(original));
      } catch (IllegalArgumentException | IllegalStateException e) {
        // a method that stops short of the target (its budget or threshold) is reported, not fatal
        double s = secs(t0);
        System.err.printf(Locale.ROOT, "%s: did not reach the target in %.1f s: %s%n", name, s, e.getMessage());
        rows.add(new Row(name, "FAILED: " + e.getMessage(), s, Double.NaN, Double.NaN, 0, 0, 0, null, null));
        continue;
      }
      double pruneSeconds = secs(t0);
      if (name.equals("l1")) {
        l1Architecture = r.model();
      }
      rows.add(finetuned(name, describe(name, r.report()), r.model(), pruneSeconds, r.report(), train, test,
          sessions, ftEpochs));
    }
    if (names.contains("scratch")) {
      System.err.println("== scratch");
      if (l1Architecture == null) {
        l1Architecture = prune(copy(original), Criteria.l1(), target).model();
      }
      int epochs = Scratch.budgetEpochs(ftEpochs, original, l1Architecture);
      Row r = finetuned("scratch", "uniform L1 architecture, He init, " + epochs + " epochs (Scratch-B: "
          + ftEpochs + " x FLOPs reduction)", Scratch.reinitialize(l1Architecture, 0), 0, null, train, test,
          sessions, epochs);
      rows.add(r);
    }
    print(rows, ftEpochs, train.size());
    widths(rows, original);
    if (json != null) {
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(Path.of(json).toFile(), rows);
      System.out.println("wrote " + json);
    }
  }

  static PruneResult prune(Model m, Criterion c, Target t) throws Exception {
    return Pruner.builder().criterion(c).target(t).verify(true).build().prune(m);
  }

  static PruneResult prune(Model m, dev.onnxprune.methods.TrainingMethod method, Target t) throws Exception {
    return Pruner.builder().method(method).target(t).verify(true).build().prune(m);
  }

  private static String describe(String name, PruneReport r) {
    return r.criterion() + ", " + r.allocation() + (r.trajectory() == null ? ""
        : ", " + r.trajectory().size() + " trajectory points");
  }

  private static Row evaluateOnly(String name, String description, Model m, Dataset test, Sessions sessions)
      throws Exception {
    double top1 = top1(m, test, sessions);
    var cost = CostModel.analyze(copy(m));
    return new Row(name, description, 0, top1, top1, 0, cost.totalFlops(), cost.totalParams(), null, null);
  }

  private static Row finetuned(String name, String description, Model pruned, double pruneSeconds, PruneReport r,
      Dataset train, Dataset test, Sessions sessions, int epochs) throws Exception {
    double before = top1(pruned, test, sessions);
    System.err.printf(Locale.ROOT, "%s: pruned in %.1f s, top-1 %.2f%% before fine-tuning%n", name, pruneSeconds,
        100 * before);
    int steps = Trainer.stepsPerEpoch(train.size(), 64);
    TrainerOptions ft = TrainerOptions.builder().epochs(epochs).batchSize(64).seed(0)
        .schedule(Schedules.cosine(0.01, (long) epochs * steps, 0), TrainerOptions.ScheduleUnit.STEP).build();
    TrainingOptions sgd = TrainingOptions.builder().optimizer(Optimizer.sgd(0.9, 5e-4)).build();
    Trainer.Result tuned = Trainer.train(pruned, sgd, train, ft, sessions);
    double after = top1(tuned.model(), test, sessions);
    System.err.printf(Locale.ROOT, "%s: fine-tuned in %.1f s, top-1 %.2f%%%n", name, tuned.seconds(), 100 * after);
    var cost = CostModel.analyze(copy(pruned));
    Map<Integer, Integer> widths = null;
    if (r != null) {
      widths = new LinkedHashMap<>();
      for (PruneReport.Group g : r.groups()) {
        if (g.prunable()) {
          widths.put(g.id(), g.kept());
        }
      }
    }
    return new Row(name, description, pruneSeconds, before, after, tuned.seconds(), cost.totalFlops(),
        cost.totalParams(), widths, r == null ? null : r.trajectory());
  }

  private static double top1(Model m, Dataset test, Sessions sessions) throws Exception {
    try (Runner runner = Runner.open(sessions, m)) {
      Evaluation e = new Evaluator(runner).evaluate(test, 500);
      return e.top1();
    }
  }

  private static void print(List<Row> rows, int epochs, int trainSize) {
    System.out.println();
    System.out.printf("| method | MFLOPs | params | top-1 pruned | top-1 after fine-tuning | prune time | method steps"
        + " | fine-tune time |%n");
    System.out.printf("|---|---:|---:|---:|---:|---:|---:|---:|%n");
    for (Row r : rows) {
      String steps = r.trajectory() == null || r.trajectory().isEmpty() ? "-"
          : String.valueOf(r.trajectory().get(r.trajectory().size() - 1).step());
      System.out.printf(Locale.ROOT, "| %s | %.1f | %,d | %.2f%% | %.2f%% | %.1f s | %s | %.1f s |%n", r.name(),
          r.flops() / 1e6, r.params(), 100 * r.prunedTop1(), 100 * r.tunedTop1(), r.pruneSeconds(), steps,
          r.tuneSeconds());
      if (r.description().startsWith("FAILED")) {
        System.out.println("  " + r.name() + ": " + r.description());
      }
    }
    System.out.printf("(fine-tuning: %d epoch(s) over %d training images; top-1 on the 10k test images)%n", epochs,
        trainSize);
  }

  /** Kept channels per group, each method against uniform (L1) pruning at the same FLOPs target. */
  private static void widths(List<Row> rows, Model original) {
    ChannelAnalysis a = ChannelAnalysis.analyze(original);
    List<Row> with = rows.stream().filter(r -> r.widths() != null).toList();
    if (with.isEmpty()) {
      return;
    }
    System.out.println();
    StringBuilder head = new StringBuilder("| group (producers) | channels |");
    StringBuilder rule = new StringBuilder("|---|---:|");
    for (Row r : with) {
      head.append(' ').append(r.name()).append(" |");
      rule.append("---:|");
    }
    System.out.println(head);
    System.out.println(rule);
    for (Integer id : with.get(0).widths().keySet()) {
      var g = a.groups().get(id);
      StringBuilder line = new StringBuilder("| " + id + " " + String.join("+", g.producers()) + " | " + g.size() + " |");
      for (Row r : with) {
        line.append(' ').append(r.widths().getOrDefault(id, g.size())).append(" |");
      }
      System.out.println(line);
    }
  }

  private static Model copy(Model m) throws Exception {
    return OnnxModels.read(OnnxModels.toBytes(m), null);
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
