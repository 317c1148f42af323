package dev.onnxprune.bench;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.Augmentation;
import dev.onnxprune.training.BnRecalibration;
import dev.onnxprune.training.LrSchedule;
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
import java.util.List;
import java.util.Locale;

/**
 * Recovery after pruning, measured: the Fashion-MNIST ResNet-20 fixture pruned to half its FLOPs
 * (L1 filter norm, uniform), then (a) nothing, (b) BatchNorm recalibration, (c) (b) plus a few
 * epochs of fine-tuning, (d) the Scratch-B baseline of Liu et al. (the pruned architecture
 * re-initialised and trained for the original training's epochs times the FLOPs reduction, with
 * the original's recipe), beside the unpruned model: top-1 and loss on the 10k test images, and
 * wall times. Run by {@code bench/finetune.sh}; see bench/README.md.
 *
 * <p>Usage: {@code FinetuneBench [--data DIR] [--train-limit N] [--finetune-epochs 2]
 * [--original-epochs 2] [--threads 2] [--bn-samples 4096] [--augment] [--skip-scratch]}. DIR
 * holds the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist, Debian's
 * dataset-fashion-mnist).
 */
public final class FinetuneBench {
  static final Normalization NORM = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});

  record Row(String name, Model model, double seconds, String note) {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    int trainLimit = TrainThroughputBench.intArg(args, "--train-limit", 0);
    int ftEpochs = TrainThroughputBench.intArg(args, "--finetune-epochs", 2);
    int origEpochs = TrainThroughputBench.intArg(args, "--original-epochs", 2);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    int bnSamples = TrainThroughputBench.intArg(args, "--bn-samples", 4096);
    boolean augment = Arrays.asList(args).contains("--augment");
    boolean skipScratch = Arrays.asList(args).contains("--skip-scratch");
    Path trainImages = dir.resolve("train-images-idx3-ubyte.gz");
    if (!Files.exists(trainImages)) {
      System.err.println("missing " + trainImages + "; install Debian's dataset-fashion-mnist or give --data DIR");
      System.exit(2);
    }
    ArrayDataset train = IdxDataset.read(trainImages, dir.resolve("train-labels-idx1-ubyte.gz"), NORM, 0);
    if (trainLimit > 0) {
      train = train.shuffled(1, trainLimit);
    }
    ArrayDataset test = IdxDataset.read(dir.resolve("t10k-images-idx3-ubyte.gz"),
        dir.resolve("t10k-labels-idx1-ubyte.gz"), NORM, 0);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    Augmentation aug = augment ? Augmentation.cropAndFlip(2, -0.2860f / 0.3530f) : Augmentation.none();
    System.out.printf(Locale.ROOT, "data: %d training images, %d test images; ONNX Runtime CPU, %d threads;"
        + " augmentation %s%n", train.size(), test.size(), threads, aug);

    Model original = OnnxModels.read(TestModels.model("resnet20.onnx"));
    List<Row> rows = new ArrayList<>();
    rows.add(new Row("unpruned resnet20 (fixture: Adam+OneCycle, " + origEpochs + " epochs)", original, 0, ""));

    long t0 = System.nanoTime();
    // Pruner.prune works in place: prune a copy
    PruneResult pr = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).build()
        .prune(copy(original));
    Model pruned = pr.model();
    rows.add(new Row("(a) pruned, L1 --flops 0.5, no recovery", pruned, secs(t0), "pruning"));
    progress(rows);

    BnRecalibration.Result recal = BnRecalibration.run(pruned, train, 64, (bnSamples + 63) / 64, sessions);
    rows.add(new Row("(b) (a) + BN recalibration, " + recal.samples() + " train images", recal.model(),
        recal.seconds(), "recalibration"));
    progress(rows);

    // (c): fine-tuning with the CLI's defaults: SGD momentum 0.9, wd 5e-4, lr 0.01 cosine to 0, batch 64
    int steps = Trainer.stepsPerEpoch(train.size(), 64);
    TrainerOptions ft = TrainerOptions.builder().epochs(ftEpochs).batchSize(64).seed(0).augmentation(aug)
        .schedule(Schedules.cosine(0.01, (long) ftEpochs * steps, 0), TrainerOptions.ScheduleUnit.STEP)
        .listener(new EpochLines("(c)")).build();
    TrainingOptions sgd = TrainingOptions.builder().optimizer(Optimizer.sgd(0.9, 5e-4)).build();
    Trainer.Result tuned = Trainer.train(recal.model(), sgd, train, ft, sessions);
    rows.add(new Row("(c) (b) + fine-tune " + ftEpochs + " epochs (SGD 0.01 cosine, batch 64)", tuned.model(),
        tuned.seconds(), "fine-tuning"));
    progress(rows);

    if (!skipScratch) {
      // (d): Scratch-B with the fixture's own recipe: Adam (no weight decay), batch 128, 1-cycle-like lr
      // (linear warm-up over 25% of the steps to 0.01, cosine to 0)
      int epochs = Scratch.budgetEpochs(origEpochs, original, pruned);
      int steps128 = Trainer.stepsPerEpoch(train.size(), 128);
      long total = (long) epochs * steps128;
      long warm = total / 4;
      LrSchedule cos = Schedules.cosine(0.01, total, 0);
      TrainerOptions sc = TrainerOptions.builder().epochs(epochs).batchSize(128).seed(0).augmentation(aug)
          .schedule(Schedules.warmup(warm, t -> cos.at(t + warm)), TrainerOptions.ScheduleUnit.STEP)
          .listener(new EpochLines("(d)")).build();
      TrainingOptions adam = TrainingOptions.builder().optimizer(Optimizer.adam(0)).build();
      Trainer.Result scratch = Trainer.train(Scratch.reinitialize(pruned, 0), adam, train, sc, sessions);
      rows.add(new Row("(d) scratch, Scratch-B: " + origEpochs + " x " + ratio(original, pruned) + " = " + epochs
          + " epochs (Adam, warm-up+cosine 0.01, batch 128)", scratch.model(), scratch.seconds(), "training"));
    }
    table(rows, test, sessions, train.size());
  }

  /** Prints the accuracy of the last row as soon as it is known (the table comes at the end). */
  private static void progress(List<Row> rows) {
    Row r = rows.get(rows.size() - 1);
    System.err.printf(Locale.ROOT, "done: %s (%.1f s)%n", r.name(), r.seconds());
  }

  private static void table(List<Row> rows, Dataset test, Sessions sessions, int trainSize) throws Exception {
    System.out.println();
    System.out.printf("| model | MFLOPs | params | test top-1 (10k) | test loss | wall time | eval 10k |%n");
    System.out.printf("|---|---:|---:|---:|---:|---|---:|%n");
    for (Row r : rows) {
      var cost = CostModel.analyze(copy(r.model()));
      Evaluation e;
      try (Runner runner = Runner.open(sessions, r.model())) {
        e = new Evaluator(runner).evaluate(test, 500);
      }
      String time = r.note().isEmpty() ? "-" : String.format(Locale.ROOT, "%.1f s %s", r.seconds(), r.note());
      System.out.printf(Locale.ROOT, "| %s | %.1f | %,d | %.2f%% | %.4f | %s | %.1f s |%n", r.name(),
          cost.totalFlops() / 1e6, cost.totalParams(), 100 * e.top1(), e.loss(), time, e.seconds());
    }
    System.out.printf("(%d training images)%n", trainSize);
  }

  private static String ratio(Model a, Model b) {
    return String.format(Locale.ROOT, "%.2f", (double) Scratch.flops(a) / Scratch.flops(b));
  }

  private static Model copy(Model m) throws Exception {
    return OnnxModels.read(OnnxModels.toBytes(m), null);
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  /** One line per epoch on stderr. */
  private record EpochLines(String tag) implements Trainer.Listener {
    @Override
    public void epochEnded(Trainer.EpochStats s) {
      System.err.printf(Locale.ROOT, "%s epoch %d/%d  loss %.4f  acc %.2f%%  lr %.3g  %.1f s (%.0f img/s)%n", tag,
          s.epoch(), s.epochs(), s.trainLoss(), 100 * s.trainAccuracy(), s.lr(), s.seconds(),
          s.trainSamples() / s.seconds());
    }
  }
}
