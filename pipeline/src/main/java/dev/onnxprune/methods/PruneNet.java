package dev.onnxprune.methods;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.internal.Budget;
import dev.onnxprune.criteria.PlanningCriterion;
import dev.onnxprune.prune.LatencyModel;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.training.BatchNormMode;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * PruneNet global channel pruning (Khetan and Karnin, "PruneNet: Channel Pruning via Global
 * Importance", {@code papers/prunenet-global-channel-pruning.txt}): a cost-weighted L1 on the
 * BatchNormalization scales, optimised with the statistics and convolutions fixed, alternating
 * with step-wise pruning and an unregularised recovery phase until the pruner's target is met.
 * Use it through {@link Pruner} (it chooses its own removals; the pruner aims it at the target).
 *
 * <p><b>One step</b> (repeated until the target holds; every step removes at least one channel):
 * <ol>
 *   <li><b>Regularised phase</b> (Sec. 4.3, eq. 6; Sec. 5.1). BatchNormalization runs on its
 *       running statistics, fixed as constants, and every Conv/ConvTranspose weight and bias is a
 *       constant; BN scale and shift and the other layers (Gemm/MatMul) are trained. Each step is
 *       a plain gradient step on the data loss (SGD, no momentum, no weight decay) followed by the
 *       proximal step of the regulariser {@code lambda * sum_c w_c * |x_c|} (proximal gradient
 *       descent): {@code x_c <- sign(x_c) * max(|x_c| - lr * lambda * w_c, 0)}.
 *   <li><b>What is regularised.</b> A group with one BatchNormalization covering its channels:
 *       that BN's gamma ({@code x_c = gamma_c}). A group whose channels several BNs produce
 *       (residual adds, Sec. 5.1): one shared mask {@code m_c}, initially 1, multiplying the
 *       channel where it enters every consumer; its gradient is the loss gradient with respect to
 *       the mask input, and after the phase it is folded into the consumers' input weights
 *       (exact: the consumers are linear), so all the group's BNs are pruned identically.
 *   <li><b>Weights</b> {@code w_c = cost_c * ||W_out,c|| * G_c}: {@code cost_c} is what removing
 *       one channel of the group saves (FLOPs, parameters, or measured seconds per channel from a
 *       {@link LatencyModel}), marginal at the removals made so far and divided by its mean over
 *       the kept channels so lambda is unit-free; {@code ||W_out,c||} is the L2 norm of every
 *       consumer weight reading channel c (Sec. 4.1: the paper rescales those weights to unit norm
 *       and moves the scalar into gamma, so its L1 acts on {@code |gamma_c| * ||W_out,c||}); G_c
 *       is {@code sqrt(sum over the group's BNs of gamma^2)} for a masked group, 1 otherwise.
 *   <li><b>Importance</b> (Sec. 4.1, eq. 3): {@code |gamma_c| * ||W_out,c||}, or
 *       {@code |m_c| * G_c * ||W_out,c||} for a masked group.
 *   <li><b>Pruning step</b> (Sec. 4.4): kept channels are ranked by importance across all groups;
 *       the lowest go until the objective's cost falls by {@link Options#stepFraction} of its
 *       current value (all the way to the target when less than half a step would be left), and
 *       every channel whose importance reached zero goes too; never past the point where the
 *       pruner's target holds, and every group keeps its most important channel.
 *       Removed channels get gamma 0 in every BN over them and mask 0 from then on.
 *   <li><b>Recovery phase</b> (Sec. 4.4, eq. 7): the unregularised loss with BN on batch
 *       statistics (running statistics updated), SGD with momentum 0.9 and no weight decay. As in
 *       the paper the convolutions stay fixed ("the number of parameters here is small"; all
 *       weights are fine-tuned only after pruning) unless {@link Options#recoverConvolutions}.
 * </ol>
 * Each phase lasts {@link Options#regularisedSteps}/{@link Options#recoverySteps} optimizer steps
 * (one epoch by default, as in the paper). When {@link Options#maxSteps} optimizer steps have run
 * (or the {@link Options#timeBudget} is spent), the last step goes straight to the target by the current importance, without training.
 *
 * <p><b>Trajectory</b> (each point also goes to the setup's listener): {@code start} (the model as
 * given), {@code regularise} (after each regularised phase: trained gammas, masks not yet folded,
 * nothing removed yet), {@code prune} (after each pruning step, before recovery: BN still on the
 * statistics of the unpruned network, so accuracy dips), {@code recover} (after each recovery
 * phase) and {@code end}; steps count optimizer steps, accuracy is top-1 on the validation data.
 *
 * <p><b>Deviations.</b> The proximal gradient step is taken in the model's own coordinates: the
 * penalty is the paper's, but each channel's step size is the paper's times
 * {@code ||W_out,c||^2} (same objective, same fixed points; nothing in the model is rescaled). A
 * masked group's L1 is weighted by G_c so its penalty is its importance times its cost, like a
 * single-BN group's (the paper regularises the mask but says nothing of how masks and gammas
 * compare). A channel whose gamma is 0 still emits its constant shift; the paper notes that the
 * next layer can absorb it; here the recovery phase does. A group with no BN over its channels
 * (in a model that has BNs) is regularised through its mask with G_c = 1. A group whose
 * consumers' weights cannot be read (not a Conv, ConvTranspose, Gemm or constant MatMul input)
 * gets the norm 1 and, when it would need a mask, is not pruned. Costs are marginal at the
 * current removals (the paper defines them against the full network: the same at the first step).
 * The paper cuts the cost by a fixed factor in each of T steps; here each step cuts a fraction of
 * the current cost (the same geometric schedule, given as the fraction because the pruner gives
 * the target as a test, not a number). BN shift is trained with the scale in the regularised
 * phase (the paper's BN parameters; its eq. 6 names only the scale as what the objective depends
 * on). The optimizers (plain SGD, then SGD with momentum) are not given in the paper.
 *
 * <p><b>Scores.</b> {@link #score} returns each kept channel's final importance (>= 0) and -1 for
 * removed ones, and writes the trained parameters into the model (removed channels' gammas 0,
 * masks folded into the consumers), so the masked model computes what the pruned model will.
 */
public final class PruneNet extends PlanningMethod {
  /** What the per-channel costs of the regulariser and the step size measure (GCP-f, GCP-p, GCP-latency). */
  public enum Objective {
    FLOPS,
    PARAMS,
    LATENCY;

    /**
     * The objective called {@code name} ({@code flops}, {@code params} or {@code latency}, any case).
     *
     * @throws IllegalArgumentException naming the bad value and the choices
     */
    public static Objective byName(String name) {
      for (Objective o : values()) {
        if (o.name().equalsIgnoreCase(name)) {
          return o;
        }
      }
      throw new dev.onnxprune.errors.InvalidOptionException("prunenet.objective", name, "must be flops, params or latency");
    }
  }

  /** The method's settings; every one has a default. */
  public static final class Options {
    private Objective objective = Objective.FLOPS;
    private double lambda = 0.002;
    private double regularisedLr = 0.1;
    private double recoveryLr = 0.01;
    private double stepFraction = 0.2;
    private int regularisedSteps;
    private int recoverySteps;
    private long maxSteps = 10_000;
    private java.time.Duration timeBudget;
    private boolean recoverConvolutions;
    private LatencyModel latency;

    /** The cost the regulariser weights channels by and each step reduces (default FLOPS). */
    public Options objective(Objective o) {
      this.objective = Objects.requireNonNull(o, "objective");
      return this;
    }

    /**
     * Strength of the cost-weighted L1 (costs normalised to mean 1 over the kept channels; default
     * 0.002: on the resnet20 fixture, 0.005 costs 2 points of top-1 at half the FLOPs and 0.05
     * drives every scale to 0 within one epoch).
     */
    public Options lambda(double l) {
      this.lambda = InvalidOptionException.nonNegative("prunenet.lambda", l);
      return this;
    }

    /** Learning rate of the regularised phase's gradient and proximal steps (plain SGD; default 0.1). */
    public Options regularisedLr(double lr) {
      this.regularisedLr = InvalidOptionException.learningRate("prunenet.regularisedLearningRate", lr, false);
      return this;
    }

    /** Learning rate of the recovery phase (default 0.01). */
    public Options recoveryLr(double lr) {
      this.recoveryLr = InvalidOptionException.learningRate("method.learningRate", lr, false);
      return this;
    }

    /** Fraction of the objective's current cost each pruning step removes, in (0, 1) (default 0.2). */
    public Options stepFraction(double f) {
      this.stepFraction = InvalidOptionException.inOpenUnit("prunenet.stepFraction", f);
      return this;
    }

    /** Optimizer steps per regularised phase; 0 (default) for one epoch of the training data. */
    public Options regularisedSteps(int n) {
      this.regularisedSteps = InvalidOptionException.atLeast("prunenet.regularisedSteps", n, 0);
      return this;
    }

    /** Optimizer steps per recovery phase; 0 (default) for one epoch of the training data. */
    public Options recoverySteps(int n) {
      this.recoverySteps = InvalidOptionException.atLeast("prunenet.recoverySteps", n, 0);
      return this;
    }

    /**
     * Budget of optimizer steps over all phases (default 10000). Once spent, the method prunes
     * the rest of the way to the target by the current importance, without training.
     */
    public Options maxSteps(long n) {
      this.maxSteps = InvalidOptionException.atLeast("method.maxSteps", n, 0);
      return this;
    }

    /**
     * A budget in wall time besides {@link #maxSteps} (default none; key {@code method.maxSeconds}):
     * once spent, the phase under way ends and, like at the step budget, the method prunes the
     * rest of the way to the target by the current importance, without training.
     */
    public Options timeBudget(java.time.Duration d) {
      this.timeBudget = Methods.timeBudget(d);
      return this;
    }

    public java.time.Duration timeBudget() {
      return timeBudget;
    }

    /** Train the convolutions in the recovery phase too (default false, as in the paper). */
    public Options recoverConvolutions(boolean on) {
      this.recoverConvolutions = on;
      return this;
    }

    /** The latency model for {@link Objective#LATENCY} (default: measured on the method's sessions). */
    public Options latency(LatencyModel m) {
      this.latency = m;
      return this;
    }

    public Objective objective() {
      return objective;
    }

    public double lambda() {
      return lambda;
    }

    public double regularisedLr() {
      return regularisedLr;
    }

    public double recoveryLr() {
      return recoveryLr;
    }

    public double stepFraction() {
      return stepFraction;
    }

    public int regularisedSteps() {
      return regularisedSteps;
    }

    public int recoverySteps() {
      return recoverySteps;
    }

    public long maxSteps() {
      return maxSteps;
    }

    public boolean recoverConvolutions() {
      return recoverConvolutions;
    }

    public LatencyModel latency() {
      return latency;
    }
  }

  private final MethodSetup setup;
  private final Options options;

  private PruneNet(MethodSetup setup, Options options) {
    this.setup = Objects.requireNonNull(setup, "setup");
    this.options = Objects.requireNonNull(options, "options");
  }

  /** PruneNet training on {@code setup}'s data and sessions with {@code options}. */
  public static PruneNet create(MethodSetup setup, Options options) {
    return new PruneNet(setup, options);
  }

  @Override
  public String name() {
    return "prunenet";
  }

  /**
   * Runs the method (see the class comment) and writes the trained parameters into
   * {@code analysis.model()}.
   *
   * @throws IllegalStateException when the method was not aimed at a target ({@link Pruner} does it)
   * @throws IllegalArgumentException when the model has no BatchNormalization over a prunable group, or the
   *     target cannot be reached with one channel left in every group
   * @throws UncheckedIOException when ONNX Runtime fails (or the latency cannot be measured)
   */
  /** PruneNet fails rather than stopping short (see {@link #train}); it never reports a stop. */
  @Override
  String stopReason() {
    return "every group is down to one channel";
  }

  @Override
  double[][] train(ChannelAnalysis analysis) {
    if (reached == null) {
      throw new IllegalStateException("prunenet chooses its own removals against a target: give run() the"
          + " target's test (the Pruner does)");
    }
    return new Run(analysis).run();
  }

  // ---------------------------------------------------------------- the run

  /** Regularised through the BN's gamma, or through a mask shared by the group's BNs. */
  enum Kind {
    GAMMA,
    MASK
  }

  /** A BatchNormalization over some of a group's channels: {@code units[p]} for each position, -1 for another group's. */
  record BnSlice(Node node, int[] units) {}

  /**
   * A consumer input's weight: per position p of the input (its group and unit), the flat
   * indices of the weight elements that read it.
   */
  record WeightSlice(Node node, int[] groups, int[] units, int[][] elements) {}

  /** How one prunable group is regularised. */
  static final class GroupState {
    final ChannelGroup group;
    final Kind kind;
    final List<BnSlice> bns;
    /** The group's consumer weights can all be read (their norms are known). */
    final boolean readable;
    final boolean[] removed;

    GroupState(ChannelGroup group, Kind kind, List<BnSlice> bns, boolean readable) {
      this.group = group;
      this.kind = kind;
      this.bns = bns;
      this.readable = readable;
      this.removed = new boolean[group.size()];
    }

    int id() {
      return group.id();
    }
  }

  private final class Run {
    private final ChannelAnalysis analysis;
    private final Model model;
    private final PlanCost cost;
    private final long baseFlops;
    private final List<GroupState> groups = new ArrayList<>();
    private final List<WeightSlice> slices = new ArrayList<>();
    private final LatencyModel latency;
    private final TrainingData data;
    private final long start = System.nanoTime();
    private final Budget clock;
    private long steps;
    private int phase;
    private boolean started;

    Run(ChannelAnalysis analysis) {
      this.analysis = analysis;
      this.model = analysis.model();
      this.cost = PlanCost.of(analysis);
      this.baseFlops = cost.baseline().flops();
      describe(analysis, groups, slices);
      this.latency = options.objective() == Objective.LATENCY ? latencyModel(analysis) : null;
      this.data = TrainingData.of(setup.train());
      this.clock = new Budget(Math.max(1, options.maxSteps()), options.timeBudget());
    }

    double[][] run() {
      if (options.maxSteps() == 0) {
        try (MaskedTraining mt = new MaskedTraining(analysis, phaseSetup(), recoveryOptions(), false, data)) {
          startPoint(mt);
        }
      }
      while (!reached.test(removals())) {
        long budget = clock.outOfTime() ? 0 : options.maxSteps() - steps;
        Map<Integer, int[]> step;
        if (budget > 0) {
          step = regulariseAndPrune(budget);
        } else {
          double[][] imp = importance(this::modelGamma, null);
          step = select(imp, true);
          if (!step.isEmpty()) {
            apply(step);
            zeroGammasInModel(step);
          }
        }
        if (step.isEmpty()) {
          break; // every group is down to one channel and the target still does not hold
        }
        recover();
      }
      Map<Integer, int[]> removals = removals();
      if (!reached.test(removals)) {
        throw new dev.onnxprune.errors.TargetUnreachableException(String.format(java.util.Locale.ROOT, Messages.UNREACHABLE,
            cost.evaluate(removals).flops() / (double) baseFlops));
      }
      chosen = removals;
      TrajectoryPoint last = trajectory.isEmpty() ? null : trajectory.get(trajectory.size() - 1);
      point("end", last == null ? Double.NaN : last.loss(), last == null ? null : last.accuracy());
      double[][] scores = new double[analysis.groups().size()][];
      double[][] imp = importance(this::modelGamma, null);
      for (GroupState g : groups) {
        double[] s = new double[g.group.size()];
        for (int u = 0; u < s.length; u++) {
          s[u] = g.removed[u] ? -1 : imp[g.id()][u];
        }
        scores[g.id()] = s;
      }
      return scores;
    }

    /** A regularised phase on the current model, then a pruning step; returns what it removed. */
    private Map<Integer, int[]> regulariseAndPrune(long budget) {
      long n = options.regularisedSteps() > 0 ? options.regularisedSteps() : epochSteps();
      n = Math.min(n, budget);
      try (MaskedTraining reg = new MaskedTraining(analysis, phaseSetup(), regularisedOptions(), true, data)) {
        feedMasks(reg);
        startPoint(reg);
        double[][] w = regulariserWeights();
        float[][] masks = new float[analysis.groups().size()][];
        for (GroupState g : groups) {
          if (g.kind == Kind.MASK) {
            masks[g.id()] = reg.mask(g.id());
          }
        }
        double lr = options.regularisedLr();
        double lambda = options.lambda();
        double[] losses = new double[(int) Math.max(1, Math.min(n, 20))];
        Arrays.fill(losses, Double.NaN);
        for (long t = 0; t < n && !clock.outOfTime(); t++) {
          losses[(int) (t % losses.length)] = reg.step(lr).loss();
          steps++;
          // proximal step of the cost-weighted L1 (PruneNet Sec. 5.1, proximal gradient descent)
          for (GroupState g : groups) {
            if (g.kind == Kind.GAMMA) {
              BnSlice bn = g.bns.get(0);
              String name = bn.node().input(1).name();
              float[] gamma = reg.session().get(name);
              float[] out = gamma.clone();
              for (int p = 0; p < gamma.length; p++) {
                int u = bn.units()[p];
                if (u >= 0) {
                  out[p] = g.removed[u] ? 0f : proximal(gamma[p], lr * lambda * w[g.id()][u]);
                }
              }
              setState(reg, name, out);
            } else {
              float[] m = masks[g.id()];
              float[] grad = reg.maskGradient(g.id());
              for (int u = 0; u < m.length; u++) {
                m[u] = g.removed[u] ? 0f : proximal(m[u] - (float) (lr * grad[u]), lr * lambda * w[g.id()][u]);
              }
              reg.setMask(g.id(), m);
            }
          }
        }
        if (n > 0) {
          point("regularise", Arrays.stream(losses).average().orElse(Double.NaN), reg.validate());
        }
        Function<Node, float[]> gammaOf = bn -> reg.session().get(bn.input(1).name());
        double[][] imp = importance(gammaOf, masks);
        Map<Integer, int[]> step = select(imp, false);
        apply(step);
        // removed channels: gamma 0 in every BN over them (Sec. 4.4: "we set their value to zero")
        for (GroupState g : groups) {
          for (BnSlice bn : g.bns) {
            String name = bn.node().input(1).name();
            float[] gamma = reg.session().get(name);
            boolean changed = false;
            for (int p = 0; p < gamma.length; p++) {
              int u = bn.units()[p];
              if (u >= 0 && g.removed[u] && gamma[p] != 0f) {
                gamma[p] = 0f;
                changed = true;
              }
            }
            if (changed) {
              setState(reg, name, gamma);
            }
          }
        }
        reg.writeBack();
        foldMasks(masks);
        return step;
      }
    }

    /** The recovery phase on the current model with the current removals (also validates after pruning). */
    private void recover() {
      long n = options.recoverySteps() > 0 ? options.recoverySteps() : epochSteps();
      n = Math.min(n, options.maxSteps() - steps);
      try (MaskedTraining rec = new MaskedTraining(analysis, phaseSetup(), recoveryOptions(), false, data)) {
        feedMasks(rec);
        startPoint(rec);
        point("prune", Double.NaN, rec.validate());
        if (n <= 0) {
          return;
        }
        double[] losses = new double[(int) Math.min(n, 20)];
        for (long t = 0; t < n && !clock.outOfTime(); t++) {
          losses[(int) (t % losses.length)] = rec.step(options.recoveryLr()).loss();
          steps++;
        }
        rec.writeBack();
        point("recover", Arrays.stream(losses).average().orElse(Double.NaN), rec.validate());
      }
    }

    private long epochSteps() {
      return Math.max(1, data.count() / Math.min(setup.batchSize(), data.count()));
    }

    /** The setup of the next phase: its own seed, so phases see different batches. */
    private MethodSetup phaseSetup() {
      phase++;
      return new MethodSetup(setup.train(), setup.validation(), setup.sessions()).batchSize(setup.batchSize())
          .seed(setup.seed() * 1_000_003L + phase).augmentation(setup.augmentation())
          .validationLimit(setup.validationLimit());
    }

    private TrainingOptions.Builder regularisedOptions() {
      return TrainingOptions.builder().optimizer(new Optimizer.Sgd(0, 0, false, 0))
          .batchNormMode(BatchNormMode.INFERENCE).freeze(convolutionParameters(model));
    }

    private TrainingOptions.Builder recoveryOptions() {
      TrainingOptions.Builder b = TrainingOptions.builder().optimizer(new Optimizer.Sgd(0.9, 0, false, 0))
          .batchNormMode(BatchNormMode.TRAINING);
      if (!options.recoverConvolutions()) {
        b.freeze(convolutionParameters(model));
      }
      return b;
    }

    private void feedMasks(MaskedTraining mt) {
      for (GroupState g : groups) {
        float[] m = new float[g.group.size()];
        boolean any = false;
        for (int u = 0; u < m.length; u++) {
          m[u] = g.removed[u] ? 0f : 1f;
          any |= g.removed[u];
        }
        if (any) {
          mt.setMask(g.id(), m);
        }
      }
    }

    private void startPoint(MaskedTraining mt) {
      if (!started) {
        started = true;
        point("start", Double.NaN, mt.validate());
      }
    }

    private void point(String event, double loss, Double accuracy) {
      Map<Integer, int[]> removals = removals();
      long f = cost.evaluate(removals).flops();
      Map<Integer, Integer> widths = new LinkedHashMap<>();
      for (ChannelGroup g : analysis.prunableGroups()) {
        int[] r = removals.get(g.id());
        widths.put(g.id(), g.size() - (r == null ? 0 : r.length));
      }
      TrajectoryPoint p = new TrajectoryPoint(steps, event, (System.nanoTime() - start) / 1e9, f,
          (double) f / baseFlops, widths, loss, accuracy);
      trajectory.add(p);
      setup.listener().accept(p);
    }

    private Map<Integer, int[]> removals() {
      Map<Integer, int[]> out = new LinkedHashMap<>();
      for (GroupState g : groups) {
        int[] r = java.util.stream.IntStream.range(0, g.removed.length).filter(u -> g.removed[u]).toArray();
        if (r.length > 0) {
          out.put(g.id(), r);
        }
      }
      return out;
    }

    private void apply(Map<Integer, int[]> step) {
      for (GroupState g : groups) {
        int[] r = step.get(g.id());
        if (r != null) {
          for (int u : r) {
            g.removed[u] = true;
          }
        }
      }
    }

    /** w_c = cost_c * ||W_out,c|| (* G_c for a masked group), per group id then unit. */
    private double[][] regulariserWeights() {
      double[] c = normalisedCosts(channelCosts(analysis, cost, options.objective(), latency, removals()));
      double[][] s = outgoingNorms(analysis, slices, groups);
      double[][] w = new double[analysis.groups().size()][];
      for (GroupState g : groups) {
        double[] gn = g.kind == Kind.MASK ? bnNorms(g, this::modelGamma) : null;
        w[g.id()] = new double[g.group.size()];
        for (int u = 0; u < w[g.id()].length; u++) {
          w[g.id()][u] = c[g.id()] * s[g.id()][u] * (gn == null ? 1 : gn[u]);
        }
      }
      return w;
    }

    /** Costs divided by their mean over the kept channels of the regularised groups. */
    private double[] normalisedCosts(double[] raw) {
      double sum = 0;
      long n = 0;
      for (GroupState g : groups) {
        for (boolean r : g.removed) {
          if (!r) {
            sum += raw[g.id()];
            n++;
          }
        }
      }
      double mean = n == 0 ? 0 : sum / n;
      double[] out = new double[raw.length];
      for (int i = 0; i < raw.length; i++) {
        out[i] = mean > 0 ? raw[i] / mean : 1;
      }
      return out;
    }

    /** Importance per group id then unit (Sec. 4.1); {@code masks} null means every kept mask is 1. */
    private double[][] importance(Function<Node, float[]> gammaOf, float[][] masks) {
      double[][] s = outgoingNorms(analysis, slices, groups);
      double[][] out = new double[analysis.groups().size()][];
      for (GroupState g : groups) {
        double[] gn = bnNorms(g, gammaOf);
        double[] imp = new double[g.group.size()];
        for (int u = 0; u < imp.length; u++) {
          double m = g.kind == Kind.MASK && masks != null ? Math.abs(masks[g.id()][u]) : 1;
          imp[u] = g.removed[u] ? 0 : m * gn[u] * s[g.id()][u];
        }
        out[g.id()] = imp;
      }
      return out;
    }

    /** sqrt(sum of gamma^2 over the group's BNs) per unit (|gamma| for a GAMMA group); 1 without BN. */
    private double[] bnNorms(GroupState g, Function<Node, float[]> gammaOf) {
      double[] sq = new double[g.group.size()];
      if (g.bns.isEmpty()) {
        Arrays.fill(sq, 1);
        return sq;
      }
      for (BnSlice bn : g.bns) {
        float[] gamma = gammaOf.apply(bn.node());
        for (int p = 0; p < gamma.length; p++) {
          int u = bn.units()[p];
          if (u >= 0) {
            sq[u] += (double) gamma[p] * gamma[p];
          }
        }
      }
      for (int u = 0; u < sq.length; u++) {
        sq[u] = Math.sqrt(sq[u]);
      }
      return sq;
    }

    private float[] modelGamma(Node bn) {
      Value v = root(bn.input(1));
      if (v == null) {
        throw new IllegalStateException("the scale of " + bn.describe() + " is not a constant");
      }
      return v.initializer().toFloatArray();
    }

    /**
     * The pruning step (Sec. 4.4): kept channels by increasing importance (ties: costlier
     * first); enough to cut the objective's cost by the step fraction, at least every zero and
     * one channel, never past the target. {@code toTarget} ignores the step fraction.
     */
    private Map<Integer, int[]> select(double[][] importance, boolean toTarget) {
      double[] unitCost = channelCosts(analysis, cost, options.objective(), latency, removals());
      record Unit(int group, int unit, double importance, double cost) {}
      List<Unit> order = new ArrayList<>();
      for (GroupState g : groups) {
        double[] imp = importance[g.id()];
        int best = -1;
        for (int u = 0; u < imp.length; u++) {
          if (!g.removed[u] && (best < 0 || imp[u] > imp[best])) {
            best = u;
          }
        }
        for (int u = 0; u < imp.length; u++) {
          if (!g.removed[u] && u != best) {
            order.add(new Unit(g.id(), u, imp[u], unitCost[g.id()]));
          }
        }
      }
      if (order.isEmpty()) {
        return Map.of();
      }
      order.sort(Comparator.<Unit>comparingDouble(Unit::importance)
          .thenComparing(Comparator.<Unit>comparingDouble(Unit::cost).reversed())
          .thenComparingInt(Unit::group).thenComparingInt(Unit::unit));
      List<int[]> ranked = order.stream().map(u -> new int[] {u.group(), u.unit()}).toList();
      Map<Integer, int[]> current = removals();
      int n = ranked.size();
      int k = n;
      int toReach = firstTrue(n, i -> reached.test(plus(current, ranked, i)));
      if (!toTarget) {
        double now = measure(current);
        double goal = now * (1 - options.stepFraction());
        k = firstTrue(n, i -> measure(plus(current, ranked, i)) <= goal);
        int zeros = (int) order.stream().filter(u -> u.importance() == 0).count();
        k = Math.max(k, zeros);
        // a step that would leave less than half a step to the target goes all the way
        double further = now * Math.pow(1 - options.stepFraction(), 1.5);
        if (reached.test(plus(current, ranked, firstTrue(n, i -> measure(plus(current, ranked, i)) <= further)))) {
          k = toReach;
        }
      }
      k = Math.max(1, Math.min(k, toReach));
      return plus(Map.of(), ranked, k);
    }

    /** The objective's cost with {@code removals} made. */
    private double measure(Map<Integer, int[]> removals) {
      return switch (options.objective()) {
        case FLOPS -> cost.evaluate(removals).flops();
        case PARAMS -> cost.evaluate(removals).params();
        case LATENCY -> latency.predictSeconds(removals);
      };
    }

    /** Zeroes the gammas of {@code step}'s channels in the model (when no session is open). */
    private void zeroGammasInModel(Map<Integer, int[]> step) {
      for (GroupState g : groups) {
        if (!step.containsKey(g.id())) {
          continue;
        }
        for (BnSlice bn : g.bns) {
          Value v = root(bn.node().input(1));
          float[] gamma = v.initializer().toFloatArray();
          for (int p = 0; p < gamma.length; p++) {
            int u = bn.units()[p];
            if (u >= 0 && g.removed[u]) {
              gamma[p] = 0f;
            }
          }
          setInput(model, bn.node(), 1, Tensor.ofFloats(v.initializer().dims(), gamma));
        }
      }
    }

    /** Multiplies each consumer weight reading a kept masked channel by its mask (then the mask is 1 again). */
    private void foldMasks(float[][] masks) {
      Map<Node, float[]> changed = new LinkedHashMap<>();
      for (WeightSlice s : slices) {
        float[] w = null;
        for (int p = 0; p < s.groups().length; p++) {
          float[] m = masks[s.groups()[p]];
          if (m == null || m[s.units()[p]] == 1f || groupState(s.groups()[p]).removed[s.units()[p]]) {
            continue;
          }
          if (w == null) {
            w = changed.computeIfAbsent(s.node(), n -> root(n.input(1)).initializer().toFloatArray());
          }
          float f = m[s.units()[p]];
          for (int e : s.elements()[p]) {
            w[e] *= f;
          }
        }
      }
      for (Map.Entry<Node, float[]> e : changed.entrySet()) {
        long[] dims = root(e.getKey().input(1)).initializer().dims();
        setInput(model, e.getKey(), 1, Tensor.ofFloats(dims, e.getValue()));
      }
    }

    private GroupState groupState(int id) {
      for (GroupState g : groups) {
        if (g.id() == id) {
          return g;
        }
      }
      throw new IllegalArgumentException("group " + id + " is not regularised");
    }

    private LatencyModel latencyModel(ChannelAnalysis a) {
      if (options.latency() != null) {
        return options.latency();
      }
      try {
        return LatencyModel.measure(a, LatencyModel.ort(setup.sessions(), 32, 3, 15));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  // ---------------------------------------------------------------- pieces (package-private for tests)

  /** The proximal operator of {@code t * |x|}: {@code sign(x) * max(|x| - t, 0)} (soft thresholding). */
  static float proximal(float x, double t) {
    double a = Math.abs(x) - t;
    return a <= 0 ? 0f : (float) Math.copySign(a, x);
  }

  /**
   * Soft thresholding of {@code values} with per-entry costs: {@code x_c <- sign(x_c) *
   * max(|x_c| - lr * lambda * weights_c, 0)}.
   */
  static float[] proximal(float[] values, double lr, double lambda, double[] weights) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = proximal(values[i], lr * lambda * weights[i]);
    }
    return out;
  }

  /**
   * What removing one more channel of each group saves under {@code objective}, given {@code
   * removals} already made: FLOPs or parameters by the cost model ({@link PlanCost}), or the
   * latency model's seconds per channel. Indexed by group id; 0 for unprunable groups.
   */
  static double[] channelCosts(ChannelAnalysis a, PlanCost cost, Objective objective, LatencyModel latency,
      Map<Integer, int[]> removals) {
    double[] out = new double[a.groups().size()];
    PlanCost.Costs now = objective == Objective.LATENCY ? null : cost.evaluate(removals);
    for (ChannelGroup g : a.prunableGroups()) {
      if (objective == Objective.LATENCY) {
        if (latency == null) {
          throw new IllegalArgumentException("the latency objective needs a latency model (measured per channel)");
        }
        out[g.id()] = latency.perChannelSeconds(g.id());
        continue;
      }
      int[] r = removals.getOrDefault(g.id(), new int[0]);
      Set<Integer> gone = new LinkedHashSet<>();
      for (int u : r) {
        gone.add(u);
      }
      int unit = 0;
      while (unit < g.size() && gone.contains(unit)) {
        unit++;
      }
      if (unit == g.size()) {
        continue;
      }
      Map<Integer, int[]> more = new LinkedHashMap<>(removals);
      int[] plus = Arrays.copyOf(r, r.length + 1);
      plus[r.length] = unit;
      more.put(g.id(), plus);
      PlanCost.Costs after = cost.evaluate(more);
      out[g.id()] = objective == Objective.FLOPS ? now.flops() - after.flops() : now.params() - after.params();
    }
    return out;
  }

  /**
   * ||W_out,c||: the L2 norm of every consumer weight element reading unit c, per group id then
   * unit; 1 for every unit of a group with an unreadable consumer.
   */
  static double[][] outgoingNorms(ChannelAnalysis a, List<WeightSlice> slices, List<GroupState> groups) {
    double[][] sq = new double[a.groups().size()][];
    for (GroupState g : groups) {
      sq[g.id()] = new double[g.group.size()];
    }
    for (WeightSlice s : slices) {
      float[] w = root(s.node().input(1)).initializer().toFloatArray();
      for (int p = 0; p < s.groups().length; p++) {
        double[] acc = sq[s.groups()[p]];
        if (acc == null) {
          continue;
        }
        double sum = 0;
        for (int e : s.elements()[p]) {
          sum += (double) w[e] * w[e];
        }
        acc[s.units()[p]] += sum;
      }
    }
    for (GroupState g : groups) {
      double[] v = sq[g.id()];
      for (int u = 0; u < v.length; u++) {
        v[u] = g.readable ? Math.sqrt(v[u]) : 1;
      }
    }
    return sq;
  }

  /**
   * Classifies the prunable groups (GAMMA, MASK, or left out) and reads the consumer weights.
   *
   * @throws IllegalArgumentException when no prunable group has a BatchNormalization
   */
  static void describe(ChannelAnalysis a, List<GroupState> groups, List<WeightSlice> slices) {
    Set<Integer> unreadable = new LinkedHashSet<>();
    for (ChannelAnalysis.ConsumerInput ci : a.consumerInputs()) {
      WeightSlice s = weightSlice(ci);
      if (s == null) {
        for (int g : ci.groups()) {
          unreadable.add(g);
        }
      } else {
        slices.add(s);
      }
    }
    boolean anyBn = false;
    for (ChannelGroup g : a.prunableGroups()) {
      List<BnSlice> bns = new ArrayList<>();
      for (ChannelAnalysis.ParameterSlice ps : a.batchNormScales(g)) {
        if (root(ps.node().input(1)) != null) {
          bns.add(new BnSlice(ps.node(), ps.units()));
        }
      }
      anyBn |= !bns.isEmpty();
      boolean readable = !unreadable.contains(g.id());
      Kind kind = gammaGroup(g, bns) ? Kind.GAMMA : Kind.MASK;
      if (kind == Kind.MASK && !readable) {
        continue; // its mask could not be folded into the consumers: not pruned by PruneNet
      }
      groups.add(new GroupState(g, kind, bns, readable));
    }
    if (!anyBn) {
      throw new dev.onnxprune.errors.OnnxPruneException(Messages.NO_BATCH_NORM);
    }
  }

  /** One BN covering every unit of the group exactly once, its scale read by that BN alone. */
  private static boolean gammaGroup(ChannelGroup g, List<BnSlice> bns) {
    if (bns.size() != 1) {
      return false;
    }
    BnSlice bn = bns.get(0);
    if (bn.node().input(1).uses().size() != 1) {
      return false;
    }
    int[] seen = new int[g.size()];
    for (int u : bn.units()) {
      if (u >= 0) {
        seen[u]++;
      }
    }
    return Arrays.stream(seen).allMatch(c -> c == 1);
  }

  /** The weight elements reading each position of a consumer input, or null when not understood. */
  static WeightSlice weightSlice(ChannelAnalysis.ConsumerInput ci) {
    Node n = ci.node();
    if (ci.input() != 0 || ci.span() != 1 || n.inputCount() < 2) {
      return null;
    }
    Value wv = root(n.input(1));
    if (wv == null) {
      return null;
    }
    long[] d = wv.initializer().dims();
    int len = ci.length();
    int[][] el = new int[len][];
    if (n.is("Conv") && ci.axis() == 1 && d.length >= 3) {
      int groupsAttr = (int) n.attrLong("group", 1);
      int cg = (int) d[1];
      int out = (int) d[0];
      int inner = 1;
      for (int i = 2; i < d.length; i++) {
        inner *= (int) d[i];
      }
      if (cg * groupsAttr != len || out % groupsAttr != 0) {
        return null;
      }
      int opg = out / groupsAttr;
      for (int p = 0; p < len; p++) {
        int gi = p / cg;
        int local = p % cg;
        int[] e = new int[opg * inner];
        int k = 0;
        for (int o = gi * opg; o < (gi + 1) * opg; o++) {
          for (int r = 0; r < inner; r++) {
            e[k++] = (o * cg + local) * inner + r;
          }
        }
        el[p] = e;
      }
    } else if (n.is("ConvTranspose") && ci.axis() == 1 && d.length >= 3 && d[0] == len) {
      int rest = 1;
      for (int i = 1; i < d.length; i++) {
        rest *= (int) d[i];
      }
      for (int p = 0; p < len; p++) {
        el[p] = range(p * rest, rest, 1);
      }
    } else if (n.is("Gemm") && n.attrLong("transA", 0) == 0 && ci.axis() == 1 && d.length == 2) {
      boolean transB = n.attrLong("transB", 0) != 0;
      int f = (int) (transB ? d[1] : d[0]);
      int k = (int) (transB ? d[0] : d[1]);
      if (f != len) {
        return null;
      }
      for (int p = 0; p < len; p++) {
        el[p] = transB ? range(p, k, f) : range(p * k, k, 1);
      }
    } else if (n.is("MatMul") && d.length == 2 && d[0] == len && ci.value().shape() != null
        && ci.axis() == ci.value().shape().rank() - 1) {
      int k = (int) d[1];
      for (int p = 0; p < len; p++) {
        el[p] = range(p * k, k, 1);
      }
    } else {
      return null;
    }
    return new WeightSlice(n, ci.groups(), ci.units(), el);
  }

  /** The smallest i in [1, n] for which {@code test} holds (monotone in i), or n when none does. */
  static int firstTrue(int n, java.util.function.IntPredicate test) {
    if (!test.test(n)) {
      return n;
    }
    int lo = 1;
    int hi = n;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (test.test(mid)) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }

  /** {@code base} plus the first {@code k} (group, unit) pairs of {@code ranked}; units sorted. */
  static Map<Integer, int[]> plus(Map<Integer, int[]> base, List<int[]> ranked, int k) {
    Map<Integer, List<Integer>> acc = new LinkedHashMap<>();
    base.forEach((g, units) -> {
      List<Integer> l = acc.computeIfAbsent(g, x -> new ArrayList<>());
      for (int u : units) {
        l.add(u);
      }
    });
    for (int i = 0; i < k; i++) {
      acc.computeIfAbsent(ranked.get(i)[0], x -> new ArrayList<>()).add(ranked.get(i)[1]);
    }
    Map<Integer, int[]> out = new LinkedHashMap<>();
    acc.forEach((g, l) -> out.put(g, l.stream().mapToInt(Integer::intValue).sorted().toArray()));
    return out;
  }

  private static int[] range(int from, int count, int stride) {
    int[] r = new int[count];
    for (int i = 0; i < count; i++) {
      r[i] = from + i * stride;
    }
    return r;
  }

  /** The initializer behind {@code v}, directly or through Identity nodes; null when not constant. */
  static Value root(Value v) {
    Value r = v;
    while (r != null && !r.isInitializer() && r.producer() != null && r.producer().is("Identity")) {
      r = r.producer().input(0);
    }
    return r != null && r.isInitializer() ? r : null;
  }

  /** Names of every Conv/ConvTranspose weight and bias (the parameters both phases keep fixed). */
  static List<String> convolutionParameters(Model m) {
    List<String> out = new ArrayList<>();
    for (Node n : m.graph().nodes()) {
      if (n.is("Conv") || n.is("ConvTranspose")) {
        for (int i = 1; i < Math.min(3, n.inputCount()); i++) {
          Value v = n.input(i);
          if (v != null && !v.name().isEmpty() && root(v) != null && !out.contains(v.name())) {
            out.add(v.name());
          }
        }
      }
    }
    return out;
  }

  /** Gives {@code n}'s input {@code slot} the data {@code t}: in place when only {@code n} reads it, else a copy of its own. */
  static void setInput(Model m, Node n, int slot, Tensor t) {
    Value v = n.input(slot);
    if (v.isInitializer() && v.uses().size() == 1 && !v.isGraphOutput()) {
      v.setInitializer(t);
      return;
    }
    Graph g = m.graph();
    Value own = g.addInitializer(g.uniqueName(v.name() + "__prunenet"), t);
    n.replaceInput(slot, own);
    g.removeDeadCode();
  }

  private static void setState(MaskedTraining mt, String name, float[] values) {
    try {
      mt.session().set(name, values);
    } catch (ai.onnxruntime.OrtException e) {
      throw MaskedTraining.ort(e);
    }
  }

  /** Message templates. */
  static final class Messages {
    static final String NO_BATCH_NORM = "prunenet needs BatchNormalization after the pruned layers: it regularises"
        + " their scales (gamma) with the statistics fixed (PruneNet Sec. 4.3), and this model has no"
        + " BatchNormalization over any prunable channel group (BN folded into the convolutions, as in the"
        + " *_folded models?); prune the model before folding BN, or use another criterion";

    static final String UNREACHABLE = "prunenet cannot reach the target: every group is down to one channel"
        + " (%.3f of the FLOPs left); lower the target";

    private Messages() {}
  }
}
