package dev.onnxprune.methods;

import dev.onnxprune.internal.BinaryFilterSearch;
import dev.onnxprune.internal.Budget;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.internal.DamageGraph;
import dev.onnxprune.criteria.PlanningCriterion;
import dev.onnxprune.internal.RemovalOrder;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import ai.onnxruntime.OrtException;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingOptions;
import dev.onnxprune.training.TrainingSession;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.function.Predicate;

/**
 * AOFP training-time multi-path pruning (Ding et al. 2019, "Approximated Oracle Filter Pruning";
 * Sections 3.3-3.5, Algorithm 1, every target layer at once as in Section 4.2). Name {@value
 * #NAME}.
 *
 * <p><b>One training step, two paths.</b> The network trains (SGD with momentum, a constant
 * fine-tuning learning rate) on its <i>base path</i>, masked by the base masks u, one per
 * prunable group ({@link MaskedTraining}: {@code onnxprune_mask_<g>} {@code [1, C]}). In the same
 * ONNX Runtime run, every scored group g has a <i>scoring path</i> ({@link DamageGraph}): each
 * consumer layer of g's channels is duplicated, reading its base input times the ablation mask
 * h ({@code onnxprune_ablate_<g>} {@code [N, C]}, so v = u with H zeroed, eq. 9), followed by the
 * consumer's BatchNormalization/activation chain; output {@code onnxprune_damage_<g>} {@code [N]}
 * is the isolated damage t of eq. 7 per sample. The scoring paths do not reach the loss, so they
 * take no part in the gradient.
 *
 * <p><b>BatchNormalization on a scoring path.</b> In the training step the base path's BN
 * normalises with the batch statistics of its input and updates its running statistics. The
 * scoring path's BN applies the same per-channel affine map, with the base path's batch
 * statistics of this step (explicit ops: mean and biased variance of the base BN's input over
 * every axis but the channel axis, then gamma and beta): it neither renormalises the ablated
 * output by statistics of its own (which would hide a change of scale) nor updates the running
 * statistics a second time. An empty ablation therefore gives t = 0, and t measures how the
 * ablation changes what the next layer outputs in the very step that trains it.
 *
 * <p><b>Binary Filter Search</b> ({@link BinaryFilterSearch}). Per layer and batch, each sample
 * ablates its own random half H of the layer's search space A (the paper draws one H per batch;
 * one per sample gives N decorrelated t samples per batch from the same run at no extra cost).
 * After {@code phi} batches, B = the half of A with the smallest mean t (eq. 10), p = max T-hat
 * over B: if {@code p < theta} the move prunes B (u = 0 for B, for good) and a new move starts on
 * the remaining channels; else if |B| > 1 the search refines on A = B with fresh samples; else the
 * move ends with nothing pruned and, as in Section 4.2, the layer restarts a new move (the network
 * keeps training, so its filters' importance changes; {@link Options#restart}).
 *
 * <p><b>Target.</b> After every move the FLOPs of the network with the base masks' removals are
 * checked against the {@link Pruner}'s target ({@link #aim}); the method ends when it is met.
 * Moves finishing on the same batch (every layer steps every {@code phi} batches, so they do) are
 * made least damaging (smallest p) first, and those after the one that meets the target are not
 * made. That last move is trimmed to its lowest-T-hat channels, as few as meet the target
 * ({@link Options#trimFinalMove}; off: the whole B, as the paper, possibly overshooting). The
 * method also ends after {@link Options#maxSteps} optimizer steps or its {@link
 * Options#timeBudget}, early, as stalled, once every layer has ended {@link Options#patience}
 * moves in a row with nothing pruned (the target is then out of reach at this theta), or early
 * when, from a fifth of its budget on, the pace of its recent moves projects that the target
 * will not be met within the budget ({@link Options#failEarly}, {@link Budget}); if the target
 * is not met by then, {@link #score} throws
 * (or, with keepPartial, keeps what was pruned) and the model is left as it was.
 *
 * <p><b>Result.</b> {@link #score} writes the trained parameters and running statistics into the
 * model being pruned and returns, per scored group, the units' removal order as scores (pruned
 * units by move, then by their last T-hat; {@link RemovalOrder}); {@link #chosen} is the base
 * masks' removals, which the pruner applies. The pruner slims the network; fine-tuning follows
 * in the pipeline.
 *
 * <p><b>Trajectory.</b> Points (event in quotes): {@code "start"}; after every finished search
 * step {@code "prune"} (a move pruned channels), {@code "refine"} (A = B), {@code "stop-layer"}
 * (|B| = 1 and p >= theta: the move ended with nothing pruned); {@code "end"}. Step = optimizer
 * steps; loss = mean training loss of the last {@code phi} steps; accuracy at the start, the end
 * and every {@link Options#validateEvery} prune moves.
 */
public final class AofpTraining extends PlanningMethod {
  /** The method's name in reports and on the command line. */
  public static final String NAME = "aofp-train";

  /**
   * The method's settings. Defaults: theta 0.05, phi 10 batches, SGD lr 0.01, momentum 0.9, wd 5e-4.
   *
   * <p>The paper prunes CIFAR-10 VGG-16 with theta 0.01 and phi 20,000 samples (Section 4.2;
   * about 312 batches of 64) over a long schedule. On the bundled Fashion-MNIST fixtures theta
   * 0.01 does not reach half the FLOPs in a usable budget (resnet20: 28.7% of the FLOPs removed
   * after 3,000 steps at phi 20, 37% after 6,400 steps on the full 60,000 images), while theta 0.05
   * with phi 10 reaches it within about one epoch of 10,000 images (README, "Defaults measured").
   * The paper's setting stays reachable: {@code theta(0.01).phi(312)}.
   */
  public static final class Options {
    private double theta = 0.05;
    private int phi = 10;
    private double learningRate = 0.01;
    private double momentum = 0.9;
    private double weightDecay = 5e-4;
    private int maxSteps = 20_000;
    private int validateEvery = 10;
    private boolean restart = true;
    private boolean trimFinalMove = true;
    private int patience = 3;
    private java.time.Duration timeBudget;
    private boolean failEarly = true;

    /** Refinement threshold theta (eq. 11): the largest mean isolated damage a move may do (default 0.05). */
    public Options theta(double t) {
      // not InvalidOptionException.positive: an infinite theta is accepted (every move prunes)
      this.theta = InvalidOptionException.require(t > 0, "aofp.theta", "> 0", t);
      return this;
    }

    /** Search cost phi: training batches per binary-search step of each layer (default 10). */
    public Options phi(int n) {
      this.phi = InvalidOptionException.atLeast("aofp.phi", n, 1);
      return this;
    }

    /** Constant learning rate of the base path's SGD (default 0.01: fine-tuning, not training). */
    public Options learningRate(double lr) {
      this.learningRate = InvalidOptionException.learningRate("method.learningRate", lr, true);
      return this;
    }

    /** SGD momentum (default 0.9). */
    public Options momentum(double m) {
      this.momentum = InvalidOptionException.require(m >= 0 && m < 1, "aofp.momentum", "in [0, 1)", m);
      return this;
    }

    /** L2 weight decay (default 5e-4). */
    public Options weightDecay(double wd) {
      this.weightDecay = InvalidOptionException.nonNegative("aofp.weightDecay", wd);
      return this;
    }

    /** Optimizer steps at most (default 20000): the method always ends. */
    public Options maxSteps(int n) {
      this.maxSteps = InvalidOptionException.atLeast("method.maxSteps", n, 1);
      return this;
    }

    /** Validate after every {@code k}-th prune move (default 10), besides the start and the end. */
    public Options validateEvery(int k) {
      this.validateEvery = InvalidOptionException.atLeast("aofp.validateEvery", k, 1);
      return this;
    }

    /** Whether a layer whose move ends with nothing pruned starts a new move (default true, Section 4.2). */
    public Options restart(boolean on) {
      this.restart = on;
      return this;
    }

    /** Whether the move that meets the target prunes only as much as it needs (default true). */
    public Options trimFinalMove(boolean on) {
      this.trimFinalMove = on;
      return this;
    }

    /**
     * With restarts: the method ends (the target unreachable) once every layer has ended this
     * many moves in a row with nothing pruned, instead of training on to {@link #maxSteps}
     * (default 3; 0: never, restarts run to the budget).
     */
    public Options patience(int k) {
      this.patience = InvalidOptionException.atLeast("aofp.patience", k, 0);
      return this;
    }

    public int patience() {
      return patience;
    }

    /**
     * A budget in wall time besides {@link #maxSteps} (default none): the method ends when either
     * is spent (key {@code method.maxSeconds}).
     */
    public Options timeBudget(java.time.Duration d) {
      this.timeBudget = Methods.timeBudget(d);
      return this;
    }

    public java.time.Duration timeBudget() {
      return timeBudget;
    }

    /**
     * End the run as soon as the target is projected out of reach within the budget, at the pace
     * of its recent moves ({@link dev.onnxprune.internal.Budget}; default true; key {@code
     * method.failEarly}). Off, it trains on to its budget.
     */
    public Options failEarly(boolean on) {
      this.failEarly = on;
      return this;
    }

    public boolean failEarly() {
      return failEarly;
    }

    public double theta() {
      return theta;
    }

    public int phi() {
      return phi;
    }

    public double learningRate() {
      return learningRate;
    }

    public double momentum() {
      return momentum;
    }

    public double weightDecay() {
      return weightDecay;
    }

    public int maxSteps() {
      return maxSteps;
    }

    public int validateEvery() {
      return validateEvery;
    }

    public boolean restart() {
      return restart;
    }

    public boolean trimFinalMove() {
      return trimFinalMove;
    }

    Options copy() {
      Options o = new Options();
      o.theta = theta;
      o.phi = phi;
      o.learningRate = learningRate;
      o.momentum = momentum;
      o.weightDecay = weightDecay;
      o.maxSteps = maxSteps;
      o.validateEvery = validateEvery;
      o.restart = restart;
      o.trimFinalMove = trimFinalMove;
      o.patience = patience;
      o.timeBudget = timeBudget;
      o.failEarly = failEarly;
      return o;
    }
  }

  private final MethodSetup setup;
  private final Options options;
  private String stopReason;
  private BinaryFilterSearch.Result lastSearch;
  private int moves;

  private AofpTraining(MethodSetup setup, Options options) {
    this.setup = Objects.requireNonNull(setup, "setup");
    this.options = options.copy();
  }

  /** AOFP training-time pruning on {@code setup}'s data and sessions. */
  public static AofpTraining create(MethodSetup setup, Options options) {
    return new AofpTraining(setup, Objects.requireNonNull(options, "options"));
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  String stopReason() {
    return stopReason != null ? stopReason : "it has not run";
  }

  /** The last search (for tests and reports). */
  BinaryFilterSearch.Result lastSearch() {
    return lastSearch;
  }

  /** Prune moves made in the last run. */
  int moves() {
    return moves;
  }

  /**
   * Runs the method on {@code analysis}'s model (see the class comment). Not aimed at a target
   * ({@link #aim}), it runs until every layer has stopped (only without restarts) or the budget
   * is spent, and {@link #chosen} is what it pruned by then.
   *
   * @throws IllegalArgumentException when the target was not met within {@link Options#maxSteps}
   *     (or every layer stopped, without restarts); the model is then left unchanged
   */
  @Override
  double[][] train(ChannelAnalysis analysis) {
    stopReason = null;
    moves = 0;
    DamageGraph[] built = new DamageGraph[1];
    try (MaskedTraining mt = open(analysis, setup, options, TrainingData.of(setup.train()), built)) {
      return run(analysis, mt, built[0]);
    }
  }

  /**
   * The training session of both paths: {@link MaskedTraining}'s base masks plus the scoring paths
   * of every prunable group of two channels or more ({@link DamageGraph#onMasked}, batch
   * statistics), whose damage outputs the training step also outputs. {@code built[0]} receives
   * the scoring graph's names. The ablation inputs are not fed yet.
   */
  static MaskedTraining open(ChannelAnalysis analysis, MethodSetup setup, Options options, TrainingData data,
      DamageGraph[] built) {
    List<ChannelGroup> candidates = analysis.prunableGroups().stream().filter(g -> g.size() >= 2).toList();
    TrainingOptions.Builder to = TrainingOptions.builder()
        .optimizer(Optimizer.sgd(options.momentum, options.weightDecay));
    MaskedTraining.Extension scoringPaths = (copy, consumers, masks, o) -> {
      List<ChannelGroup> scored = candidates.stream().map(g -> copy.groups().get(g.id())).toList();
      built[0] = DamageGraph.onMasked(copy, consumers, masks, scored, true);
      o.extraOutputs(built[0].damageOutputs.values());
    };
    return new MaskedTraining(analysis, setup, to, false, data, scoringPaths);
  }

  private double[][] run(ChannelAnalysis analysis, MaskedTraining mt, DamageGraph dg) {
    List<Integer> layers = new ArrayList<>(dg.damageOutputs.keySet());
    int[] sizes = layers.stream().mapToInt(id -> analysis.groups().get(id).size()).toArray();
    TrainingSession session = mt.session();
    int n = mt.batchSize();
    for (int l = 0; l < layers.size(); l++) {
      feedOnes(session, dg.ablateInputs.get(layers.get(l)), sizes[l]);
    }
    trajectory.add(mt.point(0, "start", Map.of(), Double.NaN, mt.validate()));
    ArrayDeque<Double> losses = new ArrayDeque<>();
    BinaryFilterSearch.Damage damage = new BinaryFilterSearch.Damage() {
      @Override
      public int samples() {
        return n;
      }

      @Override
      public double[][] measure(boolean[][] pruned, int[][][] ablated) {
        syncMasks(mt, layers, pruned);
        try {
          for (int l = 0; l < layers.size(); l++) {
            String in = dg.ablateInputs.get(layers.get(l));
            if (ablated[l] == null) {
              feedOnes(session, in, sizes[l]);
              continue;
            }
            // AOFP Alg. 1, lines 8-9: v = u with H zeroed (the scoring path reads the base input u * x)
            float[] h = new float[n * sizes[l]];
            Arrays.fill(h, 1f);
            for (int s = 0; s < n; s++) {
              for (int u : ablated[l][s]) {
                h[s * sizes[l] + u] = 0f;
              }
            }
            session.feed(in, h, n, sizes[l]);
          }
        } catch (OrtException e) {
          throw MaskedTraining.ort(e);
        }
        TrainingSession.StepResult r = mt.step(options.learningRate); // line 11, and line 10's forward
        losses.addLast(r.loss());
        if (losses.size() > options.phi) {
          losses.removeFirst();
        }
        double[][] t = new double[layers.size()][];
        for (int l = 0; l < layers.size(); l++) {
          if (ablated[l] == null) {
            continue;
          }
          float[] d = session.output(dg.damageOutputs.get(layers.get(l)));
          t[l] = new double[n];
          for (int s = 0; s < n; s++) {
            t[l][s] = d[s];
          }
        }
        return t;
      }
    };
    BinaryFilterSearch.Listener listener = (step, pruned) -> {
      String event = switch (step.outcome()) {
        case PRUNE -> "prune";
        case REFINE -> "refine";
        case STOP -> "stop-layer";
      };
      Double accuracy = null;
      if (step.outcome() == BinaryFilterSearch.Outcome.PRUNE && ++moves % options.validateEvery == 0) {
        syncMasks(mt, layers, pruned);
        accuracy = mt.validate();
      }
      trajectory.add(mt.point(step.call(), event, BinaryFilterSearch.removals(layers, pruned), mean(losses),
          accuracy));
    };
    BinaryFilterSearch.Stop stop = reached == null ? null
        : pruned -> reached.test(BinaryFilterSearch.removals(layers, pruned));
    BinaryFilterSearch.Settings settings = new BinaryFilterSearch.Settings(options.theta, options.phi * n,
        options.maxSteps, options.restart, options.trimFinalMove, options.patience);
    Budget budget = new Budget(options.maxSteps, options.timeBudget);
    BinaryFilterSearch.Halt halt = (calls, pruned) -> budget.outOfTime()
        ? "at its time budget (method.maxSeconds " + Methods.seconds(options.timeBudget) + ")"
        : outOfReach(options.failEarly, budget, calls, BinaryFilterSearch.removals(layers, pruned));
    lastSearch = BinaryFilterSearch.run(sizes, damage, settings, stop, listener, halt, new Random(setup.seed()));
    boolean[][] pruned = new boolean[layers.size()][];
    for (int l = 0; l < layers.size(); l++) {
      pruned[l] = lastSearch.layers().get(l).pruned;
    }
    syncMasks(mt, layers, pruned);
    Map<Integer, int[]> removals = BinaryFilterSearch.removals(layers, pruned);
    trajectory.add(mt.point(lastSearch.steps(), "end", removals, mean(losses), mt.validate()));
    mt.writeBack();
    if (reached != null && !lastSearch.stoppedByTarget()) {
      TrajectoryPoint end = trajectory.get(trajectory.size() - 1);
      String halted = lastSearch.halted();
      boolean spent = halted == null && lastSearch.steps() >= options.maxSteps && !lastSearch.stalled();
      boolean outOfTime = halted != null && halted.startsWith("at its time budget");
      boolean projected = halted != null && !outOfTime;
      String where = String.format(Locale.ROOT, "after %d steps (%d moves) with the FLOPs at %.1f%% of the original",
          lastSearch.steps(), moves, 100 * end.flopsKept());
      String advice = halted != null || spent
          ? "raise " + (outOfTime ? "method.maxSeconds" : "method.maxSteps")
              + ", raise aofp.theta (larger moves) or lower aofp.phi (faster steps)"
          : lastSearch.stalled() ? "raise aofp.theta (more damage allowed per move)"
          : "raise aofp.theta or let stopped layers restart";
      stopReason = projected
          ? "it ended early " + where + ", the target out of reach within its budget (method.maxSteps "
              + options.maxSteps + (options.timeBudget == null ? "" : ", method.maxSeconds "
              + Methods.seconds(options.timeBudget)) + "): " + halted + "; " + advice
          : "it ended " + (outOfTime ? halted : spent ? "at its budget (method.maxSteps " + options.maxSteps + ")"
              : lastSearch.stalled() ? "early, every layer's last " + options.patience + " moves having pruned"
                  + " nothing (their least damaging channels exceed aofp.theta " + options.theta + "),"
              : "with every layer stopped") + " " + where + "; " + advice;
      partial = removals;
    } else {
      chosen = removals;
    }
    double[][] scores = new double[analysis.groups().size()][];
    for (int l = 0; l < layers.size(); l++) {
      BinaryFilterSearch.Layer layer = lastSearch.layers().get(l);
      scores[layers.get(l)] = RemovalOrder.monotone(layer.move, RemovalOrder.finite(layer.lastT));
    }
    return scores;
  }

  /** Feeds the base masks u the search's pruned units imply, for the groups whose mask changed. */
  private static void syncMasks(MaskedTraining mt, List<Integer> layers, boolean[][] pruned) {
    for (int l = 0; l < layers.size(); l++) {
      int id = layers.get(l);
      float[] u = mt.mask(id);
      boolean changed = false;
      for (int i = 0; i < u.length; i++) {
        float want = pruned[l][i] ? 0f : 1f;
        changed |= u[i] != want;
        u[i] = want;
      }
      if (changed) {
        mt.setMask(id, u);
      }
    }
  }

  private static void feedOnes(TrainingSession session, String input, int c) {
    float[] ones = new float[c];
    Arrays.fill(ones, 1f);
    try {
      session.feed(input, ones, 1, c);
    } catch (OrtException e) {
      throw MaskedTraining.ort(e);
    }
  }

  private static double mean(ArrayDeque<Double> xs) {
    return xs.isEmpty() ? Double.NaN : xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
  }
}
