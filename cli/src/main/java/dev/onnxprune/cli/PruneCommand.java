package dev.onnxprune.cli;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.errors.NothingPrunableException;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.methods.MethodParameters;
import dev.onnxprune.methods.Methods;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruneSchedule;
import dev.onnxprune.prune.BlockPruner;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.surgery.ResidualBlocks;
import dev.onnxprune.prune.Rounding;
import dev.onnxprune.prune.SpeedCheck;
import dev.onnxprune.prune.Target;
import dev.onnxprune.prune.VerificationFailedException;
import dev.onnxprune.graph.Model;
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
 * {@code onnx-prune prune MODEL -o OUT --criterion C (--ratio R | --flops F | --params P | --latency L | --blocks N
 * | --block-flops F) ...}:
 * structured channel pruning through the library's {@link PruningPipeline}; this class only adapts
 * options and prints. OUT is written last, and only when {@code --verify} (if given) passed.
 */
@Command(name = "prune",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    customSynopsis = {"onnx-prune prune MODEL -o OUT (--ratio R | --flops F | --params P | --latency L |",
        "       --blocks N | --block-flops F) [OPTIONS]"},
    parameterListHeading = "%nInput and output:%n",
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
        "2:Usage error: no target or more than one, a data-driven criterion without --images, or a bad option"
            + " value; one line says which, one where to read more."},
    footerHeading = "%nReport (report.json of --report DIR, --report FILE.json, or --json):%n",
    footer = {PruneCommand.REPORT_FIELDS,
        "The report is written also when verification fails, to show what was removed."})
public final class PruneCommand implements Callable<Integer> {
  /** The fields of the report ({@link PipelineResult}'s JSON), as prune's and finetune's help list them. */
  static final String REPORT_FIELDS = ""
      + "  format          \"" + PipelineResult.FORMAT + "\"%n"
      + "  input, criterion, target, output, warnings[]%n"
      + "  stages[]        {name (original, pruned, recalibrated, fine-tuned), params, flops,%n"
      + "                  accuracy {samples, top1, top5, loss} (null: no --val-images),%n"
      + "                  latencySeconds (null: not measured)}%n"
      + "  phaseSeconds    {phase: seconds}%n"
      + "  prune           the prune step (null in finetune):%n"
      + "    criterion, target, allocation, achieved (fraction of the target's measure removed)%n"
      + "    before, after {params, macs, flops, nodes, unknownShapeNodes} (macs and flops leave out the%n"
      + "                  unknownShapeNodes nodes whose cost is unknown: lower bounds when not 0)%n"
      + "    groups[]      {id, producers[], members[] (\"node (Op, role)\"), channels, kept, removed[],%n"
      + "                  scores {min, mean, max, removedMean, q1, median, q3, removedMax} (null: not%n"
      + "                  scored), prunable, reasons[],%n"
      + "                  kind: channels, heads or hidden (a transformer's hidden width); with --blocks%n"
      + "                  or --block-flops: block, one per residual block (channels 1, kept 0 when%n"
      + "                  removed, producers[] its Add, members[] its branch's nodes); achieved is then%n"
      + "                  the fraction of FLOPs removed, allocation \"blocks\"}%n"
      + "    verify        {maxAbsDiff, maxRelDiff, batches, passed} (null: no --verify)%n"
      + "    trajectory[]  --method only, per step: {step, event, seconds, flops, flopsKept,%n"
      + "                  widths {group id: channels kept}, loss, accuracy}%n"
      + "    shortOfTarget null; with --keep-partial, why the method stopped before the target%n"
      + "    widths        {multiple, automatic, reason, keptWhole}: the multiple kept widths were rounded%n"
      + "                  to (--round) and why; keptWhole: groups no wider than one step%n"
      + "    speed         {provider, batch, pairs, originalMs, prunedMs, originalBestMs, prunedBestMs,%n"
      + "                  speedup (median of pairs), bestSpeedup, skipped} (null: not timed; --speed-check)%n"
      + "  fineTuning[]    per epoch: {epoch, epochs, steps, lr, trainLoss, trainAccuracy, trainSamples,%n"
      + "                  valLoss, valAccuracy, valSamples, seconds, evalSeconds}";

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to prune.")
  Path model;

  @Mixin
  SparkOptions spark = new SparkOptions();

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

  @ArgGroup(exclusive = true, multiplicity = "1", heading = "%nTarget (exactly one):%n", order = 1)
  TargetOption target;

  /** The four ways to say how much to remove; picocli allows exactly one. */
  static final class TargetOption {
    @Option(names = "--ratio", required = true, paramLabel = "R",
        description = "Remove this fraction (0..1) of the channels of each prunable group (of all, with --global;"
            + " with rounded widths, at least this fraction of all, each group keeping a multiple).")
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

    @Option(names = "--blocks", required = true, paramLabel = "N",
        description = "Remove N whole residual blocks (depth): each replaced by the identity (a ResNet block, a"
            + " transformer's attention or MLP sub-block), ranked by --criterion block-influence (default; on --images"
            + " when given, else random inputs), l1, oracle or taylor (on --images), or random.")
    Integer blocks;

    @Option(names = "--block-flops", required = true, paramLabel = "F",
        description = "Remove the fewest whole residual blocks (lowest-ranked first, as --blocks ranks them) that"
            + " remove at least this fraction (0..1) of the model's FLOPs.")
    Double blockFlops;

    /** The target given; the library checks the fraction. */
    Target target() {
      return ratio != null ? Target.ratio(ratio) : flops != null ? Target.flops(flops) : params != null
          ? Target.params(params) : latency != null ? Target.latency(latency) : null;
    }
  }

  @ArgGroup(validate = false, heading = "%nAllocation (how the target is spread over the groups):%n", order = 2)
  Allocation allocation = new Allocation();

  /** How the allocator meets the target; an option section, defaults as field initialisers. */
  static final class Allocation {
    @Option(names = "--allocation", paramLabel = "NAME",
        description = "uniform: the same fraction from every group (default); global: channels ranked across groups"
            + " (scores normalised per group and by cost); sensitivity: per-group fractions from a sensitivity"
            + " analysis on --images (each group pruned alone at 10%%..90%% and evaluated on 500 samples, as the"
            + " sensitivity command does), chosen for the least predicted loss of top-1.")
    String name;

    @Option(names = "--global", description = "Same as --allocation global.")
    boolean global;

    /** The allocation the options name; --global and another --allocation are a usage error. */
    dev.onnxprune.prune.Allocation allocation() throws UsageFailure {
      if (global && name != null && !name.equals("global")) {
        throw new UsageFailure("--global is --allocation global; it cannot go with --allocation " + name);
      }
      return global ? dev.onnxprune.prune.Allocation.global() : name == null
          ? dev.onnxprune.prune.Allocation.uniform()
          : UsageFailure.check(null, () -> dev.onnxprune.prune.Allocation.byName(name));
    }

    @Option(names = "--round", paramLabel = "N|auto",
        description = "Keep channel counts in multiples of N; 1 keeps exact widths. auto (default): the multiple"
            + " --device runs fast (CPU: 16 with AVX-512, 8 with AVX2; CUDA: 8), halved when the target cannot be"
            + " met within 1%% with it. The output says which multiple was used and why.")
    String round = "auto";

    /** {@code --round}: auto, or a whole number the library checks (key roundTo). */
    Rounding rounding() throws UsageFailure {
      if (round.equals("auto")) {
        return Rounding.auto();
      }
      try {
        return Rounding.to(Integer.parseInt(round));
      } catch (NumberFormatException e) {
        throw new UsageFailure("--round must be auto or a whole number >= 1: '" + round + "'");
      }
    }

    @Option(names = "--min-channels", paramLabel = "N",
        description = "Channels every group keeps at least (default ${DEFAULT-VALUE}).")
    int minChannels = 1;

    @Option(names = "--max-group-ratio", paramLabel = "R",
        description = "The largest fraction of its channels any one group may lose (default ${DEFAULT-VALUE}: only"
            + " --min-channels limits it). With --global a FLOPs or parameter target removes the channels that cost"
            + " most first, so a cap such as 0.8 keeps an expensive group from collapsing.")
    double maxGroupRatio = 1;

    @Option(names = "--latency-batch", paramLabel = "N",
        description = "Batch size at which --latency measures the per-channel costs (default ${DEFAULT-VALUE}).")
    int latencyBatch = 32;

    @Option(names = "--steps", paramLabel = "N",
        description = "Prune in N steps to the --flops or --params target (a share of the original's), each followed"
            + " by the recovery (--recalibrate-bn, and --epochs epochs of fine-tuning per step; default"
            + " ${DEFAULT-VALUE}: one shot).")
    int steps = 1;

    @Option(names = "--step-schedule", paramLabel = "S",
        description = "How --steps spread the target: linear (equal parts; default) or agp (Zhu & Gupta's gradual"
            + " schedule, 1 - (1 - i/N)^3 of it after step i).")
    String stepSchedule = "linear";
  }

  @ArgGroup(validate = false, heading = "%nCriterion (how channels are scored):%n", order = 3)
  CriterionSection criterion = new CriterionSection();

  /** --criterion and the settings of the data-driven ones; an option section. */
  static final class CriterionSection {
    @Option(names = "--criterion", paramLabel = "NAME", order = 1,
        description = "l1 or l2 (filter norm), bn (BatchNormalization |gamma|), fpgm (geometric median), random; or,"
            + " on calibration data (--images), apoz (average percentage of zeros), mean (mean activation), oracle"
            + " (loss increase when ablated), aofp (AOFP isolated damage and binary filter search), taylor"
            + " (first-order Taylor estimate of the loss change, |activation x gradient|), thinet (ThiNet: greedy"
            + " selection by the next convolution's reconstruction error; no labels), heads (attention head"
            + " importance: mean |gradient| of a mask on each head, normalised per layer), wanda (|weight| x input"
            + " feature norm, summed per channel; no labels). Default: l1 unless"
            + " --method is given.")
    String name;

    @ArgGroup(validate = false)
    CalibrationOptions calibration = new CalibrationOptions();
  }

  @ArgGroup(validate = false, heading = "%nTraining-time method (instead of a criterion; trains on --images):%n",
      order = 4)
  MethodOptions methods = new MethodOptions();

  @ArgGroup(validate = false, heading = "%nData (calibration of data-driven criteria; training of --method and"
      + " recovery):%n", order = 5)
  TrainingDataOptions data = new TrainingDataOptions();

  @ArgGroup(validate = false, heading = "%nEvaluation:%n", order = 6)
  EvaluationOptions evaluation = new EvaluationOptions();

  @ArgGroup(validate = false, heading = "%nRecovery (after pruning, before OUT is written):%n", order = 7)
  RecoveryOptions recovery = new RecoveryOptions();

  @ArgGroup(validate = false, heading = "%nChecks:%n", order = 8)
  Checks checks = new Checks();

  /** What is checked before OUT is written; an option section. */
  static final class Checks {
    @Option(names = "--verify",
        description = "Run the pruned model against MODEL with the removed channels masked, in ONNX Runtime on random"
            + " inputs; write OUT only when they agree.")
    boolean verify;

    @Option(names = "--verify-tolerance", paramLabel = "T",
        description = "--verify passes when the largest difference, relative to each output's largest magnitude, is"
            + " at most T (default ${DEFAULT-VALUE}).")
    double verifyTolerance = dev.onnxprune.prune.Equivalence.TOLERANCE;

    @Option(names = "--keep-partial",
        description = "When --method (or --criterion aofp --aofp-plan) stops short of the target (its step budget or"
            + " thresholds), write the model pruned as far as it got instead of failing; a warning and the report's"
            + " shortOfTarget say why, achieved how far.")
    boolean keepPartial;

    @Option(names = "--measure-latency", paramLabel = "N",
        description = "Measure the latency of MODEL and OUT at batch N in ONNX Runtime on --device and warn when OUT"
            + " is not faster (default ${DEFAULT-VALUE}: do not).")
    int measureLatency = 0;

    @Option(names = "--speed-check", paramLabel = "auto|on|off",
        description = "Time the pruned model against MODEL on --device (alternating pairs, batch 1, or --latency-batch"
            + " with --latency) and warn when it is not faster. auto (default): for models of at most 20 GFLOPs per"
            + " sample with weights under 512 MiB (timing holds both models in ONNX Runtime at once), and for"
            + " --latency.")
    String speedCheck = "auto";

    /** {@code --speed-check}. */
    SpeedCheck.Mode speedCheck() throws UsageFailure {
      return switch (speedCheck) {
        case "auto" -> SpeedCheck.Mode.IF_CHEAP;
        case "on" -> SpeedCheck.Mode.ALWAYS;
        case "off" -> SpeedCheck.Mode.NEVER;
        default -> throw new UsageFailure("--speed-check must be auto, on or off: '" + speedCheck + "'");
      };
    }
  }

  /** Where data-driven criteria, --latency, --verify and training run. */
  @ArgGroup(validate = false, heading = "%nRuntime:%n", order = 9)
  RuntimeOptions runtime = new RuntimeOptions();

  @Override
  public Integer call() {
    return common.run(() -> {
      new OutputPaths().inputModel("model", model).input("images", data.data.images).input("labels", data.data.labels)
          .input("valImages", evaluation.images).input("valLabels", evaluation.labels)
          .modelOutput("output", output.file).outputs("report", report.report, report.files())
          .output("checkpointDir", recovery.checkpointFile()).check();
      if (target.blocks != null || target.blockFlops != null) {
        return pruneBlocks();
      }
      try (PipelineLog log = new PipelineLog(common.err(), quiet.on, progress.json());
          ExecutionBackend backend = spark.backend()) {
        PruningPipeline pipeline = configure(log, backend);
        PipelineResult r;
        try {
          r = pipeline.run();
        } catch (TargetUnreachableException | NothingPrunableException e) {
          throw new CommandFailure(Messages.cannotPrune(OptionNames.render(e.getMessage())));
        } catch (VerificationFailedException e) {
          if (!report.json) { // --json keeps stdout for JSON; the report still says what was removed
            PruneText.print(e.result().report(), target.target(), Files.size(model), null, common.verbose(),
                common.out());
          }
          throw new CommandFailure(Messages.verificationFailed(e.result().report().verify().maxRelDiff(),
              e.result().report().verify().tolerance(), output.file));
        }
        if (report.json) {
          common.out().println(r.toJson());
          return ExitCodes.OK;
        }
        long before = Files.size(model) + ModelFiles.externalDataBytes(OnnxModels.read(model), model);
        PruneText.print(r.report(), target.target(), before, ModelFiles.bytesOnDisk(output.file), common.verbose(),
            common.out());
        StagesText.print(r, common.out());
        common.out().println();
        common.out().println("wrote " + output.file + report.wrote());
        return ExitCodes.OK;
      }
    });
  }

  /**
   * {@code --blocks N} or {@code --block-flops F}: depth pruning through the library's {@link BlockPruner};
   * {@code --json} and {@code --report} write its result as the channel prune's report is written.
   */
  private int pruneBlocks() throws Exception {
    BlockPruner.Builder b = BlockPruner.builder()
        .criterion(BlockPruner.Criterion.byName(criterion.name == null ? "block-influence" : criterion.name))
        .verify(checks.verify).sessions(runtime.sessions()).seed(data.seed);
    if (target.blocks != null) {
      b.blocks(target.blocks);
    } else {
      b.flops(target.blockFlops);
    }
    String flag = target.blocks != null ? "--blocks" : "--block-flops";
    if (data.data.given()) {
      b.data(criterion.calibration.read(data.data, flag), 32, 256);
    }
    Model m = OnnxModels.read(model);
    BlockPruner.Result r;
    try {
      r = b.build().prune(m);
    } catch (TargetUnreachableException | NothingPrunableException e) {
      throw new CommandFailure(Messages.cannotPrune(OptionNames.render(e.getMessage())));
    } catch (VerificationFailedException e) {
      if (report.report != null) {
        dev.onnxprune.report.Reports.write(BlockPruner.pipelineResult(m, e.result().report(), model, null),
            report.report);
      }
      throw new CommandFailure(Messages.verificationFailed(e.result().report().verify().maxRelDiff(),
          e.result().report().verify().tolerance(), output.file));
    }
    ModelFiles.Written w = ModelFiles.write(m, output.file, output.externalData);
    dev.onnxprune.prune.PipelineResult pr = r.pipelineResult(model, w.file());
    if (report.report != null) {
      dev.onnxprune.report.Reports.write(pr, report.report);
    }
    if (report.json) {
      common.out().println(pr.toJson());
      return ExitCodes.OK;
    }
    java.io.PrintWriter out = common.out();
    for (ResidualBlocks.Block blk : r.blocks()) {
      boolean gone = r.removed().contains(blk);
      out.printf(java.util.Locale.ROOT, "block %2d  %-9s %-40s %s%n", blk.id(), blk.kind(), blk.add(),
          !blk.removable() ? "not removable: " + blk.reason()
              : String.format(java.util.Locale.ROOT, "score %.4g%s", r.scores()[blk.id()], gone ? "  removed" : ""));
    }
    out.printf(java.util.Locale.ROOT, "params    %d -> %d%n", r.report().before().params(), r.report().after().params());
    out.printf(java.util.Locale.ROOT, "FLOPs     %d -> %d (-%.1f%%), %d of %d blocks removed%n", r.flopsBefore(),
        r.flopsAfter(), 100.0 * (r.flopsBefore() - r.flopsAfter()) / Math.max(1, r.flopsBefore()), r.removed().size(),
        r.blocks().size());
    if (r.verify() != null) {
      out.printf(java.util.Locale.ROOT, "verify    PASS  max abs diff %.3g, max rel diff %.3g (against MODEL with the"
          + " removed branches multiplied by zero)%n", r.verify().maxAbsDiff(), r.verify().maxRelDiff());
    }
    out.println();
    out.println("wrote " + w.file() + report.wrote());
    return ExitCodes.OK;
  }

  /** The pipeline the options describe; the library checks every value, naming it by key. */
  private PruningPipeline configure(PipelineLog log, ExecutionBackend backend) throws Exception {
    int epochs = recovery.epochs(0);
    if (epochs < 0) {
      throw new UsageFailure("--epochs must be >= 0: " + epochs);
    }
    CalibrationOptions calibration = criterion.calibration;
    long seed = data.seed;
    boolean byMethod = methods.method != null;
    boolean trains = byMethod || recovery.asked(epochs);
    boolean scoresOnData = !byMethod && criterion.name != null && DataCriteria.isDataDriven(criterion.name);
    PruningPipeline.Builder b = PruningPipeline.builder().model(model).target(target.target())
        .allocation(allocation.allocation()).minChannels(allocation.minChannels)
        .maxGroupRatio(allocation.maxGroupRatio).rounding(allocation.rounding())
        .speedCheck(checks.speedCheck(), 0).verify(checks.verify).verifyTolerance(checks.verifyTolerance).keepPartial(checks.keepPartial)
        .sessions(runtime.sessions()).backend(backend).seed(seed).latencyTimingBatch(allocation.latencyBatch)
        .measureLatency(checks.measureLatency).output(output.file).externalData(output.externalData)
        .report(report.report)
        .recovery(recovery.recovery(epochs)).cropFill(data.data.zeroPixel()).listener(log)
        .steps(allocation.steps).stepSchedule(PruneSchedule.byName(allocation.stepSchedule));
    if (recovery.rewindWeights != null) {
      b.rewindWeights(recovery.rewindWeights);
    }
    if (byMethod) {
      MethodParameters mp = methods.parameters(calibration.theta, calibration.phi);
      log.method(methods.method, Methods.maxSteps(methods.method, mp), Methods.timeBudget(methods.method, mp));
      b.method(methods.method, methods.parameters(calibration.theta, calibration.phi));
    } else if (methods.parameters(null, null).any()) {
      throw new UsageFailure(OptionNames.flag(methods.parameters(null, null).firstMethodOnly())
          + " applies to --method only");
    }
    if (criterion.name != null) {
      // with --method too: the library refuses both
      b.criterion(criterion.name).criterionOptions(calibration.options(seed));
    }
    // without --images the library says which option needs data
    boolean bySensitivity = allocation.allocation().kind() == dev.onnxprune.prune.Allocation.Kind.SENSITIVITY;
    if ((scoresOnData || bySensitivity) && data.data.given()) {
      Dataset calib = calibration.read(data.data, scoresOnData ? "--criterion " + criterion.name
          : "--allocation sensitivity");
      log.detail("calibrating", calib.size() + " samples of " + data.data.images.getFileName());
      b.calibration(calib);
    }
    if (trains && data.data.given()) {
      Dataset train = data.open("training");
      log.detail("reading data", train.size() + " training samples");
      b.trainingData(train);
    }
    Dataset val = evaluation.open(data.data);
    if (val != null) {
      b.evaluation(val);
    }
    return b.build();
  }
}
