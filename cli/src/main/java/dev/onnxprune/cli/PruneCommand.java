package dev.onnxprune.cli;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.errors.NothingPrunableException;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.report.Reports;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Target;
import dev.onnxprune.prune.VerificationFailedException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.runtime.Dataset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune prune MODEL -o OUT --criterion C (--ratio R | --flops F | --params P | --latency L) ...}:
 * structured channel pruning through the library's {@link PruningPipeline}; this class only adapts
 * options and prints. OUT is written last, and only when {@code --verify} (if given) passed.
 */
@Command(name = "prune",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
        "Removes whole channels (filters) from a model: channel groups that must go together are found by"
            + " dependency analysis, scored by a criterion, and the lowest-scored channels are removed until the"
            + " target is met.",
        "Prints progress lines on stderr (reading, analysing, scoring, allocating, applying, verifying, writing,"
            + " with their times) and a before/after summary on stdout. With --verify, OUT is written only when the"
            + " pruned model computes what MODEL computes with the removed channels zeroed; otherwise the command"
            + " fails (exit 1) and writes no model."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE,
        "1:Failed: the target cannot be reached, verification failed (OUT not written), or reading/writing failed.",
        "2:Usage error: no target or more than one, a data-driven criterion without --images, or a bad option value"
            + " (one line naming the option)."},
    footerHeading = "%nReport (--report DIR: report.json and report.html; --report FILE.json: the JSON alone):%n",
    footer = {
        "  criterion, target  as given; allocation: uniform or global",
        "  achieved           fraction of the target's measure removed",
        "  before, after      {params, macs, flops, nodes, unknownShapeNodes} (macs and flops leave out the",
        "                      unknownShapeNodes nodes whose cost is unknown: lower bounds when not 0)",
        "  groups[]           {id, producers[], members[] (\"node (Op, role)\"),",
        "                      channels, kept, removed[], prunable, reasons[],",
        "                      scores {min, mean, max, removedMean} (null: not scored)}",
        "  verify             {maxAbsDiff, maxRelDiff, batches, passed} (null: no --verify)",
        "  trajectory[]       --method only, one point per step of the method: {step, event, seconds,",
        "                      flops, flopsKept, widths {group id: channels kept}, loss, accuracy}",
        "  shortOfTarget      null; with --keep-partial, why the method stopped before the target",
        "The report is written also when verification fails, to show what was removed."})
public final class PruneCommand implements Callable<Integer> {
  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to prune.")
  Path model;

  @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "The .onnx file to write.")
  Path output;

  @Option(names = "--criterion", paramLabel = "NAME",
      description = "How channels are scored: l1 or l2 (filter norm), bn (BatchNormalization |gamma|), fpgm"
          + " (geometric median), random; or, on calibration data (--images), apoz (average percentage of zeros),"
          + " mean (mean activation), oracle (loss increase when ablated), aofp (AOFP isolated damage and binary"
          + " filter search), taylor (first-order Taylor estimate of the loss change, |activation x gradient|)."
          + " Default: l1 unless --method is given.")
  String criterion;

  @Mixin
  DataOptions data;

  @Option(names = "--val-images", paramLabel = "PATH",
      description = "Evaluation samples: top-1, top-5 and loss of the model before pruning and after every stage.")
  Path valImages;

  @Option(names = "--val-labels", paramLabel = "PATH", description = "Their labels.")
  Path valLabels;

  @Option(names = "--limit", paramLabel = "N", defaultValue = "0",
      description = "Train (--method, --recalibrate-bn, --epochs) on N samples of --images drawn by --seed (default"
          + " ${DEFAULT-VALUE}: all).")
  int limit;

  @Mixin
  CalibrationOptions calibration;

  @Mixin
  MethodOptions methods;

  @ArgGroup(exclusive = true, multiplicity = "1", heading = "Target (exactly one):%n")
  TargetOption target;

  /** The four ways to say how much to remove; picocli allows exactly one. */
  static final class TargetOption {
    @Option(names = "--ratio", required = true, paramLabel = "R",
        description = "Remove this fraction (0..1) of the channels of each prunable group (of all, with --global).")
    Double ratio;

    @Option(names = "--flops", required = true, paramLabel = "F",
        description = "Remove at least this fraction (0..1) of the model's FLOPs.")
    Double flops;

    @Option(names = "--params", required = true, paramLabel = "P",
        description = "Remove at least this fraction (0..1) of the model's parameters.")
    Double params;

    @Option(names = "--latency", required = true, paramLabel = "L",
        description = "Remove at least this fraction (0..1) of the model's latency on --device, as predicted by"
            + " per-channel costs measured first (each group timed at a few widths, least-squares fit).")
    Double latency;

    /** The target given; the library checks the fraction. */
    Target target() {
      return ratio != null ? Target.ratio(ratio) : flops != null ? Target.flops(flops) : params != null
          ? Target.params(params) : Target.latency(latency);
    }
  }

  @Option(names = "--latency-batch", paramLabel = "N", defaultValue = "32",
      description = "Batch size at which --latency is measured (default ${DEFAULT-VALUE}).")
  int latencyBatch;

  @Option(names = "--measure-latency", paramLabel = "N", defaultValue = "0",
      description = "Measure the latency of MODEL and OUT at batch N in ONNX Runtime on --device and warn when OUT"
          + " is not faster (default ${DEFAULT-VALUE}: do not).")
  int measureLatency;

  @Option(names = "--global",
      description = "Rank channels across groups (scores normalised per group and by cost) instead of removing the"
          + " same fraction from every group.")
  boolean global;

  @Option(names = "--round", paramLabel = "N", defaultValue = "1",
      description = "Round kept channel counts up to a multiple of N, such as 8 (default ${DEFAULT-VALUE}: no rounding).")
  int roundTo;

  @Option(names = "--min-channels", paramLabel = "N", defaultValue = "1",
      description = "Channels every group keeps at least (default ${DEFAULT-VALUE}).")
  int minChannels;

  @Option(names = "--max-group-ratio", paramLabel = "R", defaultValue = "1",
      description = "The largest fraction of its channels any one group may lose (default ${DEFAULT-VALUE}: only"
          + " --min-channels limits it). With --global a FLOPs or parameter target removes the channels that cost"
          + " most first, so a cap such as 0.8 keeps an expensive group from collapsing.")
  double maxGroupRatio;

  @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
      description = "Seed of the random criterion, of aofp's random ablations, and of the shuffling and augmentation"
          + " of training (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--verify",
      description = "Run the pruned model against MODEL with the removed channels masked, in ONNX Runtime on random"
          + " inputs; write OUT only when they agree.")
  boolean verify;

  @Option(names = "--keep-partial",
      description = "When --method (or --criterion aofp --aofp-plan) stops short of the target (its step budget or thresholds),"
          + " write the model pruned as far as it got instead of failing; a warning and the report's shortOfTarget"
          + " say why, achieved how far.")
  boolean keepPartial;

  @Option(names = "--report", paramLabel = "DIR|FILE.json",
      description = "Write what was done: into folder DIR (created when missing) as report.json and report.html (a"
          + " page with charts that opens from disk), or as FILE.json alone (any path ending in .json, or an existing"
          + " file). The JSON holds stages with their accuracy and costs, phases, warnings, and the prune per group"
          + " (format " + PipelineResult.FORMAT + ").")
  Path report;

  @Option(names = "--json", description = "Print the report (as --report writes it) on stdout instead of the tables.")
  boolean json;

  /** Where data-driven criteria, --latency, --verify and training run. */
  @Mixin
  RuntimeOptions runtime;

  @Option(names = "--external-data",
      description = "Write every tensor of 1 KiB or more to OUT.data beside OUT.")
  boolean externalData;

  @Option(names = {"--epochs", "--finetune-epochs"}, paramLabel = "N", defaultValue = "0",
      description = "Fine-tune the pruned model for N epochs on --images/--labels before writing it (default"
          + " ${DEFAULT-VALUE}: none); the hyper-parameters are finetune's options.")
  int epochs;

  @Mixin
  RecoveryOptions recovery;

  @Option(names = {"-q", "--quiet"}, description = "No progress bar (there is none when stderr is not a terminal).")
  boolean quiet;

  @Override
  public Integer call() {
    return common.run(() -> {
      new OutputPaths().inputModel("model", model).input("images", data.images).input("labels", data.labels)
          .input("valImages", valImages).input("valLabels", valLabels).modelOutput("output", output)
          .outputs("report", Reports.files(report)).output("checkpointDir", recovery.checkpointFile()).check();
      try (PipelineLog log = new PipelineLog(common.err(), quiet)) {
        PruningPipeline pipeline = configure(log);
        PipelineResult r;
        try {
          r = pipeline.run();
        } catch (TargetUnreachableException | NothingPrunableException e) {
          throw new CommandFailure(Messages.cannotPrune(OptionNames.render(e.getMessage())));
        } catch (VerificationFailedException e) {
          PruneText.print(e.result().report(), target.target(), Files.size(model), null, common.verbose(),
              common.out());
          throw new CommandFailure(Messages.verificationFailed(e.result().report().verify().maxRelDiff(),
              dev.onnxprune.prune.Equivalence.TOLERANCE, output));
        }
        if (json) {
          common.out().println(r.toJson());
          return ExitCodes.OK;
        }
        long before = Files.size(model) + ModelFiles.externalDataBytes(OnnxModels.read(model), model);
        PruneText.print(r.report(), target.target(), before, ModelFiles.bytesOnDisk(output), common.verbose(),
            common.out());
        StagesText.print(r, common.out());
        common.out().println();
        common.out().println("wrote " + output + (report != null ? "; report " + Reports.main(report) : ""));
        return ExitCodes.OK;
      }
    });
  }

  /** The pipeline the options describe; the library checks every value, naming it by key. */
  private PruningPipeline configure(PipelineLog log) throws Exception {
    if (epochs < 0) {
      throw new UsageFailure("--epochs must be >= 0: " + epochs);
    }
    boolean byMethod = methods.method != null;
    boolean trains = byMethod || recovery.asked(epochs);
    boolean scoresOnData = !byMethod && criterion != null && DataCriteria.isDataDriven(criterion);
    PruningPipeline.Builder b = PruningPipeline.builder().model(model).target(target.target()).global(global)
        .minChannels(minChannels).maxGroupRatio(maxGroupRatio).roundTo(roundTo).verify(verify)
        .keepPartial(keepPartial).sessions(runtime.sessions()).seed(seed).latencyTimingBatch(latencyBatch)
        .measureLatency(measureLatency).output(output).externalData(externalData).report(report)
        .recovery(recovery.recovery(epochs)).cropFill(data.zeroPixel()).listener(log);
    if (byMethod) {
      log.method(methods.method);
      b.method(methods.method, methods.parameters(calibration.theta, calibration.phi));
    } else if (methods.parameters(null, null).any()) {
      throw new UsageFailure(OptionNames.flag(methods.parameters(null, null).firstMethodOnly())
          + " applies to --method only");
    }
    if (criterion != null) {
      b.criterion(criterion).criterionOptions(calibration.options(seed)); // with --method too: the library refuses both
    }
    // without --images the library says which option needs data
    if (scoresOnData && data.given()) {
      Dataset calib = calibration.read(data, criterion);
      log.detail("calibrating", calib.size() + " samples of " + data.images.getFileName());
      b.calibration(calib);
    }
    if (trains && data.given()) {
      Dataset train = data.open("training", seed, limit);
      log.detail("reading data", train.size() + " training samples");
      b.trainingData(train);
    }
    Dataset val = data.validation(valImages, valLabels);
    if (val != null) {
      b.evaluation(val);
    }
    return b.build();
  }
}
