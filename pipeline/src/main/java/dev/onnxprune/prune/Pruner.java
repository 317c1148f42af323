package dev.onnxprune.prune;

import dev.onnxprune.graph.pass.PassManager;
import ai.onnxruntime.OrtException;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.PlanningCriterion;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.NothingPrunableException;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.methods.MethodResult;
import dev.onnxprune.methods.TrainingMethod;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.ChannelPruningPass;
import dev.onnxprune.surgery.GroupMember;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.surgery.PrunePlan;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The pruning step: analyse channel groups, score them with a {@link Criterion} (or let a
 * {@link TrainingMethod} train and choose), allocate removals to meet a {@link Target}, apply the
 * plan, and optionally verify the result against the masked original in ONNX Runtime.
 * {@link PruningPipeline} wraps it with evaluation, recovery and writing; use this class directly
 * for the step alone.
 *
 * <pre>{@code
 * Model m = OnnxModels.read(path);
 * PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).build().prune(m);
 * OnnxModels.write(r.model(), out);
 * }</pre>
 * Data-driven criteria ({@code DataCriteria}) carry their calibration data and sessions:
 * {@code .criterion(DataCriteria.oracle(calibration, sessions))}. A {@link Target#latency}
 * target uses {@link Builder#latency} or measures a {@link LatencyModel} first (during the
 * analysing phase).
 */
public final class Pruner {
  private final Criterion criterion;
  private final TrainingMethod method;
  private final Target target;
  private final Allocation allocation;
  private final int minChannels;
  private final double maxGroupRatio;
  private final Rounding rounding;
  private final SpeedCheck.Mode speedCheck;
  private final int speedBatch;
  private final boolean verify;
  private final double verifyTolerance;
  private final boolean keepPartial;
  private final Sessions sessions;
  private final PruneProgress progress;
  private final LatencyModel latency;
  private final LatencyModel.Timer latencyTimer;

  private Pruner(Builder b) {
    this.latency = b.latency;
    this.latencyTimer = b.latencyTimer;
    this.criterion = b.method == null ? Objects.requireNonNull(b.criterion, "criterion") : null;
    this.method = b.method;
    this.target = Objects.requireNonNull(b.target, "target");
    this.allocation = b.allocation;
    this.minChannels = b.minChannels;
    this.maxGroupRatio = b.maxGroupRatio;
    this.rounding = b.rounding;
    this.speedCheck = b.speedCheck;
    this.speedBatch = b.speedBatch;
    this.verify = b.verify;
    this.verifyTolerance = b.verifyTolerance;
    this.keepPartial = b.keepPartial;
    this.sessions = b.sessions;
    this.progress = b.progress;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The name of the criterion or method, as in the report. */
  String chooser() {
    return method != null ? method.name() : criterion.name();
  }

  /** True when a training-time method chooses the channels. */
  boolean trains() {
    return method != null;
  }

  /**
   * Prunes {@code model}. With a {@link Criterion} the model is pruned in place and returned in
   * the result. With a {@link TrainingMethod} the method trains a copy, which is pruned and
   * returned; {@code model} is left as it was.
   *
   * @throws NothingPrunableException when no channel group can be pruned (or scored)
   * @throws TargetUnreachableException when the target cannot be reached, or a method stopped short
   *     of it (without {@link Builder#keepPartial})
   * @throws VerificationFailedException when {@link Builder#verify} is on and the pruned model does
   *     not compute what the masked original computes; the result is in the exception
   * @throws IOException when verification or a latency measurement cannot run the models
   */
  public PruneResult prune(Model model) throws IOException {
    long t = System.nanoTime();
    ChannelAnalysis analysis = ChannelAnalysis.analyze(model);
    requirePrunable(analysis);
    PlanCost cost = PlanCost.of(analysis);
    CostReport before = cost.baselineReport();
    long weightBytes = dev.onnxprune.graph.OnnxModels.tensorBytes(model);
    boolean timed = SpeedCheck.wanted(speedCheck, target, before.totalFlops(), weightBytes);
    int nodesBefore = model.graph().nodes().size();
    HardwareWidths.Choice widthChoice = rounding.choose(sessions);
    LatencyModel lat = latency;
    if (target.kind() == Target.Kind.LATENCY && lat == null) {
      lat = LatencyModel.measure(analysis, latencyTimer != null ? latencyTimer : LatencyModel.ort(sessions, 32, 3, 15),
          new double[] {0.75, 0.5, 0.25}, GroupWidths.of(analysis, widthChoice.multiple()));
    }
    t = done(PruneProgress.Phase.ANALYSING, t);
    // Measures a criterion's own removals against the target (scores play no part in it).
    double[][] none = new double[analysis.groups().size()][];
    analysis.prunableGroups().forEach(g -> none[g.id()] = new double[g.size()]);
    Allocator planning = new Allocator(analysis, none, cost, minChannels, maxGroupRatio, GroupWidths.exact(), lat);
    java.util.function.Predicate<Map<Integer, int[]>> reached =
        removals -> planning.reduction(removals, target) >= target.fraction();
    PlanningCriterion pc = criterion instanceof PlanningCriterion p && p.plans() ? p : null;
    if (pc != null) {
      pc.aim(reached);
    }
    double[][] scores;
    Map<Integer, int[]> chosen = null;
    String shortOfTarget = null;
    List<dev.onnxprune.methods.TrajectoryPoint> trajectory = null;
    if (method != null) {
      MethodResult mr = method.run(model, reached,
          removals -> planning.reduction(removals, target) / target.fraction());
      model = mr.model();
      analysis = ChannelAnalysis.analyze(model); // the trained copy: the same groups
      scores = mr.scores() != null ? mr.scores() : new double[analysis.groups().size()][];
      trajectory = mr.trajectory();
      chosen = mr.targetMet() ? mr.removals() : shortOf(mr.removals(), mr.stopReason());
      shortOfTarget = mr.targetMet() ? null : chooser() + " stopped before reaching " + target + "; " + mr.stopReason();
    } else {
      try {
        scores = criterion.score(analysis);
      } catch (java.io.UncheckedIOException e) {
        throw e.getCause(); // a data-driven criterion could not run the model
      }
      if (pc != null) {
        chosen = pc.chosen();
        if (chosen == null) {
          chosen = shortOf(pc.partial(), pc.stopReason());
          shortOfTarget = chooser() + " stopped before reaching " + target + "; " + pc.stopReason();
        }
      }
    }
    // the original as it is before surgery, for verification and timing: a copy sharing the
    // tensors (no weight bytes; serializing it was a second copy of the model, impossible over 2 GiB)
    Model original = verify || timed ? model.copy() : null;
    t = done(PruneProgress.Phase.SCORING, t);
    Allocator allocator;
    PruneReport.Widths widths;
    PrunePlan plan;
    String allocation = this.allocation.toString();
    if (chosen != null) {
      PrunePlan.Builder b = PrunePlan.builder(analysis);
      ChannelAnalysis a = analysis;
      chosen.forEach((g, units) -> b.remove(a.groups().get(g), units));
      plan = b.build();
      allocation = chooser();
      allocator = new Allocator(analysis, scores, cost, minChannels, maxGroupRatio, GroupWidths.exact(), lat);
      widths = new PruneReport.Widths(1, false, chooser() + " chose its own widths", 0);
    } else {
      RoundedAllocation.Result a = RoundedAllocation.allocate(analysis, scores, cost, minChannels, maxGroupRatio,
          rounding, widthChoice, lat, target, this.allocation);
      plan = a.plan();
      allocator = a.allocator();
      widths = a.widths();
    }
    List<PruneReport.Group> groups = describe(analysis, scores, plan);
    t = done(PruneProgress.Phase.ALLOCATING, t);
    PassManager.run(model, new ChannelPruningPass(plan));
    CostReport after = CostModel.analyze(model);
    double achieved = switch (target.kind()) {
      case FLOPS -> 1 - (double) after.totalFlops() / before.totalFlops();
      case PARAMS -> 1 - (double) after.totalParams() / before.totalParams();
      case RATIO -> (double) plan.removedCount() / Math.max(1, allocator.scoredChannels());
      case LATENCY -> allocator.reduction(plan.removals(), target);
    };
    t = done(PruneProgress.Phase.APPLYING, t);
    PruneReport.Verification v = null;
    if (verify) {
      try {
        v = Equivalence.check(original, plan, model, sessions, 2, 1234, verifyTolerance);
      } catch (OrtException e) {
        throw new IOException("verification could not run the models in ONNX Runtime: " + e.getMessage(), e);
      }
      t = done(PruneProgress.Phase.VERIFYING, t);
    }
    PruneReport.Speed speed = SpeedCheck.notTimed(speedCheck, before.totalFlops(), weightBytes);
    if (timed) {
      progress.starting(PruneProgress.Phase.TIMING);
      speed = SpeedCheck.ofResult(sessions, original, model,
          speedBatch > 0 ? speedBatch : target.kind() == Target.Kind.LATENCY ? 32 : 1);
      done(PruneProgress.Phase.TIMING, t);
    }
    PruneReport report = new PruneReport(chooser(), target.toString(), allocation, groups,
        totals(before, nodesBefore), totals(after, model.graph().nodes().size()), achieved, v, trajectory,
        shortOfTarget, widths, speed);
    PruneResult result = new PruneResult(model, plan, report);
    if (v != null && !v.passed()) {
      throw new VerificationFailedException(result);
    }
    return result;
  }

  /** A stopped search's partial removals, kept with {@link Builder#keepPartial}; otherwise the target is unreachable. */
  private Map<Integer, int[]> shortOf(Map<Integer, int[]> partial, String why) {
    String message = chooser() + " stopped before reaching " + target + "; " + why;
    if (!keepPartial || partial == null) {
      throw new TargetUnreachableException(message);
    }
    return partial;
  }

  /** Refuses a model without a prunable group, with every group's reason. */
  private static void requirePrunable(ChannelAnalysis analysis) {
    if (!analysis.prunableGroups().isEmpty()) {
      return;
    }
    List<String> reasons = new ArrayList<>();
    for (ChannelGroup g : analysis.groups()) {
      for (String r : g.blockReasons()) {
        reasons.add("group " + g.id() + " (" + String.join(", ", g.producers()) + "): " + r);
      }
    }
    throw new NothingPrunableException("no channel group of the model can be pruned"
        + (analysis.groups().isEmpty() ? ": the analysis found no channel producer (Conv, Gemm, MatMul)"
            : "; " + reasons.size() + " reason(s): " + String.join("; ", reasons)), reasons);
  }

  /** Tells the listener {@code phase} ended; returns the time the next phase starts. */
  private long done(PruneProgress.Phase phase, long start) {
    long now = System.nanoTime();
    progress.finished(phase, Duration.ofNanos(now - start));
    return System.nanoTime();
  }

  private static PruneReport.Totals totals(CostReport c, int nodes) {
    return new PruneReport.Totals(c.totalParams(), c.totalMacs(), c.totalFlops(), nodes, c.unknownNodes());
  }

  private static List<PruneReport.Group> describe(ChannelAnalysis a, double[][] scores, PrunePlan plan) {
    List<PruneReport.Group> out = new ArrayList<>();
    for (ChannelGroup g : a.groups()) {
      int[] removed = plan.removed(g);
      double[] s = scores[g.id()];
      PruneReport.ScoreSummary summary = s == null ? null : PruneReport.ScoreSummary.of(s, removed);
      List<String> members = new ArrayList<>();
      for (GroupMember m : g.members()) {
        members.add(m.node() + " (" + m.opType() + ", " + m.role().name().toLowerCase() + ")");
      }
      out.add(new PruneReport.Group(g.id(), g.producers(), members, g.size(), g.size() - removed.length, removed,
          summary, g.prunable(), g.blockReasons(), g.kind().name().toLowerCase(java.util.Locale.ROOT)));
    }
    return out;
  }

  /** Configures a {@link Pruner}. */
  public static final class Builder {
    private Criterion criterion = Criteria.l1();
    private TrainingMethod method;
    private Target target;
    private Allocation allocation = Allocation.uniform();
    private int minChannels = 1;
    private double maxGroupRatio = 1;
    private Rounding rounding = Rounding.auto();
    private SpeedCheck.Mode speedCheck = SpeedCheck.Mode.LATENCY_TARGETS;
    private int speedBatch;
    private boolean verify;
    private double verifyTolerance = Equivalence.TOLERANCE;
    private boolean keepPartial;
    private Sessions sessions = Sessions.cpu();
    private PruneProgress progress = PruneProgress.NONE;
    private LatencyModel latency;
    private LatencyModel.Timer latencyTimer;

    /**
     * The latency model for a {@link Target#latency} target and for global ranking by latency
     * (default: measured when needed with {@link #latencyTimer}).
     */
    public Builder latency(LatencyModel m) {
      this.latency = m;
      return this;
    }

    /**
     * How to time models when a latency model must be measured (default: ONNX Runtime with
     * {@link #sessions}, batch 32, median of 15 runs after 3 warm-up runs).
     */
    public Builder latencyTimer(LatencyModel.Timer t) {
      this.latencyTimer = t;
      return this;
    }

    /** The importance criterion (default L1); replaces a {@link #method}. */
    public Builder criterion(Criterion c) {
      this.criterion = Objects.requireNonNull(c, "criterion");
      this.method = null;
      return this;
    }

    /**
     * A training-time method that trains the model while it chooses the channels, instead of a
     * criterion; replaces a {@link #criterion}.
     */
    public Builder method(TrainingMethod m) {
      this.method = Objects.requireNonNull(m, "method");
      return this;
    }

    /** What to remove (required). */
    public Builder target(Target t) {
      this.target = t;
      return this;
    }

    /** Rank channels across groups (true) or remove the same fraction from each (false, default). */
    public Builder global(boolean g) {
      this.allocation = g ? Allocation.global() : Allocation.uniform();
      return this;
    }

    /**
     * How the target is spread over the groups (default {@link Allocation#uniform()}); a
     * sensitivity allocation needs its curves here ({@link Allocation#sensitivity(Sensitivity.Result)}),
     * which {@link PruningPipeline} measures itself.
     */
    public Builder allocation(Allocation a) {
      this.allocation = Objects.requireNonNull(a, "allocation");
      return this;
    }

    /**
     * The largest fraction of its channels any one group may lose, in (0, 1] (default 1: only
     * {@link #minChannels} limits it). Global allocation to a FLOPs or parameter target removes
     * expensive channels first; a cap keeps such a group from collapsing.
     */
    public Builder maxGroupRatio(double r) {
      this.maxGroupRatio = r;
      return this;
    }

    /** Channels every group keeps at least (default 1). */
    public Builder minChannels(int n) {
      this.minChannels = n;
      return this;
    }

    /**
     * Round kept channel counts to a multiple of {@code n}; 1 keeps exact widths. Same as
     * {@code rounding(Rounding.to(n))}.
     *
     * @throws dev.onnxprune.errors.InvalidOptionException (key {@code roundTo}) when {@code n < 1}
     */
    public Builder roundTo(int n) {
      this.rounding = Rounding.to(n);
      return this;
    }

    /**
     * How kept channel counts are rounded (default {@link Rounding#auto()}: to the multiple the
     * execution provider of {@link #sessions} runs fast, see {@link HardwareWidths}); the report's
     * {@link PruneReport#widths} says which and why.
     */
    public Builder rounding(Rounding r) {
      this.rounding = Objects.requireNonNull(r, "rounding");
      return this;
    }

    /**
     * Whether to time the pruned model against the original on {@link #sessions} after pruning,
     * at batch {@code batch} ({@link SpeedCheck}); the result is {@link PruneReport#speed}. Default:
     * for a latency target only, at the batch its default timer measures (32).
     */
    public Builder speedCheck(SpeedCheck.Mode mode, int batch) {
      this.speedCheck = Objects.requireNonNull(mode, "mode");
      this.speedBatch = dev.onnxprune.errors.InvalidOptionException.atLeast("speedCheck.batch", batch, 1);
      return this;
    }

    /**
     * When a criterion that chooses its own removals (AOFP, adversarial) stops short of the target
     * (its step budget or its thresholds), apply what it had removed by then instead of failing;
     * {@link PruneReport#shortOfTarget} then says why and {@link PruneReport#achieved} how far it
     * got. Off by default: a prune that misses its target fails.
     */
    public Builder keepPartial(boolean k) {
      this.keepPartial = k;
      return this;
    }

    /** Check the pruned model against the masked original in ONNX Runtime. */
    public Builder verify(boolean v) {
      this.verify = v;
      return this;
    }

    /**
     * The largest relative difference (to each output's largest magnitude) that verification
     * passes, default {@link Equivalence#TOLERANCE}; e.g. larger for float16 models.
     *
     * @throws dev.onnxprune.errors.InvalidOptionException (key {@code verifyTolerance}) unless
     *     finite and >= 0
     */
    public Builder verifyTolerance(double t) {
      if (!(t >= 0 && t < Double.POSITIVE_INFINITY)) {
        throw new dev.onnxprune.errors.InvalidOptionException("verifyTolerance", t, "must be >= 0 and finite");
      }
      this.verifyTolerance = t;
      return this;
    }

    /** Sessions (device, threads) used for verification and latency measurement. */
    public Builder sessions(Sessions s) {
      this.sessions = s;
      return this;
    }

    /** Told when each phase of {@link #prune} ends, with its wall time (default: nobody). */
    public Builder progress(PruneProgress p) {
      this.progress = Objects.requireNonNull(p, "progress");
      return this;
    }

    /**
     * @throws InvalidOptionException naming {@code target}, {@code minChannels},
     *     {@code maxGroupRatio}, {@code roundTo}, {@code keepPartial} or {@code allocation} when its
     *     value is not accepted
     */
    public Pruner build() {
      InvalidOptionException.atLeast("minChannels", minChannels, 1);
      InvalidOptionException.inHalfOpenUnit("maxGroupRatio", maxGroupRatio);
      if (target == null) {
        throw new InvalidOptionException("target", null, "is required: one of Target.ratio, flops, params or latency");
      }
      if (keepPartial && method == null && !(criterion instanceof PlanningCriterion p && p.plans())) {
        throw new InvalidOptionException("keepPartial", true, "applies to a training-time method and to a criterion"
            + " that chooses its own removals (AOFP with ownPlan); the allocator always meets the target");
      }
      if (allocation.kind() == Allocation.Kind.SENSITIVITY && allocation.curves() == null) {
        throw new InvalidOptionException("allocation", "sensitivity", "needs the curves here:"
            + " Allocation.sensitivity(Sensitivity.Result); PruningPipeline measures them on its calibration data");
      }
      if (allocation.kind() == Allocation.Kind.SENSITIVITY && method != null) {
        throw new InvalidOptionException("allocation", "sensitivity", "applies to a criterion; a training-time"
            + " method chooses its own widths");
      }
      return new Pruner(this);
    }
  }
}
