package dev.onnxprune.exec;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Partial sums by name: arrays of doubles that add element-wise when shards merge. A name only one
 * shard has (a per-batch value) is kept as it is.
 */
public final class Sums implements Serializable {
  private static final long serialVersionUID = 1L;
  private final LinkedHashMap<String, double[]> arrays = new LinkedHashMap<>();

  /** The array {@code key}, made of {@code length} zeros when absent. */
  public double[] array(String key, int length) {
    double[] a = arrays.computeIfAbsent(key, k -> new double[length]);
    if (a.length != length) {
      throw new IllegalStateException("'" + key + "' has " + a.length + " values, not " + length);
    }
    return a;
  }

  /** The array {@code key}, or null. */
  public double[] get(String key) {
    return arrays.get(key);
  }

  /** The one value {@code key} (0 when absent). */
  public double value(String key) {
    double[] a = arrays.get(key);
    return a == null ? 0 : a[0];
  }

  /** Adds {@code v} to the one value {@code key}. */
  public void add(String key, double v) {
    array(key, 1)[0] += v;
  }

  /** Adds {@code later}'s arrays to these, element-wise; returns this. */
  public Sums merge(Sums later) {
    for (Map.Entry<String, double[]> e : later.arrays.entrySet()) {
      double[] mine = arrays.get(e.getKey());
      if (mine == null) {
        arrays.put(e.getKey(), e.getValue().clone());
      } else {
        double[] theirs = e.getValue();
        if (theirs.length != mine.length) {
          throw new IllegalStateException("'" + e.getKey() + "' has " + mine.length + " and " + theirs.length
              + " values in two shards");
        }
        for (int i = 0; i < mine.length; i++) {
          mine[i] += theirs[i];
        }
      }
    }
    return this;
  }
}
