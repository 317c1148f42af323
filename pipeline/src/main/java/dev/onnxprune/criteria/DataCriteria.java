package dev.onnxprune.criteria;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import java.util.List;
import dev.onnxprune.exec.ExecutionBackend;
import java.util.Objects;

/**
 * The data-driven criteria: they score channels by running the model in ONNX Runtime over
 * calibration data. Each is a {@link Criterion}, so {@link Pruner.Builder#criterion} takes it:
 * <pre>{@code
 * Dataset calib = IdxDataset.read(images, labels, norm, 1000);
 * Pruner.builder().criterion(DataCriteria.oracle(calib, Sessions.cpu())).target(Target.flops(0.5))...
 * }</pre>
 * <ul>
 *   <li>{@link #apoz} and {@link #meanActivation}: activation statistics, one forward pass.
 *   <li>{@link #oracle}: loss increase when a channel is ablated (AOFP paper eq. 5), optionally
 *       re-scored after removals; about one forward pass per channel.
 *   <li>{@link #aofp}: AOFP's damage isolation and Binary Filter Search (Algorithm 1) on the
 *       fixed model, all layers at once; a few forward passes in all.
 *   <li>{@link #taylor}: first-order Taylor estimate of the loss change when a channel is removed
 *       (Molchanov et al. 2017), from the gradient of the loss; one forward and backward pass.
 *   <li>{@link #thinet}: ThiNet's greedy selection by the next layer's reconstruction error (Luo
 *       et al. 2017); one forward pass, no labels.
 *   <li>{@link #headImportance}: attention head importance, {@code E|dL/d xi_h|} of a mask on each
 *       head's output normalised per layer (Michel et al. 2019); one forward and backward pass.
 *   <li>{@link #wanda}: Wanda's {@code |W_ij| * ||X_j||_2} (Sun et al. 2023) summed over the
 *       weights that read each channel; one forward pass, no labels.
 * </ul>
 * Names on the command line: {@code apoz}, {@code mean}, {@code oracle}, {@code aofp}, {@code taylor},
 * {@code thinet}, {@code heads}, {@code wanda}.
 */
public final class DataCriteria {
  /** The names {@link #byName} knows. */
  public static final List<String> NAMES = List.of("apoz", "mean", "oracle", "aofp", "taylor", "thinet", "heads",
      "wanda");

  private DataCriteria() {}

  /** APoZ with default options; score = 1 - fraction of zero activations (see {@link Options}). */
  public static DataCriterion apoz(Dataset calibration, Sessions sessions) {
    return apoz(calibration, sessions, new Options());
  }

  public static DataCriterion apoz(Dataset calibration, Sessions sessions, Options options) {
    return new ActivationCriterion(true, req(calibration), req(sessions), options);
  }

  /** Mean activation (mean |a|) with default options. */
  public static DataCriterion meanActivation(Dataset calibration, Sessions sessions) {
    return meanActivation(calibration, sessions, new Options());
  }

  public static DataCriterion meanActivation(Dataset calibration, Sessions sessions, Options options) {
    return new ActivationCriterion(false, req(calibration), req(sessions), options);
  }

  /** Oracle (loss increase on ablation) with default options; needs labels or uses the model's own predictions. */
  public static DataCriterion oracle(Dataset calibration, Sessions sessions) {
    return oracle(calibration, sessions, new Options());
  }

  public static DataCriterion oracle(Dataset calibration, Sessions sessions, Options options) {
    return new OracleCriterion(req(calibration), req(sessions), options);
  }

  /** AOFP (damage isolation + Binary Filter Search) with default options. */
  public static DataCriterion aofp(Dataset calibration, Sessions sessions) {
    return aofp(calibration, sessions, new Options());
  }

  public static DataCriterion aofp(Dataset calibration, Sessions sessions, Options options) {
    return new AofpCriterion(req(calibration), req(sessions), options);
  }

  /**
   * Taylor with default options: the mean over the calibration samples of {@code |sum a * dL/da|}
   * over a channel's activations (the loss per sample; labels from the data or the model's own
   * predictions).
   */
  public static DataCriterion taylor(Dataset calibration, Sessions sessions) {
    return taylor(calibration, sessions, new Options());
  }

  public static DataCriterion taylor(Dataset calibration, Sessions sessions, Options options) {
    return new TaylorCriterion(req(calibration), req(sessions), options);
  }

  /**
   * ThiNet with default options: channels scored by the order in which ThiNet's greedy selection
   * removes them, the one whose removal changes the next convolution's output least first
   * ({@link ThinetCriterion}); labels are not used.
   */
  public static DataCriterion thinet(Dataset calibration, Sessions sessions) {
    return thinet(calibration, sessions, new Options());
  }

  public static DataCriterion thinet(Dataset calibration, Sessions sessions, Options options) {
    return new ThinetCriterion(req(calibration), req(sessions), options);
  }

  /** Head importance (Michel et al. 2019) with default options ({@link HeadImportanceCriterion}). */
  public static DataCriterion headImportance(Dataset calibration, Sessions sessions) {
    return headImportance(calibration, sessions, new Options());
  }

  public static DataCriterion headImportance(Dataset calibration, Sessions sessions, Options options) {
    return new HeadImportanceCriterion(req(calibration), req(sessions), options);
  }

  /** Wanda (Sun et al. 2023) as a structured criterion with default options ({@link WandaCriterion}). */
  public static DataCriterion wanda(Dataset calibration, Sessions sessions) {
    return wanda(calibration, sessions, new Options());
  }

  public static DataCriterion wanda(Dataset calibration, Sessions sessions, Options options) {
    return new WandaCriterion(req(calibration), req(sessions), options);
  }

  /** True when {@code name} is a data-driven criterion. */
  public static boolean isDataDriven(String name) {
    return NAMES.contains(name);
  }

  /**
   * The data-driven criterion called {@code name}.
   *
   * @throws IllegalArgumentException naming the bad value and the choices
   */
  public static DataCriterion byName(String name, Dataset calibration, Sessions sessions, Options options) {
    return switch (name) {
      case "apoz" -> apoz(calibration, sessions, options);
      case "mean" -> meanActivation(calibration, sessions, options);
      case "oracle" -> oracle(calibration, sessions, options);
      case "aofp" -> aofp(calibration, sessions, options);
      case "taylor" -> taylor(calibration, sessions, options);
      case "thinet" -> thinet(calibration, sessions, options);
      case "heads" -> headImportance(calibration, sessions, options);
      case "wanda" -> wanda(calibration, sessions, options);
      default -> throw new dev.onnxprune.errors.InvalidOptionException("criterion", name, "must be one of "
          + String.join(", ", NAMES));
    };
  }

  private static <T> T req(T t) {
    return Objects.requireNonNull(t);
  }

  /**
   * Settings of the data-driven criteria (each uses the ones that concern it). Setters check
   * their value and name the option by its key ({@code calibration.batchSize}) when they refuse it.
   */
  public static final class Options {
    private int batchSize = 64;
    private int limit;
    private long seed;
    private int runSamples = 256;
    private int rescoreRounds = 3;
    private double rescoreStep = 0.1;
    private java.time.Duration timeBudget;
    private boolean suffix = true;
    private double theta = 0.05;
    private int phi = 256;
    private int maxSteps = 400;
    private boolean ownPlan;
    private boolean binarySearch = true;
    private ExecutionBackend backend = ExecutionBackend.inProcess();

    /** Samples per batch of calibration data (default 64). */
    public Options batchSize(int n) {
      this.batchSize = InvalidOptionException.atLeast("calibration.batchSize", n, 1);
      return this;
    }

    /** Use at most this many calibration samples (default 0: all). */
    public Options limit(int n) {
      this.limit = InvalidOptionException.atLeast("calibration.limit", n, 0);
      return this;
    }

    /** Seed of AOFP's random half-ablations (default 0). */
    public Options seed(long s) {
      this.seed = s;
      return this;
    }

    /**
     * Oracle: samples per session run when ablations are packed along the batch axis (default
     * 256): a run evaluates {@code max(1, runSamples / batchSize)} ablations on one batch. 1
     * ablation per run is the unpacked baseline.
     */
    public Options runSamples(int n) {
      this.runSamples = InvalidOptionException.atLeast("calibration.runSamples", n, 1);
      return this;
    }

    /**
     * Oracle re-scoring (AOFP paper Section 3.2): after scoring, the lowest {@code step} of
     * each group's channels count as removed and the rest are scored again, {@code rounds}
     * times (default 3 rounds of 0.1; 0: score once, the paper's "degraded" oracle). Each round
     * costs about one more scoring: 3 rounds of 0.1 cost about 3.4 one-shot scorings. The
     * default re-scores because one-shot Oracle lost to re-scored Oracle on 5 of the 6 bundled
     * CNN fixtures at -50% FLOPs without fine-tuning (README, "Criteria compared").
     */
    public Options rescore(int rounds, double step) {
      // both checked before either is set
      InvalidOptionException.atLeast("oracle.rescore", rounds, 0);
      InvalidOptionException.inOpenUnit("oracle.rescoreStep", step);
      this.rescoreRounds = rounds;
      this.rescoreStep = step;
      return this;
    }

    /**
     * Oracle: run each ablation only from the group's first consumer on, feeding the values
     * live there from one unablated run per batch (default true). False runs the whole model
     * per ablation.
     */
    public Options suffix(boolean on) {
      this.suffix = on;
      return this;
    }

    /**
     * A budget in wall time for the long-running criteria (default none; key {@code
     * criterion.maxSeconds}): Oracle makes no further re-scoring round once it is spent (its
     * first round, which ranks every channel, always runs whole); AOFP's search ends there as
     * at {@link #maxSteps}.
     *
     * @throws dev.onnxprune.errors.InvalidOptionException for zero or a negative duration
     */
    public Options timeBudget(java.time.Duration d) {
      if (d != null && (d.isZero() || d.isNegative())) {
        throw new InvalidOptionException("criterion.maxSeconds", d.toNanos() / 1e9, "must be > 0 (or none)");
      }
      this.timeBudget = d;
      return this;
    }

    public java.time.Duration timeBudget() {
      return timeBudget;
    }

    /** AOFP refinement threshold theta: the largest isolated damage a move may do (default 0.05). */
    public Options theta(double t) {
      // not InvalidOptionException.positive: an infinite theta is accepted (every move prunes)
      this.theta = InvalidOptionException.require(t > 0, "aofp.theta", "> 0", t);
      return this;
    }

    /** AOFP search cost phi: damage samples collected per binary-search step of each layer (default 256). */
    public Options phi(int n) {
      this.phi = InvalidOptionException.atLeast("aofp.phi", n, 1);
      return this;
    }

    /** AOFP: stop after this many search steps of all layers together (default 400). */
    public Options maxSteps(int n) {
      this.maxSteps = InvalidOptionException.atLeast("aofp.maxSteps", n, 1);
      return this;
    }

    /**
     * AOFP chooses the channels itself: its search stops once the pruner's target is met and
     * that set is applied, with the per-layer widths the search found (default false: its
     * scores go to the allocator like any criterion's).
     */
    public Options ownPlan(boolean on) {
      this.ownPlan = on;
      return this;
    }

    public boolean ownPlan() {
      return ownPlan;
    }

    /**
     * AOFP: run Binary Filter Search (default true). False scores every channel by its own
     * isolated damage instead (eq. 6 with one channel ablated at a time, all groups at once):
     * about {@code max C} passes of the scoring graph over the calibration data, no theta/phi.
     */
    public Options binarySearch(boolean on) {
      this.binarySearch = on;
      return this;
    }

    public boolean binarySearch() {
      return binarySearch;
    }

    /**
     * Where the sums over the calibration data run (default {@link ExecutionBackend#inProcess()}):
     * apoz, mean, taylor and oracle shard their calibration data over it; the others (aofp, thinet,
     * heads, wanda) run in this process whatever it is.
     */
    public Options backend(ExecutionBackend b) {
      this.backend = Objects.requireNonNull(b, "backend");
      return this;
    }

    public ExecutionBackend backend() {
      return backend;
    }

    public int batchSize() {
      return batchSize;
    }

    public int limit() {
      return limit;
    }

    public long seed() {
      return seed;
    }

    public int runSamples() {
      return runSamples;
    }

    public int rescoreRounds() {
      return rescoreRounds;
    }

    public double rescoreStep() {
      return rescoreStep;
    }

    public boolean suffix() {
      return suffix;
    }

    public double theta() {
      return theta;
    }

    public int phi() {
      return phi;
    }

    public int maxSteps() {
      return maxSteps;
    }

    public Options copy() {
      Options o = new Options();
      o.batchSize = batchSize;
      o.limit = limit;
      o.seed = seed;
      o.runSamples = runSamples;
      o.rescoreRounds = rescoreRounds;
      o.rescoreStep = rescoreStep;
      o.timeBudget = timeBudget;
      o.suffix = suffix;
      o.theta = theta;
      o.phi = phi;
      o.maxSteps = maxSteps;
      o.ownPlan = ownPlan;
      o.binarySearch = binarySearch;
      o.backend = backend;
      return o;
    }
  }
}
