package dev.onnxprune.internal;

import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.prune.Target;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Binary Filter Search (AOFP paper, Algorithm 1), on every layer at once: the core, independent
 * of how damage is measured and of whether the network trains meanwhile.
 *
 * <p>Each layer keeps a base mask u (pruned channels) and a search space A (at the start of a
 * move, every unpruned channel). For every sample, a random half H of A is ablated on top of
 * u and the layer's isolated damage t (eq. 7) is recorded for every channel of H (lines 8-10).
 * After {@code phi} samples (the search cost) each channel of A is scored by the mean of its
 * records, T-hat (eq. 10, line 13); the half of A with the lowest T-hat is the picked set B, and
 * p is the largest T-hat in B (lines 14-15). If {@code p < theta} (eq. 11) B is pruned and a new
 * move starts (lines 18-19); else, if |B| > 1, the search refines on A = B with fresh records
 * (line 16); else the layer stops (line 21). Layers step together: one batch of samples serves
 * every active layer, each with its own random halves.
 *
 * <p><b>Training.</b> The damage function may train the network between measurements (line 11,
 * {@link AofpTraining}). Then a stopped layer can be restarted ({@link Settings#restart}): as in
 * the paper's Section 4.2, "the AOFP process is restarted, i.e., we finish the current move
 * without changing the base mask and start the next move". On a fixed model ({@link
 * AofpCriterion}) a restart would only repeat the search, so the layer stays stopped.
 *
 * <p><b>Target.</b> A {@link Stop} is checked after every single move (Section 4.2: "after each
 * move on any conv layer, we calculate the reduced global FLOPs"). Moves that finish on the same
 * batch are made in ascending order of p, the least damaging first, so the target is met with the
 * least damage; once it is met the search ends and the other moves of that batch are not made.
 *
 * <p><b>Stall.</b> With restarts a layer never stops, so a search whose every move ends with
 * nothing pruned would run to its budget. With {@link Settings#patience} k > 0 it ends as
 * stalled once every layer has ended k moves in a row with nothing pruned.
 * The move that meets the target is made whole, or, with {@link Settings#trimFinalMove}, only its
 * lowest-T-hat channels, as few as meet the target (less overshoot).
 */
public final class BinaryFilterSearch {
  /** Measures isolated damage for a batch of samples. */
  public interface Damage {
    /** Samples per call. */
    public int samples();

    /**
     * Isolated damage {@code t[l][s]} of layer l on sample s, with {@code ablated[l][s]} (units)
     * ablated on top of {@code pruned[l]}. {@code ablated[l]} is null for a layer not searched
     * in this call (its entries of the result are ignored).
     */
    double[][] measure(boolean[][] pruned, int[][][] ablated);
  }

  /** Decides when to stop all layers early (e.g. a FLOPs target is met); checked after every move. */
  public interface Stop {
    public boolean reached(boolean[][] pruned);
  }

  /**
   * Ends the search early for a reason of the caller's (a time budget, a projection that the
   * target is out of reach); asked once per batch, after its moves.
   */
  public interface Halt {
    /** Null to go on; else why the search ends (told back in {@link Result#halted}). */
    String halt(int calls, boolean[][] pruned);
  }

  /** What a finished search step did (lines 17-22). */
  public enum Outcome {
    /** p < theta: the picked set was pruned (a move ended). */
    PRUNE,
    /** p >= theta and |B| > 1: the search continues on A = B. */
    REFINE,
    /** p >= theta and |B| = 1: the move ended with nothing pruned (the layer stopped or restarted). */
    STOP
  }

  /**
   * One finished step of one layer, told to the {@link Listener} after it took effect.
   *
   * @param layer index of the layer
   * @param call measurements made so far (the step finished after this many)
   * @param outcome what it did
   * @param space the search space A of the step
   * @param picked B; for PRUNE, the units pruned (fewer than B when the final move was trimmed)
   * @param p the largest T-hat in B
   */
  public record Step(int layer, int call, Outcome outcome, int[] space, int[] picked, double p) {}

  /** Told every finished step. */
  public interface Listener {
    /** {@code pruned[l][u]}: the base masks after the step (read only). */
    public void step(Step s, boolean[][] pruned);
  }

  /**
   * @param theta refinement threshold (eq. 11)
   * @param phi samples per search step and layer (search cost)
   * @param maxCalls damage measurements at most (a budget: the search always ends)
   * @param restart restart a stopped layer with a new move instead of leaving it stopped
   * @param trimFinalMove make only as much of the move that meets the target as it needs
   * @param patience with restarts: the search ends as stalled once every layer that can still
   *     move has ended this many moves in a row with nothing pruned (0: never; restarts run to the
   *     budget)
   */
  public record Settings(double theta, int phi, int maxCalls, boolean restart, boolean trimFinalMove, int patience) {
    /** Settings without the stall rule (patience 0). */
    public Settings(double theta, int phi, int maxCalls, boolean restart, boolean trimFinalMove) {
      this(theta, phi, maxCalls, restart, trimFinalMove, 0);
    }
  }

  /** The search state of one layer. */
  public static final class Layer {
    public final int size;
    public final boolean[] pruned;
    /** Move in which each unit was pruned, -1 while unpruned. */
    public final int[] move;
    /** Each unit's last T-hat (NaN before its first step). */
    public final double[] lastT;
    /** |A| of every step, in order (for tests and reports). */
    public final List<Integer> searchSpaceSizes = new ArrayList<>();
    public int[] space;
    public int moves;
    public boolean stopped;
    /** Moves in a row that ended with nothing pruned (reset by a prune). */
    public int failedMoves;
    double[] sum;
    public int[] count;
    public int collected;

    public Layer(int size) {
      this.size = size;
      this.pruned = new boolean[size];
      this.move = new int[size];
      Arrays.fill(move, -1);
      this.lastT = new double[size];
      Arrays.fill(lastT, Double.NaN);
      startMove();
    }

    private void startMove() {
      // AOFP Alg. 1, line 4: the search space is every unpruned channel
      space = java.util.stream.IntStream.range(0, size).filter(u -> !pruned[u]).toArray();
      if (space.length < 2) {
        stopped = true;
      }
      clearRecords();
    }

    private void clearRecords() {
      sum = new double[size];
      count = new int[size];
      collected = 0;
    }

    /** Line 8: a random |A|/2 of the search space. */
    public int[] drawHalf(Random r) {
      int[] a = space.clone();
      int h = Math.max(1, a.length / 2);
      for (int i = 0; i < h; i++) {
        int j = i + r.nextInt(a.length - i);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
      }
      return Arrays.copyOf(a, h);
    }

    /** Line 10: record t for every ablated unit. */
    public void record(int[] ablated, double t) {
      for (int u : ablated) {
        sum[u] += t;
        count[u]++;
      }
      collected++;
    }

    /**
     * Lines 13-15 and the test of line 17, once {@code phi} samples are in: the picked set B
     * (ascending T-hat) and p. Records T-hat in {@link #lastT}; changes nothing else.
     */
    public Decision decide(int index, double theta) {
      searchSpaceSizes.add(space.length);
      double[] tHat = new double[size];
      Integer[] order = new Integer[space.length];
      for (int i = 0; i < space.length; i++) {
        int u = space[i];
        tHat[u] = count[u] == 0 ? Double.POSITIVE_INFINITY : sum[u] / count[u]; // eq. 10
        lastT[u] = tHat[u];
        order[i] = u;
      }
      Arrays.sort(order, (x, y) -> Double.compare(tHat[x], tHat[y]));
      int b = Math.max(1, space.length / 2);
      int[] picked = new int[b];
      double p = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < b; i++) {
        picked[i] = order[i];
        p = Math.max(p, tHat[order[i]]); // line 15
      }
      Outcome o = p < theta ? Outcome.PRUNE : b > 1 ? Outcome.REFINE : Outcome.STOP;
      return new Decision(index, o, space, picked, p);
    }

    /** Lines 18-19: prunes {@code units} and starts a new move. */
    public void prune(int[] units) {
      for (int u : units) {
        pruned[u] = true;
        move[u] = moves;
      }
      moves++;
      failedMoves = 0;
      startMove();
    }

    /** Line 16: the search continues on the picked half with fresh records. */
    public void refine(int[] picked) {
      space = picked;
      clearRecords();
    }

    /** Line 21, or the paper's restart (Section 4.2): a new move on the same unpruned channels. */
    public void stop(boolean restart) {
      failedMoves++;
      if (restart) {
        startMove();
      } else {
        stopped = true;
      }
    }
  }

  /** A step's outcome before it is made. */
  public record Decision(int layer, Outcome outcome, int[] space, int[] picked, double p) {}

  /**
   * What the search did.
   *
   * @param stalled it ended because every layer that could still move had ended {@link
   *     Settings#patience} moves in a row with nothing pruned
   * @param halted why a {@link Halt} ended it, or null
   */
  public record Result(List<Layer> layers, int steps, long samples, boolean stoppedByTarget, boolean stalled,
      String halted) {}

  private BinaryFilterSearch() {}

  /**
   * Runs the search on layers of the given sizes, without restarts, until every layer has
   * stopped, {@code stop} says so after a move, or {@code maxCalls} damage measurements have
   * been made.
   */
  public static Result run(int[] sizes, Damage damage, double theta, int phi, int maxCalls, Stop stop, Random random) {
    return run(sizes, damage, new Settings(theta, phi, maxCalls, false, false), stop, null, random);
  }

  /**
   * Runs the search on layers of the given sizes until every layer has stopped, {@code stop}
   * (may be null) says so after a move, or {@code settings.maxCalls()} damage measurements have
   * been made. {@code listener} (may be null) is told every finished step.
   */
  public static Result run(int[] sizes, Damage damage, Settings settings, Stop stop, Listener listener, Random random) {
    return run(sizes, damage, settings, stop, listener, null, random);
  }

  /**
   * As {@link #run(int[], Damage, Settings, Stop, Listener, Random)}, and ends early when {@code
   * halt} (may be null) gives a reason after a batch that did not meet the target.
   */
  public static Result run(int[] sizes, Damage damage, Settings settings, Stop stop, Listener listener, Halt halt,
      Random random) {
    List<Layer> layers = new ArrayList<>();
    for (int s : sizes) {
      layers.add(new Layer(s));
    }
    boolean[][] pruned = new boolean[sizes.length][];
    for (int l = 0; l < sizes.length; l++) {
      pruned[l] = layers.get(l).pruned;
    }
    int calls = 0;
    long samples = 0;
    boolean byTarget = false;
    boolean stalled = false;
    String halted = null;
    while (!byTarget && !stalled && halted == null && calls < settings.maxCalls() && layers.stream().anyMatch(l -> !l.stopped)) {
      int n = damage.samples();
      int[][][] ablated = new int[sizes.length][][];
      for (int l = 0; l < sizes.length; l++) {
        Layer layer = layers.get(l);
        if (layer.stopped) {
          continue;
        }
        ablated[l] = new int[n][];
        for (int s = 0; s < n; s++) {
          ablated[l][s] = layer.drawHalf(random);
        }
      }
      double[][] t = damage.measure(pruned, ablated);
      calls++;
      samples += n;
      List<Decision> decisions = new ArrayList<>();
      for (int l = 0; l < sizes.length; l++) {
        Layer layer = layers.get(l);
        if (ablated[l] == null) {
          continue;
        }
        for (int s = 0; s < n; s++) {
          layer.record(ablated[l][s], t[l][s]);
        }
        if (layer.collected >= settings.phi()) {
          decisions.add(layer.decide(l, settings.theta()));
        }
      }
      // refinements and stops first (they change no FLOPs), then the moves, least damaging first
      decisions.sort(Comparator.comparing((Decision d) -> d.outcome() == Outcome.PRUNE)
          .thenComparingDouble(d -> d.outcome() == Outcome.PRUNE ? d.p() : 0));
      for (Decision d : decisions) {
        Layer layer = layers.get(d.layer());
        int[] made = d.picked();
        switch (d.outcome()) {
          case REFINE -> layer.refine(d.picked());
          case STOP -> layer.stop(settings.restart());
          case PRUNE -> {
            layer.prune(d.picked());
            if (stop != null && stop.reached(pruned)) {
              byTarget = true;
              if (settings.trimFinalMove()) {
                made = trim(layer, d.picked(), stop, pruned);
              }
            }
          }
          default -> throw new AssertionError(d.outcome());
        }
        if (listener != null) {
          listener.step(new Step(d.layer(), calls, d.outcome(), d.space(), made, d.p()), pruned);
        }
        if (byTarget) {
          break;
        }
      }
      // layers too narrow to move (stopped for good) neither stall the search nor keep it going
      stalled = !byTarget && settings.patience() > 0 && layers.stream().anyMatch(l -> !l.stopped)
          && layers.stream().allMatch(l -> l.stopped || l.failedMoves >= settings.patience());
      if (!byTarget && !stalled && halt != null) {
        halted = halt.halt(calls, pruned);
      }
    }
    return new Result(layers, calls, samples, byTarget, stalled, halted);
  }

  /** Group id -> pruned units, for the groups {@code ids} (layer order) with any pruned. */
  public static Map<Integer, int[]> removals(List<Integer> ids, boolean[][] pruned) {
    Map<Integer, int[]> out = new LinkedHashMap<>();
    for (int l = 0; l < ids.size(); l++) {
      boolean[] p = pruned[l];
      int[] units = java.util.stream.IntStream.range(0, p.length).filter(u -> p[u]).toArray();
      if (units.length > 0) {
        out.put(ids.get(l), units);
      }
    }
    return out;
  }

  /**
   * The move {@code picked} (ascending T-hat) met the target: keeps only its shortest prefix that
   * still meets it and gives the rest back. Returns the units pruned.
   */
  private static int[] trim(Layer layer, int[] picked, Stop stop, boolean[][] pruned) {
    for (int u : picked) {
      layer.pruned[u] = false;
    }
    int k = 0;
    while (k < picked.length) {
      layer.pruned[picked[k++]] = true;
      if (stop.reached(pruned)) {
        break;
      }
    }
    for (int i = k; i < picked.length; i++) {
      layer.move[picked[i]] = -1;
    }
    layer.space = java.util.stream.IntStream.range(0, layer.size).filter(u -> !layer.pruned[u]).toArray();
    return Arrays.copyOf(picked, k);
  }
}
