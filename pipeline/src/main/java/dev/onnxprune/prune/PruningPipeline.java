package dev.onnxprune.prune;

import ai.onnxruntime.OrtException;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.WriteOptions;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.methods.MethodParameters;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.Methods;
import dev.onnxprune.methods.TrainingMethod;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.report.Reports;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.OutputError;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.surgery.BatchNormFolding;
import dev.onnxprune.surgery.WeightSparsity;
import dev.onnxprune.training.BatchNormInsertion;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.Passes;
import dev.onnxprune.training.BnRecalibration;
import dev.onnxprune.training.Distillation;
import dev.onnxprune.training.GradientException;
import dev.onnxprune.training.Trainer;
import dev.onnxprune.training.TrainerOptions;
import dev.onnxprune.training.TrainingOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The whole job, as deployment pipelines, the command line and the Maven plugin run it: read the
 * model, evaluate it, prune it ({@link Pruner}: a criterion or a training-time method, a target,
 * allocation, verification), recover (BatchNorm recalibration, fine-tuning), evaluate after every
 * stage, measure latency when asked, and write the model and a JSON report.
 *
 * <pre>{@code
 * PipelineResult r = PruningPipeline.builder()
 *     .model(Path.of("model.onnx"))
 *     .criterion(Criteria.l1())
 *     .target(Target.flops(0.5))
 *     .trainingData(train)                       // for recovery (and data-driven criteria)
 *     .recovery(Recovery.recalibrateBnThenFineTune(FineTuning.epochs(2)))
 *     .evaluation(test)
 *     .verify(true)
 *     .output(Path.of("pruned.onnx"))
 *     .build()
 *     .run();
 * r.stage("fine-tuned").orElseThrow().accuracy().top1();
 * }</pre>
 *
 * <p>The model it is given is never changed: it works on a copy, unless {@link Builder#inPlace}
 * says otherwise. Progress of every long phase goes to one {@link Listener}, with the fraction
 * done; {@link #cancel()} (from any thread) or an interrupt stops the run within a second or two
 * with a {@link dev.onnxprune.runtime.CancelledException}, and nothing is written. Errors are
 * typed ({@link dev.onnxprune.errors.OnnxPruneException}): an option the pipeline does not accept
 * is an {@link InvalidOptionException} naming its key, thrown by {@link Builder#build()} before
 * any work; a failed verification is a {@link VerificationFailedException} (nothing written but
 * the report).
 */
public final class PruningPipeline {
  /** The phases of a run, in the order they first run. */
  public enum Phase {
    /** Reading the model file. */
    READING,
    /** Evaluating a stage's model on the evaluation data (runs after each stage). */
    EVALUATING,
    /** Each group pruned alone at several ratios and evaluated, for a sensitivity allocation ({@link Sensitivity}). */
    MEASURING_SENSITIVITY,
    /** Channel-dependency analysis and costs (and, for a latency target, the per-channel timing). */
    ANALYSING,
    /**
     * BatchNormalization is put after the convolutions that have none, for the recovery
     * ({@link Recovery.InsertBn}); folded back before the model is written.
     */
    INSERTING_BN,
    /** The criterion scores the channels, or the training-time method trains and chooses them. */
    SCORING,
    /** Channels are chosen to meet the target. */
    ALLOCATING,
    /** The plan is applied. */
    APPLYING,
    /** The pruned model is checked against the masked original in ONNX Runtime. */
    VERIFYING,
    /** Each layer is refit by least squares to the original's outputs ({@link LeastSquaresRefit}). */
    REFITTING,
    /** BatchNorm statistics are re-estimated. */
    RECALIBRATING,
    /** The pruned model is fine-tuned. */
    FINE_TUNING,
    /** Latency of the original and the final model is measured. */
    MEASURING_LATENCY,
    /** The model and the report are written. */
    WRITING;

    /** The phase's name in lower case with spaces, as in reports ({@code fine tuning}). */
    public String label() {
      return name().toLowerCase(Locale.ROOT).replace('_', ' ');
    }
  }

  /** Hears what a run does; every method has a default that ignores it. Called on the run's thread. */
  public interface Listener {
    /** {@code phase} begins; {@code detail} says on what (may be empty). */
    default void phaseStarted(Phase phase, String detail) {}

    /** {@code phase} is {@code fraction} (0 to 1) done; called often (per batch or step). */
    default void progress(Phase phase, double fraction, String detail) {}

    /** {@code phase} ended after {@code took}. */
    default void phaseFinished(Phase phase, Duration took, String detail) {}

    /** A stage's model was evaluated (or, without evaluation data, costed). */
    default void stage(PipelineResult.Stage stage) {}

    /** A training-time method recorded a step of its trajectory. */
    default void methodStep(TrajectoryPoint point) {}

    /**
     * A line the user should see during {@code phase} (may be null), such as a criterion's
     * estimated cost before it starts (Oracle: "about N forward passes, S s at R img/s").
     */
    default void note(Phase phase, String message) {}

    /**
     * Fine-tuning starts at {@code epoch} of {@code epochs} ({@code resumed}: from a checkpoint),
     * {@code stepsPerEpoch} steps over {@code samples} samples each.
     */
    default void fineTuningStarted(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {}

    /** An epoch of fine-tuning ended. */
    default void epochEnded(Trainer.EpochStats epoch) {}

    /** Something the user should know; also in {@link PipelineResult#warnings()}. */
    default void warning(String message) {}
  }

  private final Builder b;
  private volatile boolean cancelled;

  private PruningPipeline(Builder b) {
    this.b = b;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Asks a running {@link #run} to stop (at its next batch or step); safe from any thread. */
  public void cancel() {
    cancelled = true;
  }

  /**
   * Runs the job.
   *
   * @throws dev.onnxprune.errors.OnnxPruneException typed: the model cannot be pruned to the target
   *     ({@link dev.onnxprune.errors.TargetUnreachableException},
   *     {@link dev.onnxprune.errors.NothingPrunableException}), verification failed
   *     ({@link VerificationFailedException}), the data does not fit the model
   *     ({@link DataMismatchException}), the model is not valid ONNX
   *     ({@link dev.onnxprune.errors.InvalidModelException}: before any work), or the run was cancelled
   * @throws IOException when a file cannot be read or written, or ONNX Runtime cannot run a model
   */
  public PipelineResult run() throws IOException {
    Run run = new Run();
    Progress.Sink sink = new Progress.Sink() {
      @Override
      public void progress(double fraction, String detail) {
        run.progress(fraction, detail);
      }

      @Override
      public void note(String message) {
        run.note(message);
      }
    };
    try (Progress.Scope scope = Progress.open(sink, () -> cancelled)) {
      return run.execute();
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
  }

  /** The state of one run. */
  private final class Run {
    private final Map<String, Double> seconds = new LinkedHashMap<>();
    private final List<PipelineResult.Stage> stages = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private Phase phase;
    private long phaseStart;
    private Criterion criterion;
    /** The sensitivity curves a sensitivity allocation used, or null. */
    private Sensitivity.Result curves;
    private double lastFraction = -1;
    /** Whether BatchNormalizations were inserted (and must be folded back). */
    private boolean insertedBn;
    /** The FLOPs or parameters of the model before the first of several prune steps. */
    private double originalCost;
    /** Whether the model's first output is a classifier's logits {@code [N, K]}. */
    private boolean classifier;
    /** The unpruned model (the teacher, the reference of output errors), or null when there is none. */
    private Model reference;
    /** Each prune step's report, with several steps. */
    private final List<PruneReport> stepReports = new ArrayList<>();
    /** The early checkpoint the weights are rewound to before retraining, or null. */
    private WeightRewinding rewinding;

    PipelineResult execute() throws IOException {
      Model model = read();
      ModelChecker.requireValid(model);
      Model original = b.latencyBatch > 0 ? model.copy() : null; // timed against the final model at the end
      classifier = Classifiers.isClassifier(model);
      // the unpruned model: the teacher of distillation, the reference of output errors
      FineTuning tuning = b.recovery.fineTuning();
      boolean distils = tuning != null && (tuning.distillation() != null || !classifier
          || b.trainingData.numClasses() == 0);
      boolean compares = b.evaluation != null && (!classifier || b.evaluation.numClasses() == 0);
      reference = b.teacherFile != null ? OnnxModels.read(b.teacherFile) : b.teacher != null ? b.teacher
          : b.target != null && (distils || compares) ? model.copy() : null;
      stage("original", model, null);
      if (b.recovery.insertsBn(model) && !BatchNormInsertion.targets(model).isEmpty()) {
        model = insertBn(model);
      }

      if (b.rewindWeights != null || b.rewindWeightsFile != null) {
        if (insertedBn) {
          throw new InvalidOptionException("rewindWeights", b.rewindWeightsFile, "cannot rewind a model trained through"
              + " inserted BatchNormalization (a BN-folded export): set recovery.insertBn off");
        }
        rewinding = WeightRewinding.of(b.rewindWeightsFile != null ? OnnxModels.read(b.rewindWeightsFile)
            : b.rewindWeights, model);
      }
      PruneResult pruned = null;
      List<Trainer.EpochStats> history = new ArrayList<>();
      Recovery r = b.recovery;
      // the costs of the model as the pruner sees it (inserted BatchNorms included): the reference of the steps
      originalCost = b.steps > 1 ? cost(model) : 0;
      for (int step = 1; step <= b.steps; step++) {
        String tag = step == b.steps ? "" : " " + step + "/" + b.steps;
        Target target = b.target == null ? null : stepTarget(step, model);
        if (target != null) {
          if (b.allocation.kind() == Allocation.Kind.SENSITIVITY) {
            // each step's model has its own groups' curves
            curves = b.allocation.curves() != null ? b.allocation.curves() : sensitivity(model);
          }
          Pruner pruner = pruner(target, step == b.steps);
          Model unpruned = r.refit() ? model.copy() : null; // the refit's reference (pruning changes model)
          try {
            pruned = pruner.prune(model);
          } catch (VerificationFailedException e) {
            if (b.report != null) {
              Reports.write(result(e.result().model(), e.result(), List.of(), null), b.report);
            }
            throw e;
          } finally {
            endPhase("");
          }
          PruneReport.Speed speed = pruned.report().speed();
          if (speed != null && speed.notFaster()) {
            warn(String.format(Locale.ROOT, "the pruned model is not faster than the original on %s at batch %d"
                + " (%.2fx, median of %d pairs; best %.2fx)", speed.provider(), speed.batch(), speed.speedup(),
                speed.pairs(), speed.bestSpeedup()));
          }
          if (pruned.report().shortOfTarget() != null) {
            warn(String.format(Locale.ROOT, "%s; kept what it reached (keepPartial): %.1f%% removed",
                pruned.report().shortOfTarget(), 100 * pruned.report().achieved()));
          }
          model = pruned.model();
          if (b.steps > 1) {
            stepReports.add(pruned.report());
          }
          if (rewinding != null) {
            rewinding.pruned(pruned.plan());
          }
          stage("pruned" + tag, model, null);
          if (unpruned != null) {
            model = refit(unpruned, model, pruned, tag);
          }
        }

        if (r.recalibrateBn()) {
          begin(Phase.RECALIBRATING, b.trainingData.size() + " samples");
          Model input = model;
          BnRecalibration.Result bn = call(() -> Passes.recalibrateBn(b.backend, b.sessions, input, b.trainingData,
              batch(), r.bnSamples() == 0 ? 0 : (r.bnSamples() + batch() - 1) / batch()));
          model = bn.model();
          endPhase(bn.batchNorms() == 0 ? "no BatchNormalization: nothing to recalibrate"
              : bn.batchNorms() + " BatchNorm layers on " + bn.samples() + " samples (" + bn.batches() + " batches)");
          if (bn.batchNorms() == 0) {
            warn("recovery.recalibrateBn: the model has no BatchNormalization; nothing was recalibrated");
          } else {
            stage("recalibrated" + tag, model, null);
          }
        }
        if (r.fineTuning() != null) {
          FineTuning f = r.fineTuning();
          int steps = Trainer.stepsPerEpoch(b.trainingData.size(), f.batchSize());
          if (steps == 0) {
            throw new DataMismatchException("the training data has " + b.trainingData.size() + " sample(s); a"
                + " fine-tuning step needs at least 2");
          }
          WeightSparsity before = WeightSparsity.of(model);
          boolean keepZeros = f.keepsSparsityOf(before);
          if (rewinding != null) {
            model = rewinding.rewind(model, keepZeros);
            stage("rewound" + tag, model, null);
          }
          begin(Phase.FINE_TUNING, f.toString());
          TrainerOptions to = f.trainer(f.epochs(), steps, b.seed, b.padFill).validation(b.evaluation)
              .listener(new Trainer.Listener() {
                @Override
                public void started(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {
                  b.listener.fineTuningStarted(epoch, epochs, stepsPerEpoch, samples, resumed);
                }

                @Override
                public void epochEnded(Trainer.EpochStats s) {
                  b.listener.epochEnded(s);
                }
              }).build();
          boolean labelled = b.trainingData.numClasses() > 0;
          Distillation d = distillation(f, labelled);
          TrainingOptions training = f.trainingOptionsBuilder(keepZeros).distillation(d)
              .labels(labelled && classifier).build();
          TrainerOptions run = d == null ? to : f.trainer(f.epochs(), steps, b.seed, b.padFill)
              .validation(classifier ? b.evaluation : null).listener(to.listener()).teacher(reference).build();
          Model input = model;
          Trainer.Result tr = call(() -> Trainer.train(input, training, b.trainingData, run, b.sessions));
          model = tr.model();
          if (keepZeros && WeightSparsity.of(model).zeros() < before.zeros()) {
            throw new IllegalStateException("fine-tuning lost zero weights: " + before + " before, "
                + WeightSparsity.of(model) + " after");
          }
          history.addAll(tr.history());
          endPhase(String.format(Locale.ROOT, "%d epoch(s)%s%s%s", tr.history().size() - tr.resumedAfter(),
              tag.isEmpty() ? "" : " (step" + tag + ")",
              d == null ? "" : "; " + FineTuning.describe(d) + " from the unpruned model",
              keepZeros ? "; zero weights kept: " + WeightSparsity.of(model) : ""));
          stage("fine-tuned" + tag, model, null);
        }
      }
      if (insertedBn) {
        model = foldInsertedBn(model);
      }
      if (b.latencyBatch > 0) {
        double[] t = latencies(original, model);
        PipelineResult.Stage first = stages.get(0);
        stages.set(0, new PipelineResult.Stage(first.name(), first.accuracy(), first.params(), first.flops(), t[0],
            first.weightSparsity(), first.outputError()));
        PipelineResult.Stage last = stages.get(stages.size() - 1);
        stages.set(stages.size() - 1, new PipelineResult.Stage(last.name(), last.accuracy(), last.params(),
            last.flops(), t[1], last.weightSparsity(), last.outputError()));
        if (t[1] >= t[0]) {
          warn(String.format(Locale.ROOT, "the pruned model is not faster than the original on this device: %.2f ms"
              + " against %.2f ms at batch %d", 1e3 * t[1], 1e3 * t[0], b.latencyBatch));
        }
      }
      PipelineResult result = result(model, pruned, history, b.output);
      write(model, result);
      return result;
    }

    /**
     * The distillation of {@code f}: as configured, or chosen when there is no other loss (no labels,
     * or not a classifier): KL at {@link FineTuning#DEFAULT_TEMPERATURE} for a classifier, MSE on
     * every output otherwise.
     */
    private Distillation distillation(FineTuning f, boolean labelled) {
      Distillation d = f.distillation();
      if (d == null && (!labelled || !classifier)) {
        d = classifier ? Distillation.kl(FineTuning.DEFAULT_TEMPERATURE, 1) : Distillation.mse(1);
        warn("fineTuning.distillation: " + (classifier ? "the training data has no labels" : "the model is not a"
            + " classifier") + "; distilling from the unpruned model instead (" + FineTuning.describe(d) + ")");
      }
      if (d != null && reference == null) {
        throw new InvalidOptionException("teacher", null, "is required to distil when nothing is pruned (the"
            + " unpruned model)");
      }
      if (d != null && d.kind() == Distillation.Kind.KL && !classifier) {
        throw new InvalidOptionException("fineTuning.distillation", "kl", "needs a classifier (logits [N, K]);"
            + " distil a model of other outputs by mse");
      }
      return d;
    }

    /** The least-squares refit of {@code model}'s layers against {@code unpruned}'s outputs (a stage). */
    private Model refit(Model unpruned, Model model, PruneResult pruned, String tag) throws IOException {
      Recovery r = b.recovery;
      int samples = r.refitSamples() == 0 ? b.trainingData.size() : Math.min(r.refitSamples(), b.trainingData.size());
      begin(Phase.REFITTING, samples + " samples");
      LeastSquaresRefit.Result rf = LeastSquaresRefit.run(unpruned, model, pruned.plan(), b.trainingData, batch(),
          r.refitSamples(), b.sessions, f -> progress(f, ""));
      double[] err = rf.meanError();
      long solved = rf.layers().stream().filter(l -> l.skipped() == null).count();
      endPhase(String.format(Locale.ROOT, "%d of %d layers refit on %d samples; mean relative output error %.4f"
          + " -> %.4f", rf.refitted(), solved, rf.samples(), err[0], err[1]));
      for (LeastSquaresRefit.Layer l : rf.layers()) {
        if (l.skipped() != null) {
          warn("recovery.refit: layer '" + l.node() + "' (" + l.op() + ") left as it is: " + l.skipped());
        }
      }
      stage("refitted" + tag, rf.model(), null);
      return rf.model();
    }

    /** The model with BatchNormalization after each convolution that has none (see {@link Recovery}). */
    private Model insertBn(Model model) throws IOException {
      Recovery r = b.recovery;
      begin(Phase.INSERTING_BN, "");
      BatchNormInsertion.Result ins = call(() -> BatchNormInsertion.run(model, b.trainingData, batch(),
          r.bnSamples() == 0 ? 0 : (r.bnSamples() + batch() - 1) / batch(), b.sessions));
      insertedBn = !ins.inserted().isEmpty();
      endPhase(ins.inserted().size() + " BatchNorm layers after convolutions that had none, statistics of "
          + ins.samples() + " samples; folded back before writing");
      return ins.model();
    }

    private Model foldInsertedBn(Model model) {
      Model out = model.copy();
      BatchNormFolding.Result f = (BatchNormFolding.Result) PassManager.run(out,
          BatchNormFolding.marked(BatchNormInsertion.MARK));
      if (!f.skipped().isEmpty()) {
        throw new IllegalStateException("inserted BatchNormalizations that cannot be folded back: " + f.skipped());
      }
      return out;
    }

    private Model read() throws IOException {
      // an output that is the input, or another output, is refused before any work
      new dev.onnxprune.graph.OutputPaths().inputModel("model", b.modelFile).modelOutput("output", b.output)
          .outputs("report", b.report, Reports.files(b.report)).check();
      if (b.modelFile != null) {
        begin(Phase.READING, b.modelFile.getFileName().toString());
        Model m = OnnxModels.read(b.modelFile);
        endPhase("");
        return m;
      }
      return b.inPlace ? b.model : b.model.copy();
    }

    /**
     * The target of prune step {@code step} of {@link Builder#steps}: what {@code model} must lose so
     * that the original has lost {@code target * schedule(step)}; null when it already has. The whole
     * target when there is one step.
     */
    private Target stepTarget(int step, Model model) {
      if (b.steps == 1) {
        return b.target;
      }
      double f = b.target.fraction() * b.stepSchedule.at(step, b.steps);
      double remove = 1 - (1 - f) * originalCost / cost(model);
      if (remove < 1e-6) {
        warn(String.format(Locale.ROOT, "step %d/%d: the model already has %.1f%% less than the original; nothing"
            + " pruned", step, b.steps, 100 * (1 - cost(model) / originalCost)));
        return null;
      }
      return new Target(b.target.kind(), remove);
    }

    /** The FLOPs or parameters of {@code model}, as {@link Builder#target} counts them. */
    private double cost(Model model) {
      CostReport c = CostModel.analyze(model);
      return b.target.kind() == Target.Kind.PARAMS ? c.totalParams() : c.totalFlops();
    }

    /** The pruner of one step, to {@code target}; only the last step's result is speed-checked. */
    private Pruner pruner(Target target, boolean last) {
      Pruner.Builder p = Pruner.builder().target(target).minChannels(b.minChannels)
          .allocation(curves != null ? Allocation.sensitivity(curves) : b.allocation)
          .maxGroupRatio(b.maxGroupRatio).rounding(b.rounding()).verify(b.verify).verifyTolerance(b.verifyTolerance)
          .speedCheck(last ? b.speedCheck : SpeedCheck.Mode.NEVER, b.speedBatch > 0 ? b.speedBatch
              : target.kind() == Target.Kind.LATENCY ? b.latencyTimingBatch : 1).keepPartial(b.keepPartial)
          .sessions(b.sessions).latencyTimer(LatencyModel.ort(b.sessions, b.latencyTimingBatch, 3, 15))
          .progress(new PruneProgress() {
            @Override
            public void finished(PruneProgress.Phase ph, Duration took) {
              // the pruner's phases map one to one onto the pipeline's: the one that ended was begun
              // when the one before it ended (the first before the prune), so its time is measured
              endPhase("");
              PruningPipeline.Phase next = switch (ph) {
                case ANALYSING -> PruningPipeline.Phase.SCORING;
                case SCORING -> PruningPipeline.Phase.ALLOCATING;
                case ALLOCATING -> PruningPipeline.Phase.APPLYING;
                case APPLYING -> b.verify ? PruningPipeline.Phase.VERIFYING : null;
                case VERIFYING, TIMING -> null;
              };
              if (next != null) {
                begin(next, "");
              }
            }

            @Override
            public void starting(PruneProgress.Phase ph) {
              begin(PruningPipeline.Phase.MEASURING_LATENCY, "speed check");
            }
          });
      if (b.method != null || b.methodName != null) {
        p.method(method());
      } else {
        p.criterion(criterion());
      }
      begin(Phase.ANALYSING, "");
      return p.build();
    }

    /** The criterion, made once (a data-driven one holds its data and sessions). */
    private Criterion criterion() {
      if (criterion == null) {
        String name = b.criterionName == null ? "l1" : b.criterionName;
        criterion = b.criterion != null ? b.criterion : DataCriteria.isDataDriven(name)
            ? DataCriteria.byName(name, calibration(), b.sessions,
                b.criterionOptions.copy().backend(b.backend)) : Criteria.byName(name, b.seed);
      }
      return criterion;
    }

    /** The sensitivity curves of {@code model} on the calibration data, with the run's criterion. */
    private Sensitivity.Result sensitivity(Model model) throws IOException {
      Dataset data = calibration();
      begin(Phase.MEASURING_SENSITIVITY, data.size() + " samples");
      Sensitivity.Result r = Sensitivity.builder().criterion(criterion()).evaluation(data).sessions(b.sessions)
          .backend(b.backend)
          .minChannels(b.minChannels).build().run(model);
      endPhase(String.format(Locale.ROOT, "%d groups x %d ratios on %d samples", r.curves().size(),
          r.ratios().size(), r.baseline().samples()));
      return r;
    }

    private TrainingMethod method() {
      if (b.method != null) {
        return b.method;
      }
      MethodSetup setup = new MethodSetup(b.trainingData, b.evaluation, b.sessions).seed(b.seed)
          .augmentation(b.recovery.fineTuning() != null ? b.recovery.fineTuning().augmentation(b.padFill)
              : FineTuning.builder().build().augmentation(b.padFill))
          .listener(point -> {
            b.listener.methodStep(point);
            Progress.report(Math.min(1, (1 - point.flopsKept()) / Math.max(1e-9, b.target.fraction())),
                point.event() + " at step " + point.step());
          });
      if (b.recovery.fineTuning() != null) {
        setup.batchSize(b.recovery.fineTuning().batchSize());
      }
      return Methods.create(b.methodName, setup, b.methodParameters);
    }

    private Dataset calibration() {
      return b.calibration != null ? b.calibration : b.trainingData;
    }

    private int batch() {
      return b.recovery.fineTuning() != null ? b.recovery.fineTuning().batchSize() : 64;
    }

    /** Evaluates (when there is evaluation data) and records the stage. */
    private void stage(String name, Model model, Double latency) throws IOException {
      PipelineResult.Accuracy acc = null;
      OutputError error = null;
      if (b.evaluation != null && classifier && b.evaluation.numClasses() > 0) {
        begin(Phase.EVALUATING, name);
        Evaluation e = call(() -> Passes.evaluate(b.backend, b.sessions, model, b.evaluation, b.evalBatchSize));
        acc = new PipelineResult.Accuracy(e.samples(), e.top1(), e.top5(), e.loss());
        endPhase(String.format(Locale.ROOT, "%s: top-1 %.2f%%", name, 100 * e.top1()));
      } else if (b.evaluation != null) {
        begin(Phase.EVALUATING, name);
        Model ref = reference != null ? reference : model;
        error = call(() -> {
          try (Runner runner = Runner.open(b.sessions, model); Runner r = Runner.open(b.sessions, ref)) {
            return OutputError.compare(runner, r, b.evaluation, b.evalBatchSize);
          }
        });
        endPhase(String.format(Locale.ROOT, "%s: output error against the unpruned model %.4g (relative), %.4g"
            + " (mean squared)", name, error.relative(), error.meanSquared()));
      }
      // the costs of the model as it is written: inserted BatchNorms folded
      CostReport c = CostModel.analyze(insertedBn ? foldInsertedBn(model) : model);
      PipelineResult.Stage s = new PipelineResult.Stage(name, acc, c.totalParams(), c.totalFlops(), latency,
          WeightSparsity.of(model).fraction(), error);
      stages.add(s);
      b.listener.stage(s);
    }

    /**
     * Latency of {@code original} and {@code last}: each timed twice, in turn (original, last,
     * original, last), the smaller median of each kept, so that a change in machine load during
     * the run hits both alike (timing the original at the start and the last at the end did not:
     * on shared cores the pruned model came out slower).
     */
    private double[] latencies(Model original, Model last) throws IOException {
      begin(Phase.MEASURING_LATENCY, "batch " + b.latencyBatch);
      LatencyModel.Timer timer = LatencyModel.ort(b.sessions, b.latencyBatch, 3, 15);
      double[] t = {Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY};
      for (int round = 0; round < 2; round++) {
        t[0] = Math.min(t[0], timer.seconds(original));
        t[1] = Math.min(t[1], timer.seconds(last));
      }
      endPhase(String.format(Locale.ROOT, "%.2f ms -> %.2f ms", 1e3 * t[0], 1e3 * t[1]));
      return t;
    }

    private void write(Model model, PipelineResult result) throws IOException {
      if (b.output == null && b.report == null) {
        return;
      }
      Progress.checkCancelled(); // the last point at which a cancel leaves nothing written
      begin(Phase.WRITING, b.output == null ? b.report.getFileName().toString() : b.output.getFileName().toString());
      if (b.output != null) {
        OnnxModels.write(model, b.output, b.externalData ? WriteOptions.withExternalData() : WriteOptions.defaults());
      }
      if (b.report != null) {
        Reports.write(result, b.report);
      }
      endPhase("");
    }

    private PipelineResult result(Model model, PruneResult pruned, List<Trainer.EpochStats> history, Path output) {
      return new PipelineResult(PipelineResult.FORMAT, b.modelFile, model, pruned, List.copyOf(stages), history,
          new LinkedHashMap<>(seconds), List.copyOf(warnings), output, curves, stepReports);
    }

    private void warn(String message) {
      warnings.add(message);
      b.listener.warning(message);
    }

    private void begin(Phase p, String detail) {
      if (phase != null) {
        endPhase("");
      }
      phase = p;
      phaseStart = System.nanoTime();
      lastFraction = -1;
      b.listener.phaseStarted(p, detail);
    }

    private void endPhase(String detail) {
      if (phase == null) {
        return;
      }
      Duration took = Duration.ofNanos(System.nanoTime() - phaseStart);
      seconds.merge(phase.label(), took.toNanos() / 1e9, Double::sum);
      Phase p = phase;
      phase = null;
      b.listener.phaseFinished(p, took, detail);
    }

    void note(String message) {
      b.listener.note(phase, message);
    }

    void progress(double fraction, String detail) {
      if (phase != null && fraction != lastFraction) {
        lastFraction = fraction;
        b.listener.progress(phase, fraction, detail);
      }
    }
  }

  /** Work that runs ONNX Runtime or trains. */
  private interface Work<T> {
    T call() throws IOException, OrtException;
  }

  /** {@code work}'s result; ONNX Runtime's and the training step's failures as I/O or typed errors. */
  private static <T> T call(Work<T> work) throws IOException {
    try {
      return work.call();
    } catch (OrtException e) {
      throw new IOException("ONNX Runtime failed: " + e.getMessage(), e);
    } catch (GradientException e) {
      throw new dev.onnxprune.errors.OnnxPruneException("the model cannot be fine-tuned: " + e.getMessage(), e);
    }
  }

  /**
   * Configures a {@link PruningPipeline}. Exactly one of {@link #model(Path)} and
   * {@link #model(Model)}; a {@link #target}; a criterion ({@link #criterion(Criterion)}, by
   * name, or L1 by default) or a method. Data as the chosen steps need it.
   */
  public static final class Builder {
    private Path modelFile;
    private Model model;
    private boolean inPlace;
    private Criterion criterion;
    private String criterionName;
    private DataCriteria.Options criterionOptions = new DataCriteria.Options();
    private TrainingMethod method;
    private String methodName;
    private MethodParameters methodParameters = new MethodParameters();
    private Target target;
    private Allocation allocation = Allocation.uniform();
    private int minChannels = 1;
    private double maxGroupRatio = 1;
    private int roundTo;
    private Rounding rounding = Rounding.auto();
    private SpeedCheck.Mode speedCheck = SpeedCheck.Mode.LATENCY_TARGETS;
    private int speedBatch;
    private boolean keepPartial;
    private Dataset calibration;
    private Dataset trainingData;
    private Dataset evaluation;
    private int evalBatchSize = 256;
    private Recovery recovery = Recovery.NONE;
    private boolean verify;
    private double verifyTolerance = Equivalence.TOLERANCE;
    private Sessions sessions = Sessions.auto();
    private ExecutionBackend backend = ExecutionBackend.inProcess();
    private long seed;
    private float[] padFill = {0f};
    private int latencyBatch;
    private int latencyTimingBatch = 32;
    private Path output;
    private boolean externalData;
    private Path report;
    private Listener listener = new Listener() {};
    private Model teacher;
    private Path teacherFile;
    private Model rewindWeights;
    private Path rewindWeightsFile;
    private int steps = 1;
    private PruneSchedule stepSchedule = PruneSchedule.LINEAR;

    private Builder() {}

    /**
     * The unpruned model, when the pipeline only recovers a model pruned elsewhere: the teacher of
     * distillation and the reference of output errors (default: the model the pipeline prunes, as
     * it was read).
     */
    public Builder teacher(Model m) {
      this.teacher = Objects.requireNonNull(m, "teacher");
      this.teacherFile = null;
      return this;
    }

    /**
     * Weight rewinding (Frankle et al.): before each fine-tuning, the weights pruning kept are reset
     * to their values in {@code early}, an early checkpoint of the original training (same
     * architecture); the pruned structure and any zero weights kept stay. Needs fine-tuning; not
     * with BatchNorm inserted into a BN-folded model. Default: none (fine-tuning goes on from the
     * pruned weights). Learning-rate rewinding is {@link FineTuning.Schedule#REWIND}.
     */
    public Builder rewindWeights(Model early) {
      this.rewindWeights = Objects.requireNonNull(early, "rewindWeights");
      this.rewindWeightsFile = null;
      return this;
    }

    /** {@link #rewindWeights(Model)} from a file (read by the run). */
    public Builder rewindWeights(Path early) {
      this.rewindWeightsFile = Objects.requireNonNull(early, "rewindWeights");
      this.rewindWeights = null;
      return this;
    }

    /** {@link #teacher(Model)} from a file (read by the run). */
    public Builder teacher(Path file) {
      this.teacherFile = Objects.requireNonNull(file, "teacher");
      this.teacher = null;
      return this;
    }

    /** The model file to prune (read by the run). */
    public Builder model(Path file) {
      this.modelFile = Objects.requireNonNull(file, "model");
      this.model = null;
      return this;
    }

    /** The model to prune; the run works on a copy unless {@link #inPlace}. */
    public Builder model(Model m) {
      this.model = Objects.requireNonNull(m, "model");
      this.modelFile = null;
      return this;
    }

    /** Prune the {@link #model(Model)} given in place instead of a copy (saves its memory; default false). */
    public Builder inPlace(boolean on) {
      this.inPlace = on;
      return this;
    }

    /** The criterion that scores channels (default L1). */
    public Builder criterion(Criterion c) {
      this.criterion = Objects.requireNonNull(c, "criterion");
      this.criterionName = null;
      return this;
    }

    /**
     * The criterion by name: l1, l2, bn, fpgm, random, or on calibration data apoz, mean, oracle,
     * aofp, taylor, thinet, heads, wanda (with {@link #criterionOptions}).
     */
    public Builder criterion(String name) {
      this.criterionName = Objects.requireNonNull(name, "criterion");
      this.criterion = null;
      return this;
    }

    /** Settings of the data-driven criteria chosen by name (batch, limit, re-scoring, AOFP's theta and phi). */
    public Builder criterionOptions(DataCriteria.Options o) {
      this.criterionOptions = Objects.requireNonNull(o, "criterionOptions");
      return this;
    }

    /** A training-time method instead of a criterion; it trains on {@link #trainingData}. */
    public Builder method(TrainingMethod m) {
      this.method = Objects.requireNonNull(m, "method");
      this.methodName = null;
      return this;
    }

    /** A training-time method by name (aofp, adversarial, prunenet) with its settings. */
    public Builder method(String name, MethodParameters parameters) {
      this.methodName = Objects.requireNonNull(name, "method");
      this.methodParameters = Objects.requireNonNull(parameters, "parameters");
      this.method = null;
      return this;
    }

    /** What to remove (required). */
    public Builder target(Target t) {
      this.target = t;
      return this;
    }

    /**
     * Prune in {@code n} steps (default 1: one shot), each followed by the recovery (BatchNorm
     * recalibration, {@link FineTuning#epochs} epochs of fine-tuning each step): the iterative
     * schedule of Han et al., or Zhu &amp; Gupta's gradual one with {@link PruneSchedule#AGP}. Each
     * step's stages are recorded ({@code pruned 1/3}, {@code fine-tuned 1/3}, ..., the last step's
     * {@code pruned}, {@code fine-tuned}); the result's prune report is the last step's. Needs a
     * FLOPs or parameter target (a fraction of the original's), a criterion (not a training-time
     * method), and no fine-tuning checkpoint folder when {@code n > 1}.
     */
    public Builder steps(int n) {
      this.steps = n;
      return this;
    }

    /** How {@link #steps} spread the target (default {@link PruneSchedule#LINEAR}). */
    public Builder stepSchedule(PruneSchedule s) {
      this.stepSchedule = Objects.requireNonNull(s, "stepSchedule");
      return this;
    }

    /** Rank channels across groups instead of removing the same fraction from each (default false). */
    public Builder global(boolean g) {
      this.allocation = g ? Allocation.global() : Allocation.uniform();
      return this;
    }

    /**
     * How the target is spread over the groups (default {@link Allocation#uniform()}). With
     * {@link Allocation#sensitivity()} the run first measures the {@link Sensitivity} curves of the
     * model on the {@link #calibration} data (the training data when none is given; the first 500
     * samples), ranking with the run's criterion; the result carries them.
     */
    public Builder allocation(Allocation a) {
      this.allocation = Objects.requireNonNull(a, "allocation");
      return this;
    }

    /** Channels every group keeps at least (default 1). */
    public Builder minChannels(int n) {
      this.minChannels = n;
      return this;
    }

    /** The largest fraction of its channels one group may lose, in (0, 1] (default 1). */
    public Builder maxGroupRatio(double r) {
      this.maxGroupRatio = r;
      return this;
    }

    /**
     * Kept channel counts in multiples of {@code n}; 1 keeps exact widths. Replaces the default
     * {@link Rounding#auto()}: the multiple the {@link #sessions}' device runs fast.
     */
    public Builder roundTo(int n) {
      this.roundTo = n;
      this.rounding = null;
      return this;
    }

    /** How kept widths are rounded (default {@link Rounding#auto()}). */
    public Builder rounding(Rounding r) {
      this.rounding = java.util.Objects.requireNonNull(r, "rounding");
      return this;
    }

    /** The rounding asked for: {@link #rounding} or {@link #roundTo}. */
    private Rounding rounding() {
      return rounding != null ? rounding : Rounding.to(roundTo);
    }

    /**
     * Whether the prune step times the pruned model against the original on the {@link #sessions}
     * ({@link SpeedCheck}; the prune report's {@code speed}, and a warning when it is not faster),
     * at batch {@code batch} (0: 1, or the latency timing batch for a latency target). Default
     * {@link SpeedCheck.Mode#LATENCY_TARGETS}.
     */
    public Builder speedCheck(SpeedCheck.Mode mode, int batch) {
      this.speedCheck = java.util.Objects.requireNonNull(mode, "mode");
      this.speedBatch = batch;
      return this;
    }

    /** Keep what a method reached when it stops short of the target, with a warning (default false: fail). */
    public Builder keepPartial(boolean k) {
      this.keepPartial = k;
      return this;
    }

    /** Data for the data-driven criteria (default: the {@link #trainingData}). */
    public Builder calibration(Dataset d) {
      this.calibration = d;
      return this;
    }

    /** Labelled data for training-time methods, BatchNorm recalibration and fine-tuning. */
    public Builder trainingData(Dataset d) {
      this.trainingData = d;
      return this;
    }

    /** Labelled data evaluated after each stage (top-1, top-5, loss); none by default. */
    public Builder evaluation(Dataset d) {
      this.evaluation = d;
      return this;
    }

    /** Samples per batch of evaluation (default 256). */
    public Builder evalBatchSize(int n) {
      this.evalBatchSize = n;
      return this;
    }

    /** Recovery after pruning (default none). */
    public Builder recovery(Recovery r) {
      this.recovery = Objects.requireNonNull(r, "recovery");
      return this;
    }

    /** Check the pruned model against the masked original in ONNX Runtime (default false). */
    public Builder verify(boolean v) {
      this.verify = v;
      return this;
    }

    /**
     * The largest relative difference verification passes (default {@link Equivalence#TOLERANCE}).
     *
     * @throws dev.onnxprune.errors.InvalidOptionException (key {@code verifyTolerance}) unless
     *     finite and >= 0
     */
    public Builder verifyTolerance(double t) {
      Pruner.builder().verifyTolerance(t);
      this.verifyTolerance = t;
      return this;
    }

    /** Where models run (default {@link Sessions#auto()}: CUDA when present, else CPU). */
    public Builder sessions(Sessions s) {
      this.sessions = Objects.requireNonNull(s, "sessions");
      return this;
    }

    /**
     * Where the data-sharded work runs (default {@link ExecutionBackend#inProcess()}): the sums of
     * the apoz, mean, taylor and oracle criteria, BatchNorm recalibration, evaluation of each stage
     * with labels, and sensitivity analysis. Each worker opens its own sessions with
     * {@link #sessions}' settings. Fine-tuning and training-time methods stay in this JVM. The
     * caller keeps and closes the backend.
     */
    public Builder backend(ExecutionBackend b) {
      this.backend = Objects.requireNonNull(b, "backend");
      return this;
    }

    /** Seed of the random criterion, of shuffling and augmentation (default 0). */
    public Builder seed(long s) {
      this.seed = s;
      return this;
    }

    /**
     * What a padding pixel of the fine-tuning's random crop becomes, per channel: the normalised
     * black (default 0, right for data that is not normalised; see
     * {@link dev.onnxprune.runtime.Normalization#zeroPixel()}).
     */
    public Builder cropFill(float... fill) {
      this.padFill = fill.clone();
      return this;
    }

    /**
     * Measure the latency of the original and the final model at batch {@code n} and warn when the
     * final one is not faster; 0: do not (default). Both are timed at the end of the run, in turn,
     * twice each (a median of 15 runs after 3 warm-up runs; the smaller one kept), so the stages
     * heard by the listener carry no latency, the result's first and last do.
     */
    public Builder measureLatency(int n) {
      this.latencyBatch = n;
      return this;
    }

    /** Batch at which a {@link Target#latency} target's per-channel costs are timed (default 32). */
    public Builder latencyTimingBatch(int n) {
      this.latencyTimingBatch = n;
      return this;
    }

    /** Where to write the final model (default: not written; the result holds it). */
    public Builder output(Path file) {
      this.output = file;
      return this;
    }

    /** Write tensors of 1 KiB or more to a data file beside {@link #output} (default false). */
    public Builder externalData(boolean on) {
      this.externalData = on;
      return this;
    }

    /**
     * Where to write the report (default none): a {@code .json} file (or an existing regular file)
     * gets {@link PipelineResult#toJson()}; any other path is a folder that gets {@code report.json}
     * and {@code report.html} ({@link dev.onnxprune.report.HtmlReport}). See
     * {@link dev.onnxprune.report.Reports}.
     */
    public Builder report(Path file) {
      this.report = file;
      return this;
    }

    /** Hears progress, stages and warnings (default: nobody). */
    public Builder listener(Listener l) {
      this.listener = Objects.requireNonNull(l, "listener");
      return this;
    }

    /**
     * Checks the configuration as a whole, before any work.
     *
     * @throws InvalidOptionException naming the key of the first option that is missing, out of
     *     range, or does not fit the others
     */
    public PruningPipeline build() {
      if (modelFile == null && model == null) {
        throw new InvalidOptionException("model", null, "is required: a model file or a Model");
      }
      if (target == null && !recovery.any()) {
        throw new InvalidOptionException("target", null, "is required (one of Target.ratio, flops, params or latency),"
            + " unless the pipeline only recovers a model (recovery without a target)");
      }
      if (target == null && (criterion != null || criterionName != null || method != null || methodName != null
          || verify || keepPartial)) {
        throw new InvalidOptionException("target", null, "is required by "
            + (verify ? "verify" : keepPartial ? "keepPartial" : "a criterion or method") + ": there is no prune"
            + " without a target");
      }
      boolean byMethod = method != null || methodName != null;
      if (byMethod && (criterion != null || criterionName != null)) {
        throw new InvalidOptionException("method", methodName != null ? methodName : method.name(),
            "excludes a criterion (a method chooses the channels itself)");
      }
      if (methodName != null) {
        Methods.check(methodName, methodParameters);
      }
      if (!byMethod && methodParameters.any()) {
        String key = methodParameters.firstMethodOnly();
        if (key != null) {
          throw new InvalidOptionException(key, null, "applies to a training-time method only");
        }
      }
      if (criterionName != null) {
        boolean data = DataCriteria.isDataDriven(criterionName);
        if (!data) {
          Criteria.byName(criterionName, seed); // an unknown name fails here
        } else if (calibration == null && trainingData == null) {
          throw new InvalidOptionException("calibration", null, "is required by the criterion " + criterionName
              + " (it scores channels on data; labels give it the loss)");
        }
      }
      if (allocation.kind() == Allocation.Kind.SENSITIVITY) {
        if (byMethod) {
          throw new InvalidOptionException("allocation", "sensitivity", "applies to a criterion; a training-time"
              + " method chooses its own widths");
        }
        if (allocation.curves() == null && calibration == null && trainingData == null) {
          throw new InvalidOptionException("calibration", null, "is required by the sensitivity allocation (each"
              + " group pruned alone is evaluated on it; labels needed)");
        }
      }
      if (byMethod && methodName != null && trainingData == null) {
        throw new InvalidOptionException("trainingData", null, "is required by the method " + methodName
            + " (it trains while it prunes)");
      }
      if ("adversarial".equals(methodName) && evaluation == null) {
        throw new InvalidOptionException("evaluation", null, "is required by the method adversarial (it decides"
            + " whether a removal recovered by validation top-1)");
      }
      if (recovery.refit() && target == null) {
        throw new InvalidOptionException("recovery.refit", true, "needs a target: it refits the pruned layers to the"
            + " outputs of the model before pruning");
      }
      if (recovery.fineTuning() != null && target == null && teacher == null && teacherFile == null
          && (recovery.fineTuning().distillation() != null || trainingData != null && trainingData.numClasses() == 0)) {
        throw new InvalidOptionException("teacher", null, "is required to distil when nothing is pruned (by"
            + " fineTuning.distillation, or training data without labels): the unpruned model");
      }
      if ((rewindWeights != null || rewindWeightsFile != null) && recovery.fineTuning() == null) {
        throw new InvalidOptionException("rewindWeights", rewindWeightsFile, "needs fine-tuning (fineTuning.epochs):"
            + " the weights are rewound before retraining");
      }
      if (recovery.any() && trainingData == null) {
        throw new InvalidOptionException("trainingData", null, "is required by "
            + (recovery.fineTuning() != null ? "fineTuning.epochs" : recovery.recalibrateBn()
            ? "recovery.recalibrateBn" : "recovery.refit"));
      }
      InvalidOptionException.atLeast("steps", steps, 1);
      if (steps > 1) {
        if (target == null || (target.kind() != Target.Kind.FLOPS && target.kind() != Target.Kind.PARAMS)) {
          throw new InvalidOptionException("steps", steps, "needs a FLOPs or parameter target (each step removes a"
              + " share of the original's)");
        }
        if (byMethod) {
          throw new InvalidOptionException("steps", steps, "applies to a criterion, not to a training-time method");
        }
        if (allocation.kind() == Allocation.Kind.SENSITIVITY && allocation.curves() != null) {
          throw new InvalidOptionException("steps", steps, "needs sensitivity curves measured on each step's model;"
              + " give the sensitivity allocation without curves");
        }
        if (recovery.fineTuning() != null && recovery.fineTuning().checkpointDir() != null) {
          throw new InvalidOptionException("fineTuning.checkpointDir", recovery.fineTuning().checkpointDir(),
              "resumes one fine-tuning, not the several of steps > 1");
        }
      }
      InvalidOptionException.atLeast("evalBatchSize", evalBatchSize, 1);
      InvalidOptionException.atLeast("measureLatency", latencyBatch, 0);
      InvalidOptionException.atLeast("latencyTimingBatch", latencyTimingBatch, 1);
      if (externalData && output == null) {
        throw new InvalidOptionException("externalData", true, "needs an output file");
      }
      // the prune step's own checks, now rather than after reading and evaluating
      InvalidOptionException.atLeast("minChannels", minChannels, 1);
      InvalidOptionException.inHalfOpenUnit("maxGroupRatio", maxGroupRatio);
      if (rounding == null) {
        InvalidOptionException.atLeast("roundTo", roundTo, 1);
      }
      InvalidOptionException.atLeast("speedCheck.batch", speedBatch, 0);
      if (keepPartial && !byMethod && !("aofp".equals(criterionName) && criterionOptions.ownPlan())
          && !(criterion instanceof dev.onnxprune.criteria.PlanningCriterion pc && pc.plans())) {
        throw new InvalidOptionException("keepPartial", true, "applies to a training-time method and to a criterion"
            + " that chooses its own removals (AOFP with ownPlan); the allocator always meets the target");
      }
      return new PruningPipeline(this);
    }
  }
}
