package dev.onnxprune.internal;


import dev.onnxprune.internal.RemovalOrder;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Algorithm 1's core on a synthetic, additive damage function (no ONNX Runtime). */
class BinaryFilterSearchTest {
  /** t = (sum of the ablated weights) / (sum of the unpruned weights), per layer, exact. */
  static BinaryFilterSearch.Damage additive(double[][] w, int samples) {
    return new BinaryFilterSearch.Damage() {
      @Override
      public int samples() {
        return samples;
      }

      @Override
      public double[][] measure(boolean[][] pruned, int[][][] ablated) {
        double[][] t = new double[w.length][];
        for (int l = 0; l < w.length; l++) {
          if (ablated[l] == null) {
            continue;
          }
          double total = 0;
          for (int u = 0; u < w[l].length; u++) {
            total += pruned[l][u] ? 0 : w[l][u];
          }
          t[l] = new double[samples];
          for (int s = 0; s < samples; s++) {
            double d = 0;
            for (int u : ablated[l][s]) {
              assertFalse(pruned[l][u], "a pruned unit was ablated again");
              d += w[l][u];
            }
            t[l][s] = d / total;
          }
        }
        return t;
      }
    };
  }

  @Test
  void halvesTheSearchSpaceUntilThePickedSetIsCheapThenPrunesIt() {
    // 16 units: 4 nearly free (0.001), the rest 1.0. Half-ablations of all 16 cost ~0.4; of the
    // cheapest 8 ~0.2..; of the cheapest 4 ... the picked 2 of the 4 free ones cost ~0.0001.
    double[] w = new double[16];
    java.util.Arrays.fill(w, 1.0);
    int[] free = {3, 7, 8, 14};
    for (int u : free) {
      w[u] = 0.001;
    }
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {16}, additive(new double[][] {w}, 32), 0.01,
        256, 1000, null, new Random(1));
    BinaryFilterSearch.Layer layer = r.layers().get(0);
    List<Integer> sizes = layer.searchSpaceSizes;
    assertEquals(List.of(16, 8, 4), sizes.subList(0, 3), "each refinement halves the search space");
    for (int i = 1; i < sizes.size(); i++) {
      int prev = sizes.get(i - 1);
      int cur = sizes.get(i);
      assertTrue(cur == Math.max(1, prev / 2) || cur > prev / 2, "steps " + sizes);
    }
    for (int u = 0; u < 16; u++) {
      boolean isFree = w[u] < 0.01;
      assertEquals(isFree, layer.pruned[u], "unit " + u + " (weight " + w[u] + ")");
    }
    assertTrue(layer.stopped, "the search terminates once a single unit is too costly");
    assertTrue(r.steps() < 1000);
  }

  @Test
  void everyLayerStepsAtOnceAndStopsOnItsOwn() {
    double[] a = {1, 1, 1, 1, 1, 1, 1, 1};
    double[] b = {0.0001, 1, 0.0001, 1};
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {8, 4}, additive(new double[][] {a, b}, 16), 0.05,
        64, 1000, null, new Random(2));
    BinaryFilterSearch.Layer la = r.layers().get(0);
    BinaryFilterSearch.Layer lb = r.layers().get(1);
    assertTrue(la.stopped && lb.stopped);
    for (boolean p : la.pruned) {
      assertFalse(p, "equal, costly units: nothing is pruned");
    }
    assertEquals(List.of(8, 4, 2), la.searchSpaceSizes, "refines down to one unit, then stops");
    assertTrue(lb.pruned[0] && lb.pruned[2] && !lb.pruned[1] && !lb.pruned[3]);
  }

  @Test
  void stopsAllLayersWhenTheTargetIsReached() {
    double[] w = new double[32];
    for (int u = 0; u < w.length; u++) {
      w[u] = 1e-4 * (u + 1);
    }
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {32}, additive(new double[][] {w}, 32), 0.6, 64,
        1000, pruned -> java.util.stream.IntStream.range(0, 32).filter(u -> pruned[0][u]).count() >= 16,
        new Random(3));
    assertTrue(r.stoppedByTarget());
    long n = java.util.stream.IntStream.range(0, 32).filter(u -> r.layers().get(0).pruned[u]).count();
    assertEquals(16, n, "the first move prunes the cheaper half, which meets the target");
  }

  @Test
  void removalOrderScoresFollowTheMoves() {
    double[] s = RemovalOrder.monotone(new int[] {1, -1, 0, -1}, new double[] {0.5, 0.2, 0.9, 0.7});
    assertTrue(s[2] < s[0] && s[0] < s[1] && s[1] < s[3], java.util.Arrays.toString(s));
    assertEquals(0.9, s[2], 0);
  }
}
