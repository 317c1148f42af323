package dev.onnxprune.prune;

import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.HashMap;
import java.util.Map;

/**
 * The widths each group may keep for a channel multiple (see {@link Rounding} for the rules): in
 * units, a group of n units keeps a multiple of its step s (at least s, and at least its floor),
 * or all n. The step is the fewest units whose channels make a multiple in every tensor where
 * each of the group's units has the same number of channels: a producer's output, a consumer's
 * input (Conv input channels, Concat pieces). Tensors where units are unevenly spread (a Split
 * piece holding some of the units) do not constrain it.
 */
final class GroupWidths {
  private final int multiple;
  private final Map<Integer, Integer> steps;

  private GroupWidths(int multiple, Map<Integer, Integer> steps) {
    this.multiple = multiple;
    this.steps = steps;
  }

  /** Exact widths: every step is 1. */
  static GroupWidths exact() {
    return new GroupWidths(1, Map.of());
  }

  /** The steps of every prunable group of {@code a} for channel counts in multiples of {@code multiple}. */
  static GroupWidths of(ChannelAnalysis a, int multiple) {
    if (multiple <= 1) {
      return exact();
    }
    Map<Integer, Integer> steps = new HashMap<>();
    for (ChannelGroup g : a.prunableGroups()) {
      int step = 1;
      for (ChannelAnalysis.ParameterSlice p : a.producerWeights(g)) {
        int[] count = new int[g.size()];
        for (int u : p.units()) {
          if (u >= 0) {
            count[u]++;
          }
        }
        step = lcm(step, stepFor(multiple, evenCount(count)));
      }
      steps.put(g.id(), step);
    }
    for (ChannelAnalysis.ConsumerInput in : a.consumerInputs()) {
      Map<Integer, int[]> counts = new HashMap<>();
      for (int p = 0; p < in.length(); p++) {
        int g = in.groups()[p];
        if (steps.containsKey(g)) {
          counts.computeIfAbsent(g, k -> new int[a.groups().get(k).size()])[in.units()[p]]++;
        }
      }
      counts.forEach((g, count) -> steps.merge(g, stepFor(multiple, evenCount(count)), GroupWidths::lcm));
    }
    return new GroupWidths(multiple, steps);
  }

  /** The number of positions every unit has ({@code count} per unit); 0 when they differ. */
  private static int evenCount(int[] count) {
    int c = count[0];
    for (int k : count) {
      if (k != c) {
        return 0;
      }
    }
    return c;
  }

  /** Units whose {@code perUnit} channels each make a multiple of {@code multiple}; 1 when unconstrained. */
  private static int stepFor(int multiple, int perUnit) {
    return perUnit == 0 ? 1 : multiple / gcd(multiple, perUnit);
  }

  /** The channel multiple (1: exact). */
  int multiple() {
    return multiple;
  }

  /** True when every group keeps exact widths. */
  boolean exactEverywhere() {
    return steps.values().stream().allMatch(s -> s == 1);
  }

  /** The step of group {@code id}, in units (1 for a group that is not prunable). */
  int step(int id) {
    return steps.getOrDefault(id, 1);
  }

  /** The smallest width {@code g} may keep that is at least {@code keep} and {@code floor}. */
  int roundUp(ChannelGroup g, int keep, int floor) {
    int s = step(g.id());
    int k = Math.max(Math.max(keep, floor), s);
    k = (k + s - 1) / s * s;
    return Math.min(k, g.size());
  }

  /** The largest width {@code g} may keep below {@code keep} (at least {@code floor}); -1 when none. */
  int below(ChannelGroup g, int keep, int floor) {
    int s = step(g.id());
    int k = (keep - 1) / s * s;
    return k >= Math.max(s, floor) && k >= 1 ? k : -1;
  }

  /** The smallest width {@code g} may keep above {@code keep}; -1 when {@code keep} is its size. */
  int above(ChannelGroup g, int keep) {
    if (keep >= g.size()) {
      return -1;
    }
    int s = step(g.id());
    return Math.min(g.size(), (keep / s + 1) * s);
  }

  private static int gcd(int a, int b) {
    return b == 0 ? a : gcd(b, a % b);
  }

  private static int lcm(int a, int b) {
    return a / gcd(a, b) * b;
  }
}
