package dev.onnxprune.criteria;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Binary Filter Search (AOFP paper, Algorithm 1), on every layer at once, without training: the
 * core, independent of how damage is measured.
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
 * <p>Without training (this class), "Back-prop gradients, update parameters" (line 11) is
 * skipped: the model is fixed, so a stopped layer stays stopped, and the paper's restart of a
 * stopped layer would only repeat the search.
 */
final class BinaryFilterSearch {
  /** Measures isolated damage for a batch of samples. */
  interface Damage {
    /** Samples per call. */
    int samples();

    /**
     * Isolated damage {@code t[l][s]} of layer l on sample s, with {@code ablated[l][s]} (units)
     * ablated on top of {@code pruned[l]}. {@code ablated[l]} is null for a layer not searched
     * in this call (its entries of the result are ignored).
     */
    double[][] measure(boolean[][] pruned, int[][][] ablated);
  }

  /** Decides when to stop all layers early (e.g. a FLOPs target is met); checked after every move. */
  interface Stop {
    boolean reached(boolean[][] pruned);
  }

  /** The search state of one layer. */
  static final class Layer {
    final int size;
    final boolean[] pruned;
    /** Move in which each unit was pruned, -1 while unpruned. */
    final int[] move;
    /** Each unit's last T-hat (NaN before its first step). */
    final double[] lastT;
    /** |A| of every step, in order (for tests and reports). */
    final List<Integer> searchSpaceSizes = new ArrayList<>();
    int[] space;
    int moves;
    boolean stopped;
    double[] sum;
    int[] count;
    int collected;

    Layer(int size) {
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
    int[] drawHalf(Random r) {
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
    void record(int[] ablated, double t) {
      for (int u : ablated) {
        sum[u] += t;
        count[u]++;
      }
      collected++;
    }

    /** Lines 13-22, once {@code phi} samples are in. Returns true when units were pruned. */
    boolean finishStep(double theta) {
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
      if (p < theta) {
        for (int u : picked) { // line 19: prune the picked filters
          pruned[u] = true;
          move[u] = moves;
        }
        moves++;
        startMove();
        return true;
      }
      if (b == 1) {
        stopped = true; // line 21
        return false;
      }
      space = picked; // line 16: refine on the picked half
      clearRecords();
      return false;
    }
  }

  /** What the search did. */
  record Result(List<Layer> layers, int steps, long samples, boolean stoppedByTarget) {}

  private BinaryFilterSearch() {}

  /**
   * Runs the search on layers of the given sizes until every layer has stopped, {@code stop}
   * says so after a move, or {@code maxCalls} damage measurements have been made.
   */
  static Result run(int[] sizes, Damage damage, double theta, int phi, int maxCalls, Stop stop, Random random) {
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
    while (calls < maxCalls && layers.stream().anyMatch(l -> !l.stopped)) {
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
      boolean movedAny = false;
      for (int l = 0; l < sizes.length; l++) {
        Layer layer = layers.get(l);
        if (ablated[l] == null) {
          continue;
        }
        for (int s = 0; s < n; s++) {
          layer.record(ablated[l][s], t[l][s]);
        }
        if (layer.collected >= phi) {
          movedAny |= layer.finishStep(theta);
        }
      }
      if (movedAny && stop != null && stop.reached(pruned)) {
        byTarget = true;
        break;
      }
    }
    return new Result(layers, calls, samples, byTarget);
  }
}
