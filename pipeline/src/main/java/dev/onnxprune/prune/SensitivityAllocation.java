package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.TargetUnreachableException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntBinaryOperator;
import java.util.function.ToDoubleFunction;

/**
 * Per-group removal counts from {@link Sensitivity} curves: the target met with the least
 * predicted loss of top-1.
 * <ol>
 *   <li>The predicted loss of a group that loses k channels is the top-1 drop (points) measured
 *       when it alone lost them, interpolated linearly between the measured counts (no drop at 0);
 *       a drop measured smaller at more channels is taken as the larger one before it (on a few
 *       hundred samples a curve wobbles; a group does not get better for losing more). A group
 *       loses at most the most channels measured: the curve says nothing beyond.
 *   <li>Groups add: the model's predicted loss is the sum over groups, as Li et al. (2017, section
 *       4.3) treat layers independently; what the groups do to each other is left to
 *       recalibration and fine-tuning.
 *   <li>Greedy: from nothing removed, the step (one group, from its count to its next allowed one)
 *       with the least predicted loss per unit of the target's measure it removes is taken, until
 *       the target is met. A small constant added to every step's loss makes, among steps that
 *       cost no measured accuracy, the one that removes most go first.
 *   <li>Then single steps are given back, the most predicted loss first, while the target stays
 *       met: the last steps may overshoot.
 * </ol>
 * Groups the curves do not cover keep all their channels.
 */
final class SensitivityAllocation {
  /** Added to every step's predicted loss, in points: ties among free steps go to the one removing most. */
  private static final double EPSILON = 1e-3;

  private final Sensitivity.Result curves;
  /** Group id -> (channels removed -> top-1 drop in points), non-decreasing, starting at (0, 0). */
  private final Map<Integer, TreeMap<Integer, Double>> drops = new LinkedHashMap<>();

  SensitivityAllocation(Sensitivity.Result curves) {
    this.curves = curves;
    for (Sensitivity.Curve c : curves.curves()) {
      TreeMap<Integer, Double> d = new TreeMap<>();
      d.put(0, 0.0);
      List<Sensitivity.Point> points = new ArrayList<>(c.points());
      points.sort(Comparator.comparingInt(Sensitivity.Point::removed));
      double worst = 0;
      for (Sensitivity.Point p : points) {
        worst = Math.max(worst, 100 * (curves.baseline().top1() - p.top1()));
        d.merge(p.removed(), worst, Math::max);
      }
      drops.put(c.group(), d);
    }
  }

  /**
   * Refuses curves measured on another model: each curve's group must have the size the curve says.
   *
   * @throws InvalidOptionException (key {@code allocation}) naming the first group that differs
   */
  void check(Map<Integer, Integer> sizes) {
    for (Sensitivity.Curve c : curves.curves()) {
      Integer size = sizes.get(c.group());
      if (size != null && size != c.channels()) {
        throw new InvalidOptionException("allocation", "sensitivity", String.format(Locale.ROOT, "has curves of"
            + " another model: group %d has %d channels, its curve %d", c.group(), size, c.channels()));
      }
    }
  }

  /** The predicted top-1 drop, in points, of group {@code group} without {@code removed} channels. */
  double predicted(int group, int removed) {
    TreeMap<Integer, Double> d = drops.get(group);
    if (d == null) {
      return removed == 0 ? 0 : Double.POSITIVE_INFINITY;
    }
    Map.Entry<Integer, Double> lo = d.floorEntry(removed);
    Map.Entry<Integer, Double> hi = d.ceilingEntry(removed);
    if (hi == null) {
      return Double.POSITIVE_INFINITY;
    }
    if (lo.getKey().equals(hi.getKey())) {
      return lo.getValue();
    }
    double t = (double) (removed - lo.getKey()) / (hi.getKey() - lo.getKey());
    return lo.getValue() + t * (hi.getValue() - lo.getValue());
  }

  /** The most channels of {@code group} the curves cover (0 for a group they do not). */
  int measuredMax(int group) {
    TreeMap<Integer, Double> d = drops.get(group);
    return d == null ? 0 : d.lastKey();
  }

  /** The predicted top-1 drop, in points, of {@code counts} (group id -> channels removed). */
  double predicted(Map<Integer, Integer> counts) {
    return counts.entrySet().stream().mapToDouble(e -> predicted(e.getKey(), e.getValue())).sum();
  }

  /**
   * Counts that meet {@code fraction} of the target's measure with the least predicted loss.
   *
   * @param groups the groups that may be pruned, by id
   * @param next {@code (group, count)} -> the next count the group may have (a step of its allowed
   *     widths, within its floor), or -1 when it may lose no more
   * @param reduction counts (group id -> channels removed, each group's lowest-ranked first) -> the
   *     fraction of the target's measure they remove
   * @param fraction the target
   * @throws TargetUnreachableException when removing all the curves allow does not reach it
   */
  Map<Integer, Integer> allocate(List<Integer> groups, IntBinaryOperator next,
      ToDoubleFunction<Map<Integer, Integer>> reduction, double fraction) {
    Map<Integer, Integer> cur = new LinkedHashMap<>();
    groups.forEach(g -> cur.put(g, 0));
    double reached = reduction.applyAsDouble(cur);
    while (reached < fraction) {
      int best = -1;
      int bestCount = 0;
      double bestKey = Double.POSITIVE_INFINITY;
      double bestReached = reached;
      for (int g : groups) {
        int k = cur.get(g);
        int n = next.applyAsInt(g, k);
        if (n < 0 || n > measuredMax(g)) {
          continue;
        }
        cur.put(g, n);
        double r = reduction.applyAsDouble(cur);
        cur.put(g, k);
        if (r <= reached) {
          continue;
        }
        double key = (predicted(g, n) - predicted(g, k) + EPSILON) / (r - reached);
        if (key < bestKey) {
          best = g;
          bestCount = n;
          bestKey = key;
          bestReached = r;
        }
      }
      if (best < 0) {
        throw new TargetUnreachableException(String.format(Locale.ROOT, "the sensitivity allocation cannot reach"
            + " %.3f: removing every channel its curves measured (at most %.0f%% of a group) removes %.3f", fraction,
            100 * curves.ratios().get(curves.ratios().size() - 1), reached));
      }
      cur.put(best, bestCount);
      reached = bestReached;
    }
    return giveBack(cur, groups, next, reduction, fraction);
  }

  /** Steps back, the most predicted loss first, while the target stays met. */
  private Map<Integer, Integer> giveBack(Map<Integer, Integer> cur, List<Integer> groups, IntBinaryOperator next,
      ToDoubleFunction<Map<Integer, Integer>> reduction, double fraction) {
    boolean changed = true;
    while (changed) {
      changed = false;
      List<int[]> backs = new ArrayList<>(); // {group, previous count}
      for (int g : groups) {
        int prev = previous(g, cur.get(g), next);
        if (prev >= 0) {
          backs.add(new int[] {g, prev});
        }
      }
      backs.sort(Comparator.comparingDouble(b -> -(predicted(b[0], cur.get(b[0])) - predicted(b[0], b[1]))));
      for (int[] b : backs) {
        int k = cur.get(b[0]);
        cur.put(b[0], b[1]);
        if (reduction.applyAsDouble(cur) >= fraction) {
          changed = true;
          break;
        }
        cur.put(b[0], k);
      }
    }
    return cur;
  }

  /** The count before {@code k} on the group's steps from 0, or -1 at 0. */
  private static int previous(int group, int k, IntBinaryOperator next) {
    int prev = -1;
    for (int c = 0; c < k && c >= 0; c = next.applyAsInt(group, c)) {
      prev = c;
    }
    return prev;
  }
}
