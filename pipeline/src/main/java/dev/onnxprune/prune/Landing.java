package dev.onnxprune.prune;

import dev.onnxprune.surgery.ChannelGroup;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Lands rounded widths on a target. A search over one parameter (the uniform fraction, the global
 * rank) moves many groups at once when their widths cross a multiple together (DenseNet's 32-channel
 * pieces all drop to 16 at the same fraction), so the first widths that meet the target can
 * overshoot it by far. From the widths just below the target ({@code lo}) toward those just above
 * ({@code hi}):
 * <ol>
 *   <li>Approach: narrow one group by one step at a time, the group furthest above its ideal width
 *       (relative to its size) first, until one more step would meet the target; then take, of all
 *       single steps that meet it, the one that overshoots least.
 *   <li>Polish: while it overshoots by more than {@link #CLOSE_ENOUGH}, give one step back to a
 *       group if the target still holds; else give one back where that falls least below the
 *       target (a few candidates) and fill the gap again with steps of other groups, largest
 *       that fit first, the smallest closing one last; keep what overshoots least.
 * </ol>
 * One evaluation per approach step, two per group and one per fill step per polish round: a few
 * hundred on DenseNet-121 (about 0.5 ms each there).
 */
final class Landing {
  /** Overshoot (fraction of the target's measure) below which polishing stops. */
  static final double CLOSE_ENOUGH = 0.002;
  private static final int POLISH_ROUNDS = 20;
  private static final int REFILLS = 6;
  private static final int FILL_STEPS = 64;

  private final List<ChannelGroup> groups;
  private final GroupWidths widths;
  private final Map<Integer, Integer> floor;
  private final ToDoubleFunction<Map<Integer, Integer>> measure;
  private final double target;

  /**
   * @param groups the groups that may change
   * @param widths their steps
   * @param floor the fewest units each group keeps, by group id
   * @param measure the fraction of the target's measure that removal counts (group id -> units
   *     removed, the lowest-ranked first) remove
   * @param target the fraction to reach
   */
  Landing(List<ChannelGroup> groups, GroupWidths widths, Map<Integer, Integer> floor,
      ToDoubleFunction<Map<Integer, Integer>> measure, double target) {
    this.groups = groups;
    this.widths = widths;
    this.floor = floor;
    this.measure = measure;
    this.target = target;
  }

  /**
   * Removal counts that meet the target with little overshoot.
   *
   * @param lo counts that do not meet it
   * @param hi counts that do (every group removes at least as many as in {@code lo})
   * @param idealKeep each group's width before rounding at {@code hi}, by group id
   */
  Map<Integer, Integer> land(Map<Integer, Integer> lo, Map<Integer, Integer> hi, Map<Integer, Double> idealKeep) {
    Map<Integer, Integer> cur = approach(new LinkedHashMap<>(lo), hi, idealKeep);
    if (cur == null) {
      cur = new LinkedHashMap<>(hi);
    }
    return polish(cur);
  }

  private Map<Integer, Integer> approach(Map<Integer, Integer> cur, Map<Integer, Integer> hi,
      Map<Integer, Double> idealKeep) {
    double r = measure.applyAsDouble(cur);
    Map<Integer, Double> gain = new LinkedHashMap<>();
    for (ChannelGroup g : groups) {
      Map<Integer, Integer> next = narrower(cur, g);
      if (next != null) {
        gain.put(g.id(), measure.applyAsDouble(next) - r);
      }
    }
    while (r < target) {
      double best = gain.values().stream().mapToDouble(Double::doubleValue).max().orElse(0);
      if (best <= 0) {
        return null;
      }
      if (r + best >= target) {
        Map<Integer, Integer> landed = bestSingle(cur);
        if (landed != null) {
          return landed;
        }
      }
      // one step on the way to hi: the group furthest above its ideal width
      ChannelGroup step = null;
      double most = Double.NEGATIVE_INFINITY;
      for (ChannelGroup g : groups) {
        int keep = g.size() - cur.get(g.id());
        if (cur.get(g.id()) < hi.get(g.id()) && gain.containsKey(g.id())) {
          double over = (keep - idealKeep.get(g.id())) / g.size();
          if (over > most) {
            most = over;
            step = g;
          }
        }
      }
      if (step == null) {
        return null;
      }
      Move m = step(cur, step, gain, -1);
      cur = m.counts();
      r = m.r();
    }
    return cur;
  }

  /** Of the single steps from {@code cur}, the one that meets the target with least overshoot; null if none does. */
  private Map<Integer, Integer> bestSingle(Map<Integer, Integer> cur) {
    Map<Integer, Integer> best = null;
    double bestR = Double.POSITIVE_INFINITY;
    for (ChannelGroup g : groups) {
      Map<Integer, Integer> next = narrower(cur, g);
      if (next != null) {
        double r = measure.applyAsDouble(next);
        if (r >= target && r < bestR) {
          best = next;
          bestR = r;
        }
      }
    }
    return best;
  }

  private Map<Integer, Integer> polish(Map<Integer, Integer> cur) {
    double r = measure.applyAsDouble(cur);
    for (int round = 0; round < POLISH_ROUNDS && r - target > CLOSE_ENOUGH; round++) {
      Map<Integer, Double> gain = new LinkedHashMap<>();
      List<Move> back = new ArrayList<>();
      Move best = null;
      for (ChannelGroup g : groups) {
        Map<Integer, Integer> w = wider(cur, g);
        if (w != null) {
          Move m = new Move(w, measure.applyAsDouble(w), g.id());
          if (m.r() >= target) {
            best = m.r() < r && (best == null || m.r() < best.r()) ? m : best;
          } else {
            back.add(m);
          }
        }
        Map<Integer, Integer> n = narrower(cur, g);
        if (n != null) {
          gain.put(g.id(), measure.applyAsDouble(n) - r);
        }
      }
      if (best == null) {
        // give a step back where that falls least below the target, then fill the gap again
        back.sort(Comparator.comparingDouble(m -> -m.r()));
        for (Move b : back.subList(0, Math.min(REFILLS, back.size()))) {
          Move filled = fill(b, new LinkedHashMap<>(gain));
          if (filled != null && filled.r() < r && (best == null || filled.r() < best.r())) {
            best = filled;
          }
        }
      }
      if (best == null) {
        break;
      }
      cur = best.counts();
      r = best.r();
    }
    return cur;
  }

  /** Removal counts, the fraction they remove, and the group given a step back (-1: none). */
  private record Move(Map<Integer, Integer> counts, double r, int widened) {}

  /**
   * From {@code from} (below the target), narrows groups other than the one it widened until the
   * target is met, by predicted gains ({@code gain}, updated as steps are taken): the smallest step
   * that closes the gap when it overshoots by at most {@link #CLOSE_ENOUGH}, else the largest step
   * that does not close it, else the smallest that does.
   */
  private Move fill(Move from, Map<Integer, Double> gain) {
    Map<Integer, Integer> cur = from.counts();
    double r = from.r();
    for (int steps = 0; r < target && steps < FILL_STEPS; steps++) {
      double gap = target - r;
      ChannelGroup under = null;
      ChannelGroup over = null;
      for (ChannelGroup g : groups) {
        Double d = gain.get(g.id());
        if (d == null || d <= 0 || g.id() == from.widened()) {
          continue;
        }
        if (d < gap && (under == null || d > gain.get(under.id()))) {
          under = g;
        } else if (d >= gap && (over == null || d < gain.get(over.id()))) {
          over = g;
        }
      }
      ChannelGroup g = over != null && (under == null || gain.get(over.id()) - gap <= CLOSE_ENOUGH) ? over : under;
      if (g == null) {
        return null;
      }
      Move m = step(cur, g, gain, from.widened());
      cur = m.counts();
      r = m.r();
    }
    return r >= target ? new Move(cur, r, from.widened()) : null;
  }

  /** {@code cur} with {@code g} one step narrower, measured; {@code gain} gets the gain of g's next step. */
  private Move step(Map<Integer, Integer> cur, ChannelGroup g, Map<Integer, Double> gain, int widened) {
    Map<Integer, Integer> counts = narrower(cur, g);
    double r = measure.applyAsDouble(counts);
    Map<Integer, Integer> next = narrower(counts, g);
    if (next == null) {
      gain.remove(g.id());
    } else {
      gain.put(g.id(), measure.applyAsDouble(next) - r);
    }
    return new Move(counts, r, widened);
  }

  /** {@code cur} with {@code g} one step narrower; null when it cannot be. */
  private Map<Integer, Integer> narrower(Map<Integer, Integer> cur, ChannelGroup g) {
    int keep = widths.below(g, g.size() - cur.get(g.id()), floor.get(g.id()));
    return keep < 0 ? null : with(cur, g, g.size() - keep);
  }

  /** {@code cur} with {@code g} one step wider; null when it is whole. */
  private Map<Integer, Integer> wider(Map<Integer, Integer> cur, ChannelGroup g) {
    int keep = widths.above(g, g.size() - cur.get(g.id()));
    return keep < 0 ? null : with(cur, g, g.size() - keep);
  }

  private static Map<Integer, Integer> with(Map<Integer, Integer> cur, ChannelGroup g, int removed) {
    Map<Integer, Integer> next = new LinkedHashMap<>(cur);
    next.put(g.id(), removed);
    return next;
  }
}
