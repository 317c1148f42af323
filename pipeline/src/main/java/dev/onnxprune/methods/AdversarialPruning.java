package dev.onnxprune.methods;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.internal.Budget;
import dev.onnxprune.criteria.PlanningCriterion;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingOptions;
import dev.onnxprune.training.TrainingSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * Adversarial structured pruning (Cai, Yi, Zhang, Rajasekaran, CIKM 2019, Section 2;
 * {@code papers/adversarial-structured-pruning.txt}): layer by layer, PGD on a soft channel mask
 * maximises the training loss inside a box around 1, the channels the attack does not push to
 * the box's upper edge are removed, and Adam training then recovers the accuracy or the removal
 * is reversed.
 *
 * <p><b>Layers.</b> A layer is a prunable channel group with more than {@link
 * Options#minChannels} channels (a residual stream coupled by Adds is one layer), visited in
 * graph order from the input side; after the last one the method loops back (a <i>pass</i>).
 * Each group has one mask, fed to the training step where its channels enter their consumers
 * ({@link MaskedTraining}).
 *
 * <p><b>One visit of layer i.</b>
 * <ol>
 *   <li>Adversarial phase: m-hat starts at the layer's binary mask (1 kept, 0 removed); {@link
 *       Options#pgdSteps} times, on a fresh training batch with every parameter and every other
 *       mask fixed, {@code m-hat += eta_adv * dL/dm-hat} (descent on L_adv = -L, eq. 3) on the
 *       kept entries, then the projection of eq. 4 ({@link #project}). Removed entries stay 0.
 *   <li>Sparsification. Case 1 (eq. 5), when some kept entry of the final m-hat lies on the box
 *       boundary 1 +- eps: keep the entries with |m-hat| >= 1 + tau * eps, remove the others
 *       ({@link #clipBoundary}). Case 2 (eq. 6), when none does, or when case 1 would remove
 *       nothing: remove the s + k smallest |m-hat|, s being those already removed
 *       ({@link #clipSmallest}). Every layer keeps at least {@link Options#minChannels}. {@link
 *       Options#twoSided} reads both on |m-hat - 1| instead (see there).
 *   <li>Target: when the pruner's target is met with this removal, only as many of the new
 *       removals as the target needs are made (smallest |m-hat| first).
 *   <li>Regular phase: Adam ({@link Options#etaReg}, weight decay {@link Options#weightDecay})
 *       trains every parameter with the new binary mask, for at most T <i>iterations</i>; an
 *       iteration is {@link Options#iterationBatches} optimizer steps followed by a validation
 *       (top-1 on the setup's validation samples, inference mode). The learning rate is divided
 *       by 10 every {@link Options#decayInterval} iterations, restarting from eta_reg at each
 *       visit. The removal is <i>recovered</i> at the first iteration whose top-1 is at least
 *       the reference accuracy less {@link Options#tolerance}; the reference is the top-1 at the
 *       method's start ({@link Reference#START}, the paper's "preset accuracy level" of its
 *       sparsity-accuracy trade-off, default) or right before this visit ({@link Reference#LAYER}).
 *       With T = 0 there is no training: the top-1 right after the sparsification decides.
 *   <li>Reversal: when not recovered within T iterations (or when the step budget ends first),
 *       the mask returns to its previous value and every state tensor (weights, Adam moments,
 *       BatchNormalization statistics) to its value before the regular phase, so the network is
 *       exactly the one the previous visit left.
 *   <li>k (case 2 only, starting at 1): doubled when the visit's removal was recovered ("the
 *       accuracy did not drop": top-1 on the validation samples within the tolerance of the
 *       reference), halved when it was reversed ({@link #nextK}). A layer whose case-2 removal of
 *       a single channel (k = 1) is reversed can no longer be sparsified. A layer whose case-1
 *       removal is reversed uses case 2 from then on (otherwise the same attack would propose
 *       much the same removal at every pass).
 * </ol>
 * The method ends when the pruner's target is met by a recovered removal (FLOPs are checked after
 * every sparsification), when no layer can be sparsified any more, or when the step budget
 * ({@link Options#maxSteps}: optimizer steps plus PGD probes, each one forward and backward pass)
 * is spent, or its time budget ({@link Options#timeBudget}), or early when the pace of its recent
 * visits projects that the target will not be met within the budget ({@link Options#failEarly},
 * checked before each visit from a fifth of the budget on). It then writes the trained parameters
 * into the model and, when aimed by the {@link Pruner}, returns its removals as the plan ({@link
 * #chosen}), or null when it stopped short (the pruner then reports {@link #stopReason}).
 *
 * <p><b>Scores.</b> |m-hat| (two-sided: |m-hat - 1|) of each channel's last adversarial phase, plus
 * 2 for the channels kept, so every kept channel outranks every removed one (removed channels
 * score at most 1 + eps < 2); channels of layers never attacked score 3 (two-sided: 2).
 *
 * <p><b>Trajectory.</b> {@code start} (top-1 before pruning), {@code prune} after each
 * sparsification (FLOPs and widths with the new removal, top-1 right after it, before training;
 * step = forward-backward runs so far), then {@code train} (recovered: top-1 and mean loss of the
 * last iteration) or {@code reverse} (the previous removals and top-1 restored), and {@code end}.
 * Every point goes to the setup's listener as it happens.
 */
public final class AdversarialPruning extends PlanningMethod {

  /** What a removal's accuracy must come back to (within {@link Options#tolerance}). */
  public enum Reference {
    /** Top-1 of the unpruned network at the method's start. */
    START,
    /** Top-1 right before this visit's sparsification. */
    LAYER
  }

  /** Hyper-parameters; defaults are the paper's ResNet-20 settings where it gives them. */
  public static final class Options {
    private double epsilon = 0.1;
    private double tau = 0.9;
    private int t = 10;
    private double etaAdv = 1e-2;
    private int pgdSteps = 10;
    private double etaReg = 1e-4;
    private int decayInterval = 5;
    private int iterationBatches = 10;
    private long maxSteps = 20_000;
    private java.time.Duration timeBudget;
    private boolean failEarly = true;
    private double tolerance = 0.01;
    private Reference reference = Reference.START;
    private double weightDecay;
    private int minChannels = 1;
    private boolean twoSided;

    /** Half-width of the projection box around 1, in (0, 1) (default 0.1, the paper's ResNet-20). */
    public Options epsilon(double e) {
      this.epsilon = InvalidOptionException.inOpenUnit("adversarial.epsilon", e);
      return this;
    }

    /** Case-1 threshold: keep |m-hat| >= 1 + tau * eps, in [0, 1] (default 0.9). */
    public Options tau(double v) {
      this.tau = InvalidOptionException.inUnit("adversarial.tau", v);
      return this;
    }

    /** Regular-phase iterations before a removal is reversed, >= 0 (default 10). */
    public Options iterations(int n) {
      this.t = InvalidOptionException.atLeast("adversarial.iterations", n, 0);
      return this;
    }

    /** PGD step size on the mask (default 1e-2). */
    public Options etaAdv(double v) {
      this.etaAdv = InvalidOptionException.positive("adversarial.etaAdv", v);
      return this;
    }

    /** PGD steps (one training batch each) per adversarial phase, >= 1 (default 10). */
    public Options pgdSteps(int n) {
      this.pgdSteps = InvalidOptionException.atLeast("adversarial.pgdSteps", n, 1);
      return this;
    }

    /** Adam learning rate of the regular phase (default 1e-4, the paper's ResNet-20). */
    public Options etaReg(double v) {
      this.etaReg = InvalidOptionException.learningRate("adversarial.etaReg", v, false);
      return this;
    }

    /** The regular phase divides its learning rate by 10 every I iterations, >= 1 (default 5). */
    public Options decayInterval(int n) {
      this.decayInterval = InvalidOptionException.atLeast("adversarial.decayInterval", n, 1);
      return this;
    }

    /** Optimizer steps per regular-phase iteration (one validation after each), >= 1 (default 10). */
    public Options iterationBatches(int n) {
      this.iterationBatches = InvalidOptionException.atLeast("adversarial.iterationBatches", n, 1);
      return this;
    }

    /** Budget: optimizer steps plus PGD probes over the whole run, >= 1 (default 20000). */
    public Options maxSteps(long n) {
      this.maxSteps = InvalidOptionException.atLeast("method.maxSteps", n, 1);
      return this;
    }

    /**
     * A budget in wall time besides {@link #maxSteps} (default none; key {@code method.maxSeconds}):
     * no visit starts, and no recovery iteration, once it is spent.
     */
    public Options timeBudget(java.time.Duration d) {
      this.timeBudget = Methods.timeBudget(d);
      return this;
    }

    public java.time.Duration timeBudget() {
      return timeBudget;
    }

    /**
     * End the run before a visit once the target is projected out of reach within the budget at
     * the pace of the recent visits ({@link dev.onnxprune.internal.Budget}; default true; key
     * {@code method.failEarly}).
     */
    public Options failEarly(boolean on) {
      this.failEarly = on;
      return this;
    }

    public boolean failEarly() {
      return failEarly;
    }

    /** Top-1 a recovered removal may lose against the reference, in [0, 1] (default 0.01). */
    public Options tolerance(double v) {
      this.tolerance = InvalidOptionException.inUnit("adversarial.tolerance", v);
      return this;
    }

    /** The accuracy a removal must recover to (default {@link Reference#START}). */
    public Options reference(Reference r) {
      this.reference = Objects.requireNonNull(r, "reference");
      return this;
    }

    /** Adam's L2 weight decay in the regular phase, >= 0 (default 0; eq. 1's alpha R(theta)). */
    public Options weightDecay(double v) {
      this.weightDecay = InvalidOptionException.nonNegative("adversarial.weightDecay", v);
      return this;
    }

    /** Channels every layer keeps at least, >= 1 (default 1). */
    public Options minChannels(int n) {
      this.minChannels = InvalidOptionException.atLeast("adversarial.minChannels", n, 1);
      return this;
    }

    /**
     * Read eq. 5 and 6 on |m-hat - 1|, the attack's push either way, instead of |m-hat|: case 1
     * keeps the entries within (1 - tau) * eps of either edge (the text's "keep the elements that
     * are hitting or very close to the boundaries"), case 2 removes the k entries the attack moved
     * least. Default false: the equations as printed.
     */
    public Options twoSided(boolean on) {
      this.twoSided = on;
      return this;
    }

    public boolean twoSided() {
      return twoSided;
    }

    public double epsilon() {
      return epsilon;
    }

    public double tau() {
      return tau;
    }

    public int iterations() {
      return t;
    }

    public double etaAdv() {
      return etaAdv;
    }

    public int pgdSteps() {
      return pgdSteps;
    }

    public double etaReg() {
      return etaReg;
    }

    public int decayInterval() {
      return decayInterval;
    }

    public int iterationBatches() {
      return iterationBatches;
    }

    public long maxSteps() {
      return maxSteps;
    }

    public double tolerance() {
      return tolerance;
    }

    public Reference reference() {
      return reference;
    }

    public double weightDecay() {
      return weightDecay;
    }

    public int minChannels() {
      return minChannels;
    }

    Options copy() {
      Options o = new Options();
      o.epsilon = epsilon;
      o.tau = tau;
      o.t = t;
      o.etaAdv = etaAdv;
      o.pgdSteps = pgdSteps;
      o.etaReg = etaReg;
      o.decayInterval = decayInterval;
      o.iterationBatches = iterationBatches;
      o.maxSteps = maxSteps;
      o.timeBudget = timeBudget;
      o.failEarly = failEarly;
      o.tolerance = tolerance;
      o.reference = reference;
      o.weightDecay = weightDecay;
      o.minChannels = minChannels;
      o.twoSided = twoSided;
      return o;
    }
  }

  /** What one run did (for reports and tests). */
  public record Summary(int passes, int visits, int recovered, int reversals, int case1, int case2, long steps,
      boolean targetMet, String stopReason) {}

  private final MethodSetup setup;
  private final Options options;
  private Summary summary;

  private AdversarialPruning(MethodSetup setup, Options options) {
    this.setup = Objects.requireNonNull(setup, "setup");
    this.options = options.copy();
  }

  /**
   * The method on {@code setup}'s data, with {@code options}.
   *
   * @throws dev.onnxprune.errors.InvalidOptionException naming {@code evaluation} when the setup has
   *     no validation data (the recovery check and the k rule compare validation top-1)
   */
  public static AdversarialPruning create(MethodSetup setup, Options options) {
    if (setup.validation() == null) {
      throw new dev.onnxprune.errors.InvalidOptionException("evaluation", null, "is required by adversarial"
          + " pruning: it decides whether a removal recovered, and how many channels to try next, by validation"
          + " top-1");
    }
    return new AdversarialPruning(setup, options);
  }

  @Override
  public String name() {
    return "adversarial";
  }

  @Override
  String stopReason() {
    return summary == null ? "it has not run" : summary.stopReason();
  }

  /** What the last run did, or null before {@link #score}. */
  public Summary summary() {
    return summary;
  }

  /** Per-layer state of the alternation. */
  private static final class Layer {
    final int id;
    boolean[] kept;
    int k = 1;
    boolean greedyOnly;
    boolean exhausted;
    float[] soft;

    Layer(int id, int size) {
      this.id = id;
      this.kept = new boolean[size];
      Arrays.fill(kept, true);
      this.soft = new float[size];
      Arrays.fill(soft, 1f);
    }

    int keptCount() {
      int n = 0;
      for (boolean b : kept) {
        n += b ? 1 : 0;
      }
      return n;
    }
  }

  @Override
  double[][] train(ChannelAnalysis analysis) {
    summary = null;
    TrainingData data = TrainingData.of(setup.train());
    TrainingOptions.Builder training = TrainingOptions.builder().optimizer(Optimizer.adam(options.weightDecay));
    try (MaskedTraining mt = new MaskedTraining(analysis, setup, training, true, data)) {
      Run run = new Run(mt);
      run.loop();
      mt.writeBack();
      Map<Integer, int[]> removals = run.removals();
      chosen = reached == null || run.targetMet ? removals : null;
      partial = chosen == null ? removals : null;
      summary = run.summary();
      return run.scores(analysis);
    }
  }

  /** One run of the alternation on a masked training session. */
  private final class Run {
    final MaskedTraining mt;
    final List<Layer> layers = new ArrayList<>();
    final Map<Integer, Layer> byId = new LinkedHashMap<>();
    final Budget budget = new Budget(options.maxSteps, options.timeBudget);
    long steps;
    int passes;
    int visits;
    int recovered;
    int reversals;
    int case1;
    int case2;
    boolean targetMet;
    String stopReason;
    double startAccuracy;
    double accuracy;

    Run(MaskedTraining mt) {
      this.mt = mt;
      for (int id : mt.groups()) {
        ChannelGroup g = mt.analysis().groups().get(id);
        Layer l = new Layer(id, g.size());
        byId.put(id, l);
        if (g.size() > options.minChannels) {
          layers.add(l);
        } else {
          l.exhausted = true;
        }
      }
    }

    void loop() {
      startAccuracy = validate();
      accuracy = startAccuracy;
      trajectory.add(mt.point(0, "start", removals(), Double.NaN, startAccuracy));
      long perVisit = options.pgdSteps + (long) Math.min(1, options.t) * options.iterationBatches;
      while (true) {
        if (layers.stream().allMatch(l -> l.exhausted)) {
          stopReason = "no layer can be sparsified any more (every layer's last single-channel removal was"
              + " reversed, or it is at " + options.minChannels + " channel(s)); raise adversarial.tolerance or adversarial.iterations";
          break;
        }
        passes++;
        boolean stop = false;
        for (Layer l : layers) {
          if (l.exhausted) {
            continue;
          }
          if (steps + perVisit > options.maxSteps) {
            stopReason = "the step budget (method.maxSteps " + options.maxSteps + ") ran out after " + steps
                + " steps at " + String.format(java.util.Locale.ROOT, "%.3f", flopsKept())
                + " of the FLOPs; raise method.maxSteps";
            stop = true;
            break;
          }
          if (budget.outOfTime()) {
            stopReason = "the time budget (method.maxSeconds " + Methods.seconds(options.timeBudget)
                + ") ran out after " + steps + " steps at " + String.format(java.util.Locale.ROOT, "%.3f", flopsKept())
                + " of the FLOPs; raise method.maxSeconds";
            stop = true;
            break;
          }
          String why = outOfReach(options.failEarly, budget, steps, removals());
          if (why != null) {
            stopReason = "it ended early, the target out of reach within its budget: " + why + " (after " + steps
                + " steps at " + String.format(java.util.Locale.ROOT, "%.3f", flopsKept()) + " of the FLOPs);"
                + " raise method.maxSteps or adversarial.tolerance";
            stop = true;
            break;
          }
          visit(l);
          if (targetMet) {
            stopReason = "the target is met";
            stop = true;
            break;
          }
        }
        if (stop) {
          break;
        }
      }
      trajectory.add(mt.point(steps, "end", removals(), Double.NaN, accuracy));
    }

    /** One visit of layer {@code l}: adversarial phase, sparsification, regular phase. */
    void visit(Layer l) {
      visits++;
      float[] soft = attack(l);
      l.soft = soft;
      boolean onBoundary = false;
      for (int j = 0; j < soft.length; j++) {
        onBoundary |= l.kept[j] && atBoundary(soft[j], options.epsilon);
      }
      boolean[] next = null;
      boolean usedCase2 = true;
      if (onBoundary && !l.greedyOnly) {
        next = clipBoundary(soft, l.kept, options.epsilon, options.tau, options.twoSided);
        keepAtLeast(next, l.kept, soft, options.minChannels, options.twoSided);
        usedCase2 = count(next) == l.keptCount(); // case 1 removed nothing: fall back to case 2
      }
      if (usedCase2) {
        int k = Math.min(l.k, l.keptCount() - options.minChannels);
        next = clipSmallest(soft, l.kept, k, options.twoSided);
      }
      next = trimToTarget(l, next, soft);
      if (usedCase2) {
        case2++;
      } else {
        case1++;
      }
      boolean[] previous = l.kept;
      Map<String, float[]> snapshot = snapshot();
      double before = accuracy;
      l.kept = next;
      mt.setMask(l.id, binary(next));
      double afterClip = validate();
      trajectory.add(mt.point(steps, "prune", removals(), Double.NaN, afterClip));
      double reference = options.reference == Reference.START ? startAccuracy : before;
      double bar = reference - options.tolerance;
      boolean ok = false;
      double acc = afterClip;
      double loss = Double.NaN;
      if (options.t == 0) {
        ok = acc >= bar;
      }
      for (int it = 0; it < options.t && !ok; it++) {
        if (steps + options.iterationBatches > options.maxSteps || budget.outOfTime()) {
          break;
        }
        double lr = options.etaReg * Math.pow(0.1, it / options.decayInterval); // Sec. 2.4: /10 every I
        double sum = 0;
        for (int b = 0; b < options.iterationBatches; b++) {
          sum += mt.step(lr).loss();
          steps++;
        }
        loss = sum / options.iterationBatches;
        acc = validate();
        ok = acc >= bar;
      }
      if (ok) {
        recovered++;
        accuracy = acc;
        trajectory.add(mt.point(steps, "train", removals(), loss, acc));
        if (usedCase2) {
          l.k = nextK(l.k, false);
        }
        targetMet = reached != null && reached.test(removals());
      } else {
        reversals++;
        l.kept = previous;
        mt.setMask(l.id, binary(previous));
        restore(snapshot);
        accuracy = before;
        trajectory.add(mt.point(steps, "reverse", removals(), Double.NaN, before));
        if (usedCase2) {
          l.k = nextK(l.k, true);
          l.exhausted = l.k == 0;
        } else {
          l.greedyOnly = true;
        }
      }
      if (l.keptCount() <= options.minChannels) {
        l.exhausted = true;
      }
    }

    float[] attack(Layer l) {
      steps += options.pgdSteps;
      return adversarialPhase(mt, l.id, l.kept, options.pgdSteps, options.etaAdv, options.epsilon);
    }

    /**
     * When {@code next} meets the target, the fewest of its new removals (smallest |m-hat| first)
     * that still meet it.
     */
    boolean[] trimToTarget(Layer l, boolean[] next, float[] soft) {
      if (reached == null) {
        return next;
      }
      List<Integer> fresh = new ArrayList<>();
      for (int j = 0; j < next.length; j++) {
        if (l.kept[j] && !next[j]) {
          fresh.add(j);
        }
      }
      if (!reached.test(with(l, next))) {
        return next;
      }
      fresh.sort((a, b) -> Double.compare(key(soft[a], options.twoSided), key(soft[b], options.twoSided)));
      int lo = 1;
      int hi = fresh.size(); // meets the target
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (reached.test(with(l, first(l.kept, fresh, mid)))) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      return first(l.kept, fresh, hi);
    }

    boolean[] first(boolean[] kept, List<Integer> fresh, int n) {
      boolean[] out = kept.clone();
      for (int i = 0; i < n; i++) {
        out[fresh.get(i)] = false;
      }
      return out;
    }

    /** The current removals with layer {@code l}'s replaced by {@code kept}'s complement. */
    Map<Integer, int[]> with(Layer l, boolean[] kept) {
      Map<Integer, int[]> r = removals();
      int[] z = removed(kept);
      if (z.length == 0) {
        r.remove(l.id);
      } else {
        r.put(l.id, z);
      }
      return r;
    }

    Map<Integer, int[]> removals() {
      Map<Integer, int[]> out = new LinkedHashMap<>();
      for (Layer l : byId.values()) {
        int[] z = removed(l.kept);
        if (z.length > 0) {
          out.put(l.id, z);
        }
      }
      return out;
    }

    double flopsKept() {
      return (double) mt.flops(removals()) / mt.baseFlops();
    }

    double validate() {
      Double a = mt.validate();
      return a == null ? Double.NaN : a;
    }

    Map<String, float[]> snapshot() {
      try {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : mt.session().state().entrySet()) {
          out.put(e.getKey(), e.getValue().toFloatArray());
        }
        return out;
      } catch (ai.onnxruntime.OrtException e) {
        throw MaskedTraining.ort(e);
      }
    }

    void restore(Map<String, float[]> snapshot) {
      TrainingSession s = mt.session();
      try {
        for (Map.Entry<String, float[]> e : snapshot.entrySet()) {
          s.set(e.getKey(), e.getValue());
        }
      } catch (ai.onnxruntime.OrtException e) {
        throw MaskedTraining.ort(e);
      }
    }

    double[][] scores(ChannelAnalysis analysis) {
      double[][] s = new double[analysis.groups().size()][];
      for (Layer l : byId.values()) {
        double[] v = new double[l.kept.length];
        for (int j = 0; j < v.length; j++) {
          v[j] = key(l.soft[j], options.twoSided) + (l.kept[j] ? 2 : 0);
        }
        s[l.id] = v;
      }
      return s;
    }

    Summary summary() {
      return new Summary(passes, visits, recovered, reversals, case1, case2, steps, targetMet, stopReason);
    }
  }

  /**
   * The adversarial phase on group {@code id} (eq. 3): {@code steps} PGD steps, each on the next
   * training batch, of {@code m += eta * dL/dm} on the {@code kept} entries then the projection
   * (eq. 4), from the binary mask; every other parameter and mask fixed (probes update nothing).
   * Returns the final soft mask m-hat; the session is left with the binary mask.
   */
  static float[] adversarialPhase(MaskedTraining mt, int id, boolean[] kept, int steps, double eta, double eps) {
    float[] m = binary(kept);
    try {
      for (int s = 0; s < steps; s++) {
        mt.setMask(id, m);
        mt.probe(mt.nextBatch());
        m = pgdStep(m, mt.maskGradient(id), kept, eta, eps);
      }
    } finally {
      mt.setMask(id, binary(kept));
    }
    return m;
  }

  /**
   * The projection of eq. 4 onto the box [1 - eps, 1 + eps], in place: an entry outside becomes
   * {@code 1 + sign(m - 1) * eps}. Entries where {@code active} is false (removed channels) are
   * left alone; {@code active} null means all. Returns how many entries were clamped.
   */
  static int project(float[] m, double eps, boolean[] active) {
    float lo = (float) (1 - eps);
    float hi = (float) (1 + eps);
    int clamped = 0;
    for (int j = 0; j < m.length; j++) {
      if (active != null && !active[j]) {
        continue;
      }
      if (m[j] < lo || m[j] > hi) {
        m[j] = m[j] > 1 ? hi : lo; // 1 + sign(m - 1) * eps
        clamped++;
      }
    }
    return clamped;
  }

  /** One PGD step of eq. 3: {@code m + eta * dL/dm} on the active entries, projected (eq. 4); others 0. */
  static float[] pgdStep(float[] m, float[] gradient, boolean[] active, double eta, double eps) {
    float[] out = new float[m.length];
    for (int j = 0; j < m.length; j++) {
      out[j] = active[j] ? (float) (m[j] + eta * gradient[j]) : 0f;
    }
    project(out, eps, active);
    return out;
  }

  /** True when {@code v} lies on the box boundary 1 +- eps (where {@link #project} puts clamped entries). */
  static boolean atBoundary(float v, double eps) {
    return v <= (float) (1 - eps) || v >= (float) (1 + eps);
  }

  /** What the clipping ranks by: |m| (the equations as printed) or, two-sided, |m - 1|. */
  static double key(float m, boolean twoSided) {
    return twoSided ? Math.abs(m - 1.0) : Math.abs(m);
  }

  /**
   * Clipping case 1 (eq. 5): the channels kept after it, those of {@code kept} with
   * {@code |m| >= 1 + tau * eps}.
   */
  static boolean[] clipBoundary(float[] m, boolean[] kept, double eps, double tau) {
    return clipBoundary(m, kept, eps, tau, false);
  }

  /** Case 1 as printed, or two-sided: keep {@code |m - 1| >= tau * eps} (within (1 - tau) eps of an edge). */
  static boolean[] clipBoundary(float[] m, boolean[] kept, double eps, double tau, boolean twoSided) {
    float upper = (float) (1 + tau * eps);
    float lower = (float) (1 - tau * eps);
    boolean[] out = new boolean[m.length];
    for (int j = 0; j < m.length; j++) {
      out[j] = kept[j] && (twoSided ? m[j] >= upper || m[j] <= lower : Math.abs(m[j]) >= upper);
    }
    return out;
  }

  /**
   * Clipping case 2 (eq. 6): the channels kept after removing the s + k smallest |m|, s being the
   * channels already removed ({@code kept} false, whose m is 0): the k smallest |m| among the kept
   * ones go, ties to the lower index.
   */
  static boolean[] clipSmallest(float[] m, boolean[] kept, int k) {
    return clipSmallest(m, kept, k, false);
  }

  /** Case 2 as printed, or two-sided: the k kept entries with the smallest |m - 1| go. */
  static boolean[] clipSmallest(float[] m, boolean[] kept, int k, boolean twoSided) {
    List<Integer> order = new ArrayList<>();
    for (int j = 0; j < m.length; j++) {
      if (kept[j]) {
        order.add(j);
      }
    }
    order.sort((a, b) -> {
      int c = Double.compare(key(m[a], twoSided), key(m[b], twoSided));
      return c != 0 ? c : Integer.compare(a, b);
    });
    boolean[] out = kept.clone();
    for (int i = 0; i < Math.min(k, order.size()); i++) {
      out[order.get(i)] = false;
    }
    return out;
  }

  /** The k rule of case 2: doubled when the accuracy did not drop, halved (integer) when it did. */
  static int nextK(int k, boolean dropped) {
    return dropped ? k / 2 : 2 * k;
  }

  /** Makes sure at least {@code min} channels stay kept, adding back those of {@code was} ranked highest. */
  static void keepAtLeast(boolean[] kept, boolean[] was, float[] m, int min, boolean twoSided) {
    int have = count(kept);
    if (have >= min) {
      return;
    }
    Integer[] order = new Integer[m.length];
    for (int j = 0; j < m.length; j++) {
      order[j] = j;
    }
    Arrays.sort(order, (a, b) -> Double.compare(key(m[b], twoSided), key(m[a], twoSided)));
    for (int j : order) {
      if (have >= min) {
        break;
      }
      if (!kept[j] && was[j]) {
        kept[j] = true;
        have++;
      }
    }
  }

  static int count(boolean[] b) {
    int n = 0;
    for (boolean v : b) {
      n += v ? 1 : 0;
    }
    return n;
  }

  static float[] binary(boolean[] kept) {
    float[] m = new float[kept.length];
    for (int j = 0; j < m.length; j++) {
      m[j] = kept[j] ? 1f : 0f;
    }
    return m;
  }

  static int[] removed(boolean[] kept) {
    return java.util.stream.IntStream.range(0, kept.length).filter(j -> !kept[j]).toArray();
  }
}
