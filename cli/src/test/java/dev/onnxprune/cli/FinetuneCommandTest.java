package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FinetuneCommandTest {
  static final String TRAIN = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
  static final String TRAIN_LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();
  static final String TEST = TestModels.file("fmnist-test-images-idx3-ubyte.gz").toString();
  static final String TEST_LABELS = TestModels.file("fmnist-test-labels-idx1-ubyte.gz").toString();
  static final String RESNET = TestModels.model("resnet20.onnx").toString();
  static final String VGG = TestModels.model("vgg_bn.onnx").toString();
  static final String[] DATA = {"--images", TRAIN, "--labels", TRAIN_LABELS, "--mean", "0.2860", "--std", "0.3530",
      "--device", "cpu", "--threads", "2"};

  @TempDir
  Path tmp;

  static String[] args(String[] data, String... more) {
    List<String> a = new ArrayList<>(Arrays.asList(more));
    a.addAll(Arrays.asList(data));
    return a.toArray(new String[0]);
  }

  @Test
  void oneEpochOnTheBundledSubsetWritesTheTrainedModelAndATable() throws Exception {
    Path out = tmp.resolve("ft.onnx");
    Cli.Result r = Cli.run(args(DATA, "finetune", RESNET, "-o", out.toString(), "--epochs", "1", "--limit", "256",
        "--lr", "0.005", "--val-images", TEST, "--val-labels", TEST_LABELS, "--recalibrate-bn", "--bn-samples", "128"));

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().contains("training from epoch 1 of 1: 256 samples, 4 steps per epoch"), r.err());
    assertTrue(r.err().contains("21 BatchNorm layers on 128 samples (2 batches)"), r.err());
    assertTrue(r.err().matches("(?s).*epoch 1/1  loss \\d\\.\\d{4}  acc \\d+\\.\\d\\d%  val loss \\d\\.\\d{4}"
        + "  val top-1 \\d+\\.\\d\\d%  lr .*"), r.err());
    assertTrue(r.out().matches("(?s)epoch +lr +train loss +train acc +val loss +val top-1 +seconds\\n +1 .*"), r.out());
    assertTrue(r.out().matches("(?s).*\n  stage +top-1 +top-5 +loss +params +FLOPs +latency\n  original .*"), r.out());
    assertTrue(r.out().contains("\nwrote " + out + " ("), r.out());
    // a fine-tuned trained model keeps its accuracy (0.9225 on this subset)
    double after = top1(r.out(), "fine-tuned");
    assertTrue(after > 0.88, r.out());
    Model m = OnnxModels.read(out);
    Model before = OnnxModels.read(Path.of(RESNET));
    assertFalse(Arrays.equals(before.graph().lookup("stem.0.weight").initializer().toFloatArray(),
        m.graph().lookup("stem.0.weight").initializer().toFloatArray()));
  }

  @Test
  void checkpointThenResumeContinuesAtTheNextEpoch() throws Exception {
    Path dir = tmp.resolve("ck");
    String[] common = args(DATA, "finetune", VGG, "--limit", "96", "--batch", "32", "--checkpoint-dir", dir.toString(),
        "-q");
    Cli.Result first = Cli.run(append(common, "-o", tmp.resolve("a.onnx").toString(), "--epochs", "1"));
    assertEquals(0, first.exitCode(), first.err());
    assertTrue(Files.isRegularFile(dir.resolve("checkpoint.onnx")));

    Cli.Result second = Cli.run(append(common, "-o", tmp.resolve("b.onnx").toString(), "--epochs", "2", "--resume"));
    assertEquals(0, second.exitCode(), second.err());
    assertTrue(second.err().contains("resuming at epoch 2 of 2"), second.err());
    assertFalse(second.err().contains("epoch 1/2"), second.err());
    assertTrue(second.out().contains("trained 1 epochs"), second.out());
    // the table holds both epochs, the first from the checkpoint
    assertTrue(second.out().matches("(?s).*\\n +1 .*\\n +2 .*"), second.out());

    Cli.Result other = Cli.run(args(DATA, "finetune", VGG, "--limit", "96", "--batch", "16", "--checkpoint-dir",
        dir.toString(), "-o", tmp.resolve("c.onnx").toString(), "--epochs", "2", "--resume"));
    assertEquals(1, other.exitCode());
    assertTrue(other.err().contains("was written with batch size 32, this run has 16"), other.err());
  }

  @Test
  void scratchWithTheOriginalTrainsTheScratchBBudget() throws Exception {
    Path pruned = tmp.resolve("pruned.onnx");
    Cli.Result p = Cli.run("prune", VGG, "-o", pruned.toString(), "--criterion", "l1", "--flops", "0.5");
    assertEquals(0, p.exitCode(), p.err());
    Cli.Result r = Cli.run(args(DATA, "finetune", pruned.toString(), "-o", tmp.resolve("s.onnx").toString(),
        "--epochs", "1", "--limit", "64", "--batch", "32", "--scratch", "--original", VGG, "--lr", "0.05"));
    assertEquals(0, r.exitCode(), r.err());
    Matcher m = Pattern.compile("scratch \\(Scratch-B\\): 1 epochs x ([\\d.]+)M / ([\\d.]+)M FLOPs = (\\d+) epochs")
        .matcher(r.err());
    assertTrue(m.find(), r.err());
    double ratio = Double.parseDouble(m.group(1)) / Double.parseDouble(m.group(2));
    assertEquals(Math.round(ratio), Integer.parseInt(m.group(3)), r.err());
    assertTrue(ratio >= 1.9, r.err());
    assertTrue(r.out().contains("trained " + m.group(3) + " epochs"), r.out());
  }

  /**
   * Issue 16, point 3: a learning rate that makes the weights infinite in the last step exited 0
   * and wrote a model of NaN (every step's loss, computed before its update, was finite).
   */
  @Test
  void trainingThatDivergesFailsNamingTheStepAndWritesNothing() {
    Path out = tmp.resolve("nan.onnx");
    Cli.Result r = Cli.run(args(DATA, "finetune", VGG, "-o", out.toString(), "--epochs", "1", "--limit", "64",
        "--batch", "64", "--lr", "1e30", "-q"));
    assertEquals(1, r.exitCode(), r.err());
    assertTrue(r.err().contains("\nonnx-prune: error: training diverged after epoch 1 (step 1, learning rate"
        + " 1.0E30): the trained model's output is NaN on the first 64 training samples; nothing was kept of this"
        + " run. Lower the learning rate"), r.err());
    assertFalse(Files.exists(out));
    assertUsage("--lr must be > 0 and at most 3.4e38 (a finite float): 1.0E39", args(DATA, "finetune", VGG, "-o",
        out.toString(), "--epochs", "1", "--lr", "1e39"));
    assertUsage("--lr must be > 0 and at most 3.4e38 (a finite float): Infinity", args(DATA, "finetune", VGG, "-o",
        out.toString(), "--epochs", "1", "--lr", "Infinity"));
  }

  /**
   * Issue 16, point 4: labels outside the model's 10 classes (10, 255) were accepted by finetune
   * and by --criterion taylor, which trained and scored against no class.
   */
  @Test
  void labelsOutsideTheClassesAreRefusedByFinetuneAndTaylor() throws Exception {
    byte[] labels;
    try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(Path.of(TRAIN_LABELS)))) {
      labels = in.readAllBytes();
    }
    for (int bad : new int[] {10, 255}) {
      java.util.Arrays.fill(labels, 8, labels.length, (byte) bad); // every sample: --limit draws them by --seed
      Path file = Files.write(tmp.resolve("labels-" + bad + ".idx1"), labels);
      String[] data = DATA.clone();
      data[3] = file.toString();
      Path out = tmp.resolve("never.onnx");
      String expected = "label " + bad + " of sample 0 is outside the 10 classes of output '";
      Cli.Result r = Cli.run(args(data, "finetune", VGG, "-o", out.toString(), "--epochs", "1", "--limit", "64", "-q"));
      assertEquals(1, r.exitCode(), r.err());
      assertTrue(r.err().contains("onnx-prune: error: " + expected), r.err());
      r = Cli.run(args(data, "prune", VGG, "-o", out.toString(), "--criterion", "taylor", "--flops", "0.3",
          "--calib-limit", "64", "-q"));
      assertEquals(1, r.exitCode(), r.err());
      assertTrue(r.err().contains("onnx-prune: error: " + expected), r.err());
      assertFalse(Files.exists(out));
    }
  }

  @Test
  void badCombinationsAreUsageErrors() {
    String out = tmp.resolve("x.onnx").toString();
    assertUsage("--resume needs --checkpoint-dir", args(DATA, "finetune", VGG, "-o", out, "--epochs", "1",
        "--resume"));
    assertUsage("--schedule must be constant, step, cosine or rewind: 'linear'", args(DATA, "finetune", VGG, "-o", out,
        "--epochs", "1", "--schedule", "linear"));
    assertUsage("--original is the unpruned model of --scratch; give --scratch too", args(DATA, "finetune", VGG, "-o",
        out, "--epochs", "1", "--original", VGG));
    assertUsage("--original-epochs must be given and at least --epochs (2) with the rewind schedule", args(DATA, "finetune",
        VGG, "-o", out, "--epochs", "2", "--schedule", "rewind"));
    assertUsage("finetune needs data: give --images (and --labels)", "finetune", VGG, "-o", out,
        "--epochs", "1");
    assertUsage("--epochs must be >= 1: 0", args(DATA, "finetune", VGG, "-o", out, "--epochs", "0"));
    assertUsage("missing required option: '--epochs=N'", args(DATA, "finetune", VGG, "-o", out));
    // the data format options are every data-reading command's, not eval's only
    assertUsage("--channels must be 1 or 3: 2", args(DATA, "finetune", VGG, "-o", out, "--epochs", "1",
        "--channels", "2"));
    assertUsage("--npz-keys needs two names, samples and labels, e.g. x,y: x", args(DATA, "prune", VGG, "-o", out,
        "--flops", "0.5", "--epochs", "1", "--npz-keys", "x"));
  }

  @Test
  void pruneRecalibratesAndFineTunesBeforeWriting() throws Exception {
    Path out = tmp.resolve("p.onnx");
    Cli.Result r = Cli.run(args(DATA, "prune", RESNET, "-o", out.toString(), "--criterion", "l1", "--flops", "0.5",
        "--round", "1", "--recalibrate-bn", "--bn-samples", "512", "--finetune-epochs", "1", "--calib-limit", "256", "--no-augment",
        "--val-images", TEST, "--val-labels", TEST_LABELS));
    assertEquals(0, r.exitCode(), r.err());
    double pruned = top1(r.out(), "pruned");
    double recalibrated = top1(r.out(), "recalibrated");
    double tuned = top1(r.out(), "fine-tuned");
    // pruning shifts every BatchNorm's input statistics; re-estimating them recovers much of the loss
    assertTrue(recalibrated > pruned + 0.05, r.out());
    assertTrue(tuned > 0.5, r.out());
    assertTrue(r.out().contains("\nwrote " + out), r.out());
    assertTrue(Files.isRegularFile(out));

    Cli.Result bad = Cli.run("prune", RESNET, "-o", out.toString(), "--criterion", "l1", "--flops", "0.5",
        "--finetune-epochs", "1");
    assertEquals(2, bad.exitCode());
    assertEquals(Cli.usageError("prune", "--images/--labels is required by --epochs"), bad.err());
  }

  @Test
  void pruneInStepsWithFineTuningBetween() throws Exception {
    Path out = tmp.resolve("steps.onnx");
    Cli.Result r = Cli.run(args(DATA, "prune", RESNET, "-o", out.toString(), "--criterion", "l1", "--flops", "0.5",
        "--round", "1", "--steps", "2", "--step-schedule", "agp", "--epochs", "1", "--limit", "128", "--batch", "32", "--val-images",
        TEST, "--val-labels", TEST_LABELS));
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\n  original .*\n  pruned 1/2 .*\n  fine-tuned 1/2 .*\n  pruned .*\n"
        + "  fine-tuned .*"), r.out());
    assertTrue(r.err().contains("1 epoch(s) (step 1/2)"), r.err());

    Cli.Result ratio = Cli.run(args(DATA, "prune", RESNET, "-o", out.toString(), "--ratio", "0.5", "--steps", "2"));
    assertEquals(2, ratio.exitCode());
    assertTrue(ratio.err().startsWith("onnx-prune: error: --steps needs a FLOPs or parameter target"), ratio.err());
    Cli.Result schedule = Cli.run(args(DATA, "prune", RESNET, "-o", out.toString(), "--flops", "0.5", "--steps", "2",
        "--step-schedule", "cubic"));
    assertEquals(Cli.usageError("prune", "--step-schedule must be linear or agp: 'cubic'"), schedule.err());
  }

  @Test
  void pruneWithTheLeastSquaresRefitNeedsNoLabels() throws Exception {
    Path out = tmp.resolve("refit.onnx");
    Cli.Result r = Cli.run("prune", RESNET, "-o", out.toString(), "--criterion", "l1", "--flops", "0.5", "--round",
        "1", "--refit", "--refit-samples", "128", "--images", TRAIN, "--mean", "0.2860", "--std", "0.3530", "--device",
        "cpu", "--val-images", TEST, "--val-labels", TEST_LABELS);
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().matches("(?s).*\\nrefitting +\\d+\\.\\d\\d s  21 of 21 layers refit on 128 samples; mean relative"
        + " output error 0\\.\\d{4} -> 0\\.\\d{4}\\n.*"), r.err());
    assertTrue(top1(r.out(), "refitted") > top1(r.out(), "pruned") + 0.2, r.out());
    assertTrue(Files.exists(out));

    Cli.Result alone = Cli.run("finetune", RESNET, "-o", tmp.resolve("f.onnx").toString(), "--refit", "--images",
        TRAIN, "--epochs", "1");
    assertEquals(2, alone.exitCode());
    assertTrue(alone.err().startsWith("onnx-prune: error: --refit needs a target"), alone.err());
  }

  @Test
  void rewindWeightsKeepsTheMaskAndNeedsTheSameArchitecture() throws Exception {
    // lottery ticket on a mask: the masked model rewound to a stand-in checkpoint (the original), zeros kept
    Path sparse = tmp.resolve("sparse.onnx");
    assertEquals(0, Cli.run("mask", RESNET, "-o", sparse.toString(), "--sparsity", "0.5").exitCode());
    Cli.Result lt = Cli.run(args(DATA, "finetune", sparse.toString(), "-o", tmp.resolve("lt.onnx").toString(),
        "--epochs", "1", "--limit", "64", "--batch", "32", "--rewind-weights", RESNET, "--val-images", TEST,
        "--val-labels", TEST_LABELS));
    assertEquals(0, lt.exitCode(), lt.err());
    assertTrue(lt.out().matches("(?s).*\n  rewound .* 50\\.00%\n  fine-tuned .* 50\\.00%\n.*"), lt.out());
    Cli.Result wrong = Cli.run(args(DATA, "prune", RESNET, "-o", tmp.resolve("w.onnx").toString(), "--flops", "0.5",
        "--epochs", "1", "--limit", "64", "--rewind-weights", VGG));
    assertEquals(2, wrong.exitCode(), wrong.err());
    assertTrue(wrong.err().contains("\nonnx-prune: error: --rewind-weights must be the same architecture as the model: its"
        + " initializer "), wrong.err());
  }

  @Test
  void maskThenFinetuneKeepsExactlyTheZeros() throws Exception {
    Path sparse = tmp.resolve("sparse.onnx");
    Cli.Result m = Cli.run("mask", RESNET, "-o", sparse.toString(), "--sparsity", "0.8");
    assertEquals(0, m.exitCode(), m.err());
    Path out = tmp.resolve("tuned.onnx");
    Cli.Result r = Cli.run(args(DATA, "finetune", sparse.toString(), "-o", out.toString(), "--epochs", "1", "--limit",
        "128", "--batch", "32", "--val-images", TEST, "--val-labels", TEST_LABELS));
    assertEquals(0, r.exitCode(), r.err());
    dev.onnxprune.surgery.WeightSparsity before = dev.onnxprune.surgery.WeightSparsity.of(OnnxModels.read(sparse));
    dev.onnxprune.surgery.WeightSparsity after = dev.onnxprune.surgery.WeightSparsity.of(OnnxModels.read(out));
    assertEquals(before, after);
    assertTrue(r.err().contains("zero weights kept"), r.err());
    assertTrue(r.out().matches("(?s).*latency +zero weights\\n  original .* 80\\.00%\\n  fine-tuned .* 80\\.00%\\n.*"),
        r.out());

    Cli.Result off = Cli.run(args(DATA, "finetune", sparse.toString(), "-o", tmp.resolve("free.onnx").toString(),
        "--epochs", "1", "--limit", "64", "--batch", "32", "--keep-sparsity", "off", "-q"));
    assertEquals(0, off.exitCode(), off.err());
    assertTrue(dev.onnxprune.surgery.WeightSparsity.of(OnnxModels.read(tmp.resolve("free.onnx"))).fraction() < 0.1);
  }

  @Test
  void distillsFromTheUnprunedModelWithLabelsOrWithout() throws Exception {
    Path out = tmp.resolve("kl.onnx");
    Cli.Result r = Cli.run(args(DATA, "prune", RESNET, "-o", out.toString(), "--criterion", "l1", "--flops", "0.5",
        "--round", "1", "--epochs", "1", "--limit", "256", "--batch", "32", "--distill", "kl", "--temperature", "2", "--val-images",
        TEST, "--val-labels", TEST_LABELS));
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().contains("1 epoch(s); distilled (KL, T 2.0, weight 0.5) from the unpruned model"), r.err());
    assertTrue(top1(r.out(), "fine-tuned") > top1(r.out(), "pruned") + 0.1, r.out());

    // a model pruned elsewhere, recovered on images without labels: the teacher is the unpruned model
    Path pruned = tmp.resolve("pruned.onnx");
    Cli.Result p = Cli.run("prune", RESNET, "-o", pruned.toString(), "--criterion", "l1", "--flops", "0.5", "--round",
        "1", "-q");
    assertEquals(0, p.exitCode(), p.err());
    String[] unlabelled = {"--images", TRAIN, "--mean", "0.2860", "--std", "0.3530", "--device", "cpu", "--threads",
        "2"};
    Path tuned = tmp.resolve("tuned.onnx");
    Cli.Result u = Cli.run(args(unlabelled, "finetune", pruned.toString(), "-o", tuned.toString(), "--epochs", "1",
        "--limit", "256", "--batch", "32", "--teacher", RESNET, "--val-images", TEST, "--val-labels", TEST_LABELS));
    assertEquals(0, u.exitCode(), u.err());
    assertTrue(u.err().contains("the training data has no labels; distilling from the unpruned model instead"
        + " (distilled (KL, T 4.0, weight 1.0))"), u.err());
    assertTrue(top1(u.out(), "fine-tuned") > top1(u.out(), "original") + 0.1, "no label seen:\n" + u.out());

    String o = tmp.resolve("x.onnx").toString();
    assertUsage("--teacher is required to distil when nothing is pruned (by --distill, or training data without"
        + " labels): the unpruned model", args(unlabelled, "finetune", pruned.toString(), "-o", o, "--epochs", "1"));
    assertUsage("--distill must be kl, mse or none: 'soft'", args(DATA, "finetune", VGG, "-o", o, "--epochs", "1",
        "--distill", "soft"));
  }

  static String[] append(String[] first, String... more) {
    List<String> a = new ArrayList<>(Arrays.asList(first));
    a.addAll(Arrays.asList(more));
    return a.toArray(new String[0]);
  }

  /** The val top-1 of a stage in the printed stage table. */
  static double top1(String out, String stage) {
    Matcher m = Pattern.compile("(?m)^  " + Pattern.quote(stage) + " +(\\d+\\.\\d\\d)% ").matcher(out);
    assertTrue(m.find(), stage + " in\n" + out);
    return Double.parseDouble(m.group(1)) / 100;
  }

  private static void assertUsage(String message, String... args) {
    Cli.Result r = Cli.run(args);
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(Cli.usageError(Arrays.asList(args).contains("prune") ? "prune" : "finetune", message), r.err());
  }
}
