package dev.onnxprune.internal;

import java.util.Arrays;
import java.util.Comparator;

/**
 * Scores from an iterative removal: channels removed in round r rank below those removed later,
 * which rank below the survivors; within a round (and among survivors) by their last measured
 * value. The returned scores follow that order strictly (a value lower than its predecessor's is
 * raised just above it), so an allocator taking the lowest scores removes in the same order.
 */
public final class RemovalOrder {
  private RemovalOrder() {}

  /**
   * @param round round in which each unit was removed, -1 for survivors
   * @param value each unit's last measured value
   */
  public static double[] monotone(int[] round, double[] value) {
    int n = value.length;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Comparator<Integer> byRound = Comparator.comparingInt(i -> round[i] < 0 ? Integer.MAX_VALUE : round[i]);
    Arrays.sort(order, byRound.thenComparingDouble(i -> value[i]).thenComparingInt(i -> i));
    double[] out = new double[n];
    double prev = Double.NEGATIVE_INFINITY;
    for (Integer i : order) {
      double v = value[i];
      if (!(v > prev)) {
        v = prev + Math.max(Math.ulp(prev) * 4, 1e-12 * Math.abs(prev) + 1e-15);
      }
      out[i] = v;
      prev = v;
    }
    return out;
  }

  /** {@code t} with units never scored (NaN) or without records (infinite) ranked above every measured one. */
  public static double[] finite(double[] t) {
    double max = Arrays.stream(t).filter(Double::isFinite).max().orElse(0);
    double[] out = t.clone();
    for (int i = 0; i < out.length; i++) {
      if (!Double.isFinite(out[i])) {
        out[i] = max + 1;
      }
    }
    return out;
  }
}
