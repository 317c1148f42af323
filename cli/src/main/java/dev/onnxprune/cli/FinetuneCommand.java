package dev.onnxprune.cli;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.report.Reports;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.training.Scratch;
import dev.onnxprune.training.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune finetune MODEL --images X --labels Y --epochs N -o OUT}: trains MODEL (a
 * pruned one, typically) through its training artifact in ONNX Runtime, with optional BatchNorm
 * recalibration first, or from a fresh initialization ({@code --scratch}, the baseline of Liu et
 * al.; {@link Scratch}). The recovery is the library's {@link PruningPipeline} without a prune;
 * this class adapts options and prints.
 */
@Command(name = "finetune",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
        "Fine-tunes a classifier (a pruned model, typically) on labelled data and writes the trained model: the"
            + " training step is MODEL's exported training artifact (forward with batch statistics, cross-entropy,"
            + " gradients, optimizer update) run by ONNX Runtime, the parameters staying in ONNX Runtime between"
            + " steps.",
        "Per epoch: shuffled batches (--seed), random crop and flip (--augment), one step each at the schedule's"
            + " learning rate, then the validation data (--val-images) and a checkpoint (--checkpoint-dir).",
        "--recalibrate-bn re-estimates BatchNorm statistics first (cheap; recovers much of what pruning lost)."
            + " --scratch re-initialises MODEL and trains it from scratch; with --original the epochs are scaled"
            + " by the FLOPs reduction (Scratch-B of Liu et al., Rethinking the Value of Network Pruning).",
        "Data formats as for eval. Progress on stderr; the summary on stdout."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class FinetuneCommand implements Callable<Integer> {
  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx classifier to train (opset 13 or newer).")
  Path model;

  @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "The .onnx file to write.")
  Path output;

  @Option(names = {"--epochs", "--finetune-epochs"}, required = true, paramLabel = "N",
      description = "Passes over the training data (with --scratch and --original: before the Scratch-B scaling).")
  int epochs;

  @Mixin
  DataOptions data;

  @Option(names = "--val-images", paramLabel = "PATH",
      description = "Validation samples, evaluated (loss, top-1) before training and after every epoch.")
  Path valImages;

  @Option(names = "--val-labels", paramLabel = "PATH", description = "Validation labels.")
  Path valLabels;

  @Option(names = "--limit", paramLabel = "N", defaultValue = "0",
      description = "Train on N samples drawn by --seed (default ${DEFAULT-VALUE}: all).")
  int limit;

  @Mixin
  RecoveryOptions recovery;

  @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
      description = "Seed of the shuffling, the augmentation, --limit and --scratch (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--scratch",
      description = "Re-initialise MODEL (He-normal weights, zero biases, fresh BatchNorm) and train it from scratch.")
  boolean scratch;

  @Option(names = "--original", paramLabel = "MODEL",
      description = "--scratch: the unpruned model; the epochs become --epochs x its FLOPs / MODEL's (Scratch-B)."
          + " Without it the epochs stay --epochs (Scratch-E).")
  Path original;

  @Option(names = "--report", paramLabel = "DIR|FILE.json",
      description = "Write the stages and epochs: into folder DIR as report.json and report.html, or as FILE.json"
          + " alone (a path ending in .json, or an existing file); format " + PipelineResult.FORMAT + ".")
  Path report;

  @Option(names = "--json", description = "Print the report on stdout instead of the tables.")
  boolean json;

  @Mixin
  RuntimeOptions runtime;

  @Option(names = {"-q", "--quiet"}, description = "No progress bar (there is none when stderr is not a terminal).")
  boolean quiet;

  @Override
  public Integer call() {
    return common.run(() -> {
      if (epochs < 1) {
        throw new UsageFailure("--epochs must be >= 1: " + epochs);
      }
      if (original != null && !scratch) {
        throw new UsageFailure("--original is the unpruned model of --scratch; give --scratch too");
      }
      if (scratch && recovery.recalibrateBn) {
        throw new UsageFailure("--recalibrate-bn has nothing to recalibrate in a --scratch model; give one of them");
      }
      new OutputPaths().inputModel("model", model).input("original", original).input("images", data.images)
          .input("labels", data.labels).input("valImages", valImages).input("valLabels", valLabels)
          .modelOutput("output", output).outputs("report", Reports.files(report))
          .output("checkpointDir", recovery.checkpointFile()).check();
      recovery.recovery(epochs); // checks the values before the data is read
      Dataset train = data.open("finetune", seed, limit);
      Dataset val = data.validation(valImages, valLabels);
      Model m = OnnxModels.read(model);
      int n = epochs;
      if (scratch) {
        n = scratchEpochs(m);
        m = Scratch.reinitialize(m, seed);
      }
      try (PipelineLog log = new PipelineLog(common.err(), quiet)) {
        PruningPipeline.Builder b = PruningPipeline.builder().model(m).inPlace(true).recovery(recovery.recovery(n))
            .trainingData(train).sessions(runtime.sessions()).seed(seed).cropFill(data.zeroPixel()).output(output)
            .report(report).listener(log);
        if (val != null) {
          b.evaluation(val);
        }
        PipelineResult r = b.build().run();
        print(r, log.epochsTrained());
      }
      return ExitCodes.OK;
    });
  }

  private int scratchEpochs(Model pruned) throws Exception {
    if (original == null) {
      common.err().println("scratch: " + epochs + " epochs (Scratch-E; give --original for the Scratch-B budget)");
      return epochs;
    }
    double before = Scratch.flops(OnnxModels.read(original));
    double after = Scratch.flops(pruned);
    int n = Scratch.budgetEpochs(epochs, before, after);
    common.err().println(String.format(Locale.ROOT, "scratch (Scratch-B): %d epochs x %s / %s FLOPs = %d epochs",
        epochs, Units.count(Math.round(before)), Units.count(Math.round(after)), n));
    return n;
  }

  private void print(PipelineResult r, int trained) throws Exception {
    var out = common.out();
    if (json) {
      out.println(r.toJson());
      return;
    }
    if (!r.fineTuning().isEmpty()) {
      TextTable table = new TextTable("", TextTable.Align.RIGHT, TextTable.Align.RIGHT, TextTable.Align.RIGHT,
          TextTable.Align.RIGHT, TextTable.Align.RIGHT, TextTable.Align.RIGHT, TextTable.Align.RIGHT);
      table.row("epoch", "lr", "train loss", "train acc", "val loss", "val top-1", "seconds");
      for (Trainer.EpochStats s : r.fineTuning()) {
        boolean val = !Double.isNaN(s.valAccuracy());
        table.row(Integer.toString(s.epoch()), String.format(Locale.ROOT, "%.3g", s.lr()),
            String.format(Locale.ROOT, "%.4f", s.trainLoss()),
            String.format(Locale.ROOT, "%.2f%%", 100 * s.trainAccuracy()),
            val ? String.format(Locale.ROOT, "%.4f", s.valLoss()) : "-",
            val ? String.format(Locale.ROOT, "%.2f%%", 100 * s.valAccuracy()) : "-",
            String.format(Locale.ROOT, "%.1f", s.seconds()));
      }
      table.print(out);
    }
    StagesText.print(r, out);
    out.println();
    double seconds = r.phaseSeconds().getOrDefault(PruningPipeline.Phase.FINE_TUNING.label(), 0.0);
    out.println("wrote " + output + " (" + Units.bytes(ModelFiles.bytesOnDisk(output)) + ")"
        + String.format(Locale.ROOT, "; trained %d epochs in %.1f s", trained, seconds)
        + (report != null ? "; report " + Reports.main(report) : ""));
  }
}
