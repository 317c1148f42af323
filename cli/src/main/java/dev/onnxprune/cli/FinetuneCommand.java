package dev.onnxprune.cli;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.training.Scratch;
import dev.onnxprune.training.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
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
    customSynopsis = "onnx-prune finetune MODEL -o OUT --images PATH [--labels PATH] --epochs N [OPTIONS]",
    parameterListHeading = "%nInput and output:%n",
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
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nReport (report.json of --report DIR, --report FILE.json, or --json):%n",
    footer = PruneCommand.REPORT_FIELDS)
public final class FinetuneCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx classifier to train (opset 13 or newer).")
  Path model;

  @Mixin
  ModelOutputOptions output;

  @Mixin
  ReportOptions report;

  @Mixin
  QuietOption quiet;

  @Mixin
  ProgressOption progress;

  @Mixin
  CommonOptions common;

  @ArgGroup(validate = false, heading = "%nTraining data:%n", order = 1)
  TrainingDataOptions data = new TrainingDataOptions();

  @ArgGroup(validate = false, heading = "%nEvaluation:%n", order = 2)
  EvaluationOptions evaluation = new EvaluationOptions();

  @ArgGroup(validate = false, heading = "%nFine-tuning:%n", order = 3)
  RecoveryOptions recovery = new RecoveryOptions();

  @Option(names = "--teacher", paramLabel = "MODEL",
      description = "The unpruned model: the teacher of --distill (needed to distil, and without --labels), and the"
          + " reference of the output error of a model that is not a classifier.")
  Path teacher;

  @ArgGroup(validate = false, heading = "%nScratch baseline (Liu et al.):%n", order = 4)
  ScratchOptions scratch = new ScratchOptions();

  /** --scratch and --original; an option section. */
  static final class ScratchOptions {
    @Option(names = "--scratch",
        description = "Re-initialise MODEL (He-normal weights, zero biases, fresh BatchNorm) and train it from"
            + " scratch.")
    boolean on;

    @Option(names = "--original", paramLabel = "MODEL",
        description = "--scratch: the unpruned model; the epochs become --epochs x its FLOPs / MODEL's (Scratch-B)."
            + " Without it the epochs stay --epochs (Scratch-E).")
    Path original;
  }

  @ArgGroup(validate = false, heading = "%nRuntime:%n", order = 5)
  RuntimeOptions runtime = new RuntimeOptions();

  @Override
  public Integer call() {
    return common.run(() -> {
      if (recovery.epochs == null) {
        throw new UsageFailure("missing required option: '--epochs=N'");
      }
      int epochs = recovery.epochs;
      if (epochs < 1) {
        throw new UsageFailure("--epochs must be >= 1: " + epochs);
      }
      if (scratch.original != null && !scratch.on) {
        throw new UsageFailure("--original is the unpruned model of --scratch; give --scratch too");
      }
      if (scratch.on && recovery.recalibrateBn) {
        throw new UsageFailure("--recalibrate-bn has nothing to recalibrate in a --scratch model; give one of them");
      }
      new OutputPaths().inputModel("model", model).input("original", scratch.original).input("teacher", teacher)
          .input("images", data.data.images).input("labels", data.data.labels).input("valImages", evaluation.images)
          .input("valLabels", evaluation.labels).modelOutput("output", output.file)
          .outputs("report", report.report, report.files()).output("checkpointDir", recovery.checkpointFile()).check();
      recovery.recovery(epochs); // checks the values before the data is read
      Dataset train = data.open("finetune");
      Dataset val = evaluation.open(data.data);
      Model m = OnnxModels.read(model);
      int n = epochs;
      if (scratch.on) {
        n = scratchEpochs(m, epochs);
        m = Scratch.reinitialize(m, data.seed);
      }
      try (PipelineLog log = new PipelineLog(common.err(), quiet.on, progress.json())) {
        if (scratchNote != null) {
          if (progress.json()) {
            log.note(null, scratchNote);
          } else {
            common.err().println(scratchNote);
          }
        }
        PruningPipeline.Builder b = PruningPipeline.builder().model(m).inPlace(true).recovery(recovery.recovery(n))
            .trainingData(train).sessions(runtime.sessions()).seed(data.seed).cropFill(data.data.zeroPixel())
            .output(output.file).externalData(output.externalData).report(report.report).listener(log);
        if (val != null) {
          b.evaluation(val);
        }
        if (teacher != null) {
          b.teacher(teacher);
        }
        if (recovery.rewindWeights != null) {
          b.rewindWeights(recovery.rewindWeights);
        }
        PipelineResult r = b.build().run();
        print(r, log.epochsTrained());
      }
      return ExitCodes.OK;
    });
  }

  /** What {@link #scratchEpochs} chose, for the progress output. */
  private String scratchNote;

  private int scratchEpochs(Model pruned, int epochs) throws Exception {
    if (scratch.original == null) {
      scratchNote = "scratch: " + epochs + " epochs (Scratch-E; give --original for the Scratch-B budget)";
      return epochs;
    }
    double before = Scratch.flops(OnnxModels.read(scratch.original));
    double after = Scratch.flops(pruned);
    int n = Scratch.budgetEpochs(epochs, before, after);
    scratchNote = String.format(Locale.ROOT, "scratch (Scratch-B): %d epochs x %s / %s FLOPs = %d epochs",
        epochs, Units.count(Math.round(before)), Units.count(Math.round(after)), n);
    return n;
  }

  private void print(PipelineResult r, int trained) throws Exception {
    var out = common.out();
    if (report.json) {
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
    out.println("wrote " + output.file + " (" + Units.bytes(ModelFiles.bytesOnDisk(output.file)) + ")"
        + String.format(Locale.ROOT, "; trained %d epochs in %.1f s", trained, seconds)
        + report.wrote());
  }
}
