package dev.onnxprune.cli;

import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.prune.Equivalence;
import dev.onnxprune.prune.LatencyModel;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Rounding;
import dev.onnxprune.prune.SpeedCheck;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
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
 * structured channel pruning through {@link Pruner}; this class only adapts options, prints
 * and writes. OUT is written last, and only when {@code --verify} (if given) passed.
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
    footerHeading = "%nReport (--report FILE, JSON):%n",
    footer = {
        "  criterion, target  as given; allocation: uniform or global",
        "  achieved           fraction of the target's measure removed",
        "  before, after      {params, macs, flops, nodes}",
        "  groups[]           {id, producers[], members[] (\"node (Op, role)\"),",
        "                      channels, kept, removed[], prunable, reasons[],",
        "                      scores {min, mean, max, removedMean} (null: not scored)}",
        "  verify             {maxAbsDiff, maxRelDiff, batches, passed} (null: no --verify)",
        "  trajectory[]       --method only, one point per step of the method: {step, event, seconds,",
        "                      flops, flopsKept, widths {group id: channels kept}, loss, accuracy}",
        "  shortOfTarget      null; with --keep-partial, why the method stopped before the target",
        "  widths             {multiple, automatic, reason, keptWhole}: the multiple",
        "                      kept widths were rounded to (--round), and why",
        "  speed              {provider, batch, pairs, originalMs, prunedMs,",
        "                      originalBestMs, prunedBestMs, speedup (median of",
        "                      pairs), bestSpeedup, skipped} (null: not timed)",
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
          + " filter search), taylor (first-order Taylor estimate of the loss change, |activation x gradient|).")
  String criterion;

  @Mixin
  CalibrationOptions calibration;

  @Mixin
  MethodOptions methods;

  @ArgGroup(exclusive = true, multiplicity = "1", heading = "Target (exactly one):%n")
  TargetOption target;

  /** The three ways to say how much to remove; picocli allows exactly one. */
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
  }

  @Option(names = "--latency-batch", paramLabel = "N", defaultValue = "32",
      description = "Batch size at which --latency is measured (default ${DEFAULT-VALUE}).")
  int latencyBatch;

  @Option(names = "--global",
      description = "Rank channels across groups (scores normalised per group and by cost) instead of removing the"
          + " same fraction from every group.")
  boolean global;

  @Option(names = "--round", paramLabel = "N|auto", defaultValue = "auto",
      description = "Keep channel counts in multiples of N; 1 keeps exact widths. auto (default): the multiple --device"
          + " runs fast (CPU: 16 with AVX-512, 8 with AVX2; CUDA: 8), halved when the target cannot be met within 1%"
          + " with it. The output says which multiple was used and why.")
  String round;

  @Option(names = "--speed-check", paramLabel = "auto|on|off", defaultValue = "auto",
      description = "Time the pruned model against MODEL on --device afterwards (alternating pairs, batch 1, or"
          + " --latency-batch with --latency) and warn when it is not faster. auto (default): for models of at most"
          + " 20 GFLOPs per sample and for --latency.")
  String speedCheck;

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
          + " of --finetune-epochs (default ${DEFAULT-VALUE}).")
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

  @Option(names = "--report", paramLabel = "FILE", description = "Write what was pruned, per group, as JSON.")
  Path report;

  /** Where data-driven criteria, --latency and --verify run. */
  @Mixin
  RuntimeOptions runtime;

  @Option(names = "--external-data",
      description = "Write every tensor of 1 KiB or more to OUT.data beside OUT.")
  boolean externalData;

  @Option(names = "--finetune-epochs", paramLabel = "N", defaultValue = "0",
      description = "Fine-tune the pruned model for N epochs on --images/--labels before writing it (default"
          + " ${DEFAULT-VALUE}: none); the hyper-parameters are finetune's options.")
  int finetuneEpochs;

  /** Data and hyper-parameters of --recalibrate-bn and --finetune-epochs. */
  @Option(names = "--val-images", paramLabel = "PATH",
      description = "With --recalibrate-bn or --finetune-epochs: validation samples, evaluated after each stage.")
  Path valImages;

  @Option(names = "--val-labels", paramLabel = "PATH", description = "Validation labels.")
  Path valLabels;

  /**
   * The data of --recalibrate-bn and --finetune-epochs: the same --images/--labels/--mean/--std
   * as calibration (--calib-limit samples), so prune has one set of data options.
   */
  private TrainDataOptions trainData() {
    TrainDataOptions t = new TrainDataOptions();
    t.images = calibration.images;
    t.labels = calibration.labels;
    boolean identity = calibration.mean.length == 1 && calibration.mean[0] == 0f && calibration.std.length == 1
        && calibration.std[0] == 1f;
    t.mean = identity ? null : calibration.mean;
    t.std = identity ? null : calibration.std;
    t.limit = calibration.limit;
    t.valImages = valImages;
    t.valLabels = valLabels;
    return t;
  }

  @Mixin
  RecoveryOptions recovery;

  @Override
  public Integer call() {
    return common.run(() -> {
      PhaseLog log = new PhaseLog(common.err());
      Pruner pruner = configure(log);
      if (Files.isDirectory(output)) {
        throw new CommandFailure(Messages.outputIsDirectory(output));
      }
      if (report != null && Files.isDirectory(report)) {
        throw new CommandFailure(Messages.optionIsDirectory("--report", report));
      }
      log.start();
      Model m = OnnxModels.read(model);
      long bytesBefore = Files.size(model) + ModelFiles.externalDataBytes(m, model);
      log.done("reading", model.getFileName().toString());

      PruneResult result;
      try {
        result = pruner.prune(m);
      } catch (IllegalArgumentException e) {
        // from prune() (not from configuration): the target cannot be reached, or nothing can be pruned
        throw new CommandFailure(Messages.cannotPrune(e.getMessage()));
      }
      PruneReport r = result.report();
      if (r.speed() != null && r.speed().notFaster()) {
        common.err().println("warning: " + PruneText.notFaster(r.speed()));
      }
      if (r.shortOfTarget() != null) {
        common.err().printf(java.util.Locale.ROOT, "warning: %s; kept what it reached (--keep-partial):"
            + " %.1f%% removed%n", r.shortOfTarget(), 100 * r.achieved());
      }
      if (report != null) {
        r.write(report);
      }
      ModelFiles.Written written = null;
      boolean failed = r.verify() != null && !r.verify().passed();
      Recovery.Outcome recovered = null;
      if (!failed && (recovery.recalibrateBn || finetuneEpochs > 0)) {
        recovered = Recovery.run(result.model(), finetuneEpochs, trainData(), recovery, seed, runtime.sessions(),
            common.err(), false);
      }
      if (!failed) {
        log.start();
        written = ModelFiles.write(recovered != null ? recovered.model() : result.model(), output, externalData);
        log.done("writing", output.getFileName().toString());
      }
      PruneText.print(r, chosenTarget(), bytesBefore, written == null ? null : written.totalBytes(),
          common.verbose(), common.out());
      if (failed) {
        throw new CommandFailure(Messages.verificationFailed(r.verify().maxRelDiff(), Equivalence.TOLERANCE, output));
      }
      if (recovered != null) {
        common.out().println();
        Recovery.print(recovered.stages(), common.out());
      }
      common.out().println();
      common.out().println("wrote " + output + (report != null ? "; report " + report : ""));
      return ExitCodes.OK;
    });
  }

  /** The pruner the options describe; a bad value is a {@link UsageFailure} naming its option. */
  private Pruner configure(PhaseLog log) throws Exception {
    if (finetuneEpochs < 0) {
      throw new UsageFailure("--finetune-epochs must be >= 0: " + finetuneEpochs);
    }
    if (recovery.recalibrateBn || finetuneEpochs > 0) {
      trainData().check(finetuneEpochs > 0 ? "--finetune-epochs" : "--recalibrate-bn");
      recovery.check();
    }
    methods.check(criterion);
    if (keepPartial && methods.method == null && !("aofp".equals(criterion) && calibration.aofpPlan)) {
      throw new UsageFailure("--keep-partial applies to --method and to --criterion aofp --aofp-plan (they choose"
          + " their own removals and can stop short of the target); the allocator always meets the target");
    }
    Target t = chosenTarget();
    Sessions sessions = runtime.sessions();
    if (latencyBatch < 1) {
      throw new UsageFailure("--latency-batch must be >= 1: " + latencyBatch);
    }
    Criterion c;
    if (methods.method != null) {
      c = method(sessions, log);
    } else {
      boolean data = DataCriteria.isDataDriven(criterion);
      if (data) {
        log.start();
      }
      c = ScoreCommand.criterion(criterion, calibration, seed, sessions);
      if (data) {
        log.done("calibrating", calibration.images.getFileName().toString());
      }
    }
    Rounding rounding = rounding();
    SpeedCheck.Mode timing = switch (speedCheck) {
      case "auto" -> SpeedCheck.Mode.IF_CHEAP;
      case "on" -> SpeedCheck.Mode.ALWAYS;
      case "off" -> SpeedCheck.Mode.NEVER;
      default -> throw new UsageFailure("--speed-check must be auto, on or off: '" + speedCheck + "'");
    };
    // the builder names --min-channels in its messages
    return UsageFailure.check(null, () -> Pruner.builder().criterion(c).target(t).global(global)
        .minChannels(minChannels).maxGroupRatio(maxGroupRatio).rounding(rounding).verify(verify)
        .keepPartial(keepPartial).sessions(sessions).speedCheck(timing, target.latency != null ? latencyBatch : 1)
        .latencyTimer(LatencyModel.ort(sessions, latencyBatch, 3, 15)).progress(log).build());
  }

  /** {@code --round}: auto or a whole number >= 1. */
  private Rounding rounding() throws UsageFailure {
    if (round.equals("auto")) {
      return Rounding.auto();
    }
    try {
      return Rounding.to(Integer.parseInt(round));
    } catch (NumberFormatException e) {
      throw new UsageFailure("--round must be auto or a whole number >= 1: '" + round + "'");
    } catch (InvalidOptionException e) {
      throw new UsageFailure(e.messageFor("--round"));
    }
  }

  /** The --method, on the training data of --images/--labels (and --val-images for its trajectory). */
  private Criterion method(Sessions sessions, PhaseLog log) throws Exception {
    TrainDataOptions data = trainData();
    data.check("--method " + methods.method);
    recovery.check();
    log.start();
    Dataset train = data.training(seed);
    Dataset val = data.validation();
    log.done("reading data", train.size() + " training samples" + (val == null ? "" : ", " + val.size()
        + " validation"));
    java.io.PrintWriter err = common.err();
    String name = methods.method;
    MethodSetup setup = new MethodSetup(train, val, sessions).batchSize(recovery.batch).seed(seed)
        .augmentation(recovery.augmentation(data.blackPixel()))
        .listener(p -> err.printf(java.util.Locale.ROOT, "  %s %-8s step %5d  FLOPs %5.1f%%  loss %s  top-1 %s"
            + "  %.1f s%n", name, p.event(), p.step(), 100 * p.flopsKept(),
            Double.isNaN(p.loss()) ? "-" : String.format(java.util.Locale.ROOT, "%.4f", p.loss()),
            p.accuracy() == null ? "-" : String.format(java.util.Locale.ROOT, "%.2f%%", 100 * p.accuracy()),
            p.seconds()));
    return methods.create(setup, calibration.theta, calibration.phi);
  }

  private Target chosenTarget() throws UsageFailure {
    if (target.ratio != null) {
      return UsageFailure.check("--ratio", () -> Target.ratio(target.ratio));
    }
    if (target.flops != null) {
      return UsageFailure.check("--flops", () -> Target.flops(target.flops));
    }
    if (target.latency != null) {
      return UsageFailure.check("--latency", () -> Target.latency(target.latency));
    }
    return UsageFailure.check("--params", () -> Target.params(target.params));
  }
}
