package dev.onnxprune.prune;

import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.surgery.PrunePlan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns scores into a plan that meets a target.
 * <ol>
 *   <li>Uniform: every scored group loses the same fraction r of its channels (its lowest
 *       scores); for FLOPs and parameter targets r is found by bisection on the cost model,
 *       then single channels (each group's next lowest score) are added until the target is met
 *       with the least overshoot, since one channel of a small model can carry over 1% of it.
 *   <li>Global: scores are normalised by their group's mean absolute score, divided by the cost
 *       one channel of the group carries (FLOPs, parameters or measured latency; 1 for a channel
 *       ratio), and ranked across groups; the k lowest go, with k found by bisection.
 *   <li>Every group keeps at least {@code minChannels}, and loses at most {@code maxGroupRatio}
 *       of its channels; with {@code roundTo} > 1, kept counts
 *       are rounded up to a multiple of it (groups smaller than it are left whole).
 * </ol>
 * The cost of a candidate is evaluated without applying it ({@link PlanCost}); the smallest
 * candidate reaching the target is chosen.
 */
final class Allocator {
  private final ChannelAnalysis analysis;
  private final double[][] scores;
  private final PlanCost cost;
  private final int minChannels;
  private final double maxGroupRatio;
  private final int roundTo;
  private final LatencyModel latency;
  private final List<ChannelGroup> scored = new ArrayList<>();
  /** Units of each scored group, lowest score first. */
  private final Map<Integer, int[]> order = new LinkedHashMap<>();

  Allocator(ChannelAnalysis analysis, double[][] scores, PlanCost cost, int minChannels, double maxGroupRatio,
      int roundTo) {
    this(analysis, scores, cost, minChannels, maxGroupRatio, roundTo, null);
  }

  /** With {@code latency} (may be null unless the target is latency). */
  Allocator(ChannelAnalysis analysis, double[][] scores, PlanCost cost, int minChannels, double maxGroupRatio,
      int roundTo, LatencyModel latency) {
    dev.onnxprune.errors.InvalidOptionException.atLeast("minChannels", minChannels, 1);
    dev.onnxprune.errors.InvalidOptionException.atLeast("roundTo", roundTo, 1);
    this.analysis = analysis;
    this.scores = scores;
    this.cost = cost;
    this.minChannels = minChannels;
    this.maxGroupRatio = maxGroupRatio;
    this.roundTo = roundTo;
    this.latency = latency;
    for (ChannelGroup g : analysis.prunableGroups()) {
      double[] s = scores[g.id()];
      if (s == null || g.size() <= minChannels) {
        continue;
      }
      scored.add(g);
      Integer[] idx = new Integer[g.size()];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = i;
      }
      Arrays.sort(idx, Comparator.<Integer>comparingDouble(i -> s[i]).thenComparingInt(i -> i));
      order.put(g.id(), Arrays.stream(idx).mapToInt(Integer::intValue).toArray());
    }
  }

  /** The plan for {@code target}, uniform or global. */
  PrunePlan allocate(Target target, boolean global) {
    if (scored.isEmpty()) {
      throw new dev.onnxprune.errors.NothingPrunableException("no prunable channel group can be scored (the"
          + " criterion scores none of them, or each has no more than minChannels channels); nothing to prune",
          java.util.List.of());
    }
    if (global) {
      return global(target);
    }
    if (target.kind() == Target.Kind.RATIO) {
      return uniform(target.fraction());
    }
    double lo = 0;
    double hi = 1;
    if (reduction(uniform(hi), target) < target.fraction()) {
      throw unreachable(target, reduction(uniform(hi), target));
    }
    for (int i = 0; i < 30; i++) {
      double mid = (lo + hi) / 2;
      if (reduction(uniform(mid), target) >= target.fraction()) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    if (roundTo > 1) {
      return uniform(hi); // steps are whole multiples of roundTo: no finer landing
    }
    return refine(uniformCounts(lo), target);
  }

  /**
   * From counts just under the target, removes one more channel at a time (the next lowest score
   * of some group) until the target is met, choosing the step that lands closest above it; so a
   * small model whose channels each carry over 1% of the cost still lands near the target.
   */
  private PrunePlan refine(Map<Integer, Integer> counts, Target target) {
    Map<Integer, Integer> cur = new LinkedHashMap<>(counts);
    while (reduction(plan(cur), target) < target.fraction()) {
      Map<Integer, Integer> best = null;
      double bestRed = Double.POSITIVE_INFINITY;
      Map<Integer, Integer> fallback = null;
      double fallbackRed = Double.NEGATIVE_INFINITY;
      for (ChannelGroup g : scored) {
        int n = cur.get(g.id());
        if (g.size() - (n + 1) < Math.max(minChannels, (int) Math.ceil(g.size() * (1 - maxGroupRatio) - 1e-9))) {
          continue;
        }
        Map<Integer, Integer> next = new LinkedHashMap<>(cur);
        next.put(g.id(), n + 1);
        double red = reduction(plan(next), target);
        if (red >= target.fraction() && red < bestRed) {
          best = next;
          bestRed = red;
        }
        if (red > fallbackRed) {
          fallback = next;
          fallbackRed = red;
        }
      }
      if (best == null && fallback == null) {
        throw unreachable(target, reduction(plan(cur), target));
      }
      cur = best != null ? best : fallback;
    }
    return plan(cur);
  }

  private dev.onnxprune.errors.TargetUnreachableException unreachable(Target target, double best) {
    return new dev.onnxprune.errors.TargetUnreachableException(String.format(java.util.Locale.ROOT, "target %s cannot"
        + " be reached: with at least %d channel(s) per group the most that can be removed is %.3f", target,
        minChannels, best));
  }

  /** Every scored group loses a fraction {@code r} of its channels. */
  PrunePlan uniform(double r) {
    return plan(uniformCounts(r));
  }

  private Map<Integer, Integer> uniformCounts(double r) {
    Map<Integer, Integer> removeCount = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      int keep = (int) Math.ceil(g.size() * (1 - r) - 1e-9);
      removeCount.put(g.id(), g.size() - rounded(g, keep));
    }
    return removeCount;
  }

  private int rounded(ChannelGroup g, int keep) {
    keep = Math.max(keep, Math.max(minChannels, (int) Math.ceil(g.size() * (1 - maxGroupRatio) - 1e-9)));
    if (roundTo > 1 && g.size() >= roundTo) {
      keep = Math.max(roundTo, (keep + roundTo - 1) / roundTo * roundTo);
    }
    return Math.min(keep, g.size());
  }

  private PrunePlan plan(Map<Integer, Integer> removeCount) {
    PrunePlan.Builder b = PrunePlan.builder(analysis);
    for (Map.Entry<Integer, Integer> e : removeCount.entrySet()) {
      int n = e.getValue();
      if (n > 0) {
        b.remove(analysis.groups().get(e.getKey()), Arrays.copyOf(order.get(e.getKey()), n));
      }
    }
    return b.build();
  }

  private double reduction(PrunePlan plan, Target target) {
    return reduction(plan.removals(), target);
  }

  /** The fraction of {@code target}'s measure that {@code removals} (group id -> units) remove. */
  double reduction(Map<Integer, int[]> removals, Target target) {
    if (target.kind() == Target.Kind.LATENCY) {
      if (latency == null) {
        throw new IllegalStateException("a latency target needs a latency model (measured per channel)");
      }
      return latency.reduction(removals);
    }
    if (target.kind() == Target.Kind.RATIO) {
      return (double) removals.values().stream().mapToInt(r -> r.length).sum() / totalUnits();
    }
    PlanCost.Costs base = cost.baseline();
    PlanCost.Costs after = cost.evaluate(removals);
    return target.kind() == Target.Kind.FLOPS ? 1 - (double) after.flops() / base.flops()
        : 1 - (double) after.params() / base.params();
  }

  private int totalUnits() {
    return scoredChannels();
  }

  /** Channels of the groups the criterion scored: what a channel ratio is a fraction of. */
  int scoredChannels() {
    return scored.stream().mapToInt(ChannelGroup::size).sum();
  }

  /** Units ranked across groups by normalised score per unit of cost; the k lowest go. */
  private PrunePlan global(Target target) {
    record Unit(int group, int unit, double key) {}
    List<Unit> units = new ArrayList<>();
    PlanCost.Costs base = cost.baseline();
    for (ChannelGroup g : scored) {
      double[] s = scores[g.id()];
      // mean |score|: data-driven scores (oracle loss increases) can be negative
      double mean = Arrays.stream(s).map(Math::abs).average().orElse(0);
      double unitCost = 1;
      if (target.kind() == Target.Kind.LATENCY) {
        unitCost = Math.max(latency == null ? 0 : latency.perChannelSeconds(g.id()), 1e-12);
      } else if (target.kind() != Target.Kind.RATIO) {
        PlanCost.Costs one = cost.evaluate(Map.of(g.id(), new int[] {0}));
        unitCost = target.kind() == Target.Kind.FLOPS ? base.flops() - one.flops() : base.params() - one.params();
        unitCost = Math.max(unitCost, 1e-9);
      }
      for (int u = 0; u < g.size(); u++) {
        double norm = mean > 0 ? s[u] / mean : 0;
        units.add(new Unit(g.id(), u, norm / unitCost));
      }
    }
    units.sort(Comparator.comparingDouble(Unit::key).thenComparingInt(Unit::group).thenComparingInt(Unit::unit));
    int lo = 0;
    int hi = units.size();
    double best = reduction(globalPlan(units.stream().map(u -> new int[] {u.group(), u.unit()}).toList(), hi), target);
    if (best < target.fraction()) {
      throw unreachable(target, best);
    }
    List<int[]> ranked = units.stream().map(u -> new int[] {u.group(), u.unit()}).toList();
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (reduction(globalPlan(ranked, mid), target) >= target.fraction()) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return globalPlan(ranked, hi);
  }

  /** Removes the first {@code k} ranked units, honouring the floor and rounding per group. */
  private PrunePlan globalPlan(List<int[]> ranked, int k) {
    Map<Integer, Integer> count = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      count.put(g.id(), 0);
    }
    for (int i = 0; i < k; i++) {
      int[] u = ranked.get(i);
      count.merge(u[0], 1, Integer::sum);
    }
    Map<Integer, Integer> removeCount = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      int keep = rounded(g, g.size() - count.get(g.id()));
      removeCount.put(g.id(), g.size() - keep);
    }
    return plan(removeCount);
  }

  /**
   * The plan for {@code target} spread as {@code allocation} says: uniform or global above, or
   * {@link #bySensitivity} for a sensitivity allocation (which carries its curves).
   */
  PrunePlan allocate(Target target, Allocation allocation) {
    return allocation.kind() == Allocation.Kind.SENSITIVITY ? bySensitivity(target, allocation.curves())
        : allocate(target, allocation.kind() == Allocation.Kind.GLOBAL);
  }

  /**
   * The plan for {@code target} from sensitivity curves ({@link SensitivityAllocation}): the
   * least predicted loss of top-1. A group steps by about a 32nd of its channels (at least one)
   * from width to allowed width (the floor and the rounding as above), which bounds the search on
   * wide models.
   *
   * @throws dev.onnxprune.errors.InvalidOptionException (key {@code allocation}) for curves of
   *     another model
   */
  PrunePlan bySensitivity(Target target, Sensitivity.Result curves) {
    if (scored.isEmpty()) {
      throw new dev.onnxprune.errors.NothingPrunableException("no prunable channel group can be scored; nothing to"
          + " prune", java.util.List.of());
    }
    SensitivityAllocation s = new SensitivityAllocation(curves);
    Map<Integer, Integer> sizes = new LinkedHashMap<>();
    scored.forEach(g -> sizes.put(g.id(), g.size()));
    s.check(sizes);
    Map<Integer, Integer> counts = s.allocate(new ArrayList<>(sizes.keySet()),
        (id, k) -> nextAllowed(analysis.groups().get(id), k), c -> reduction(plan(c), target), target.fraction());
    return plan(counts);
  }

  /** The next count of removed units after {@code k} that keeps an allowed width, or -1. */
  private int nextAllowed(ChannelGroup g, int k) {
    for (int n = k + Math.max(1, g.size() / 32); n < g.size(); n++) {
      int keep = g.size() - n;
      if (rounded(g, keep) == keep) {
        return n;
      }
    }
    return -1;
  }
}
