package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
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
 *       of its channels; with a channel multiple ({@link GroupWidths}), kept counts are rounded
 *       up to a multiple of the group's step (groups narrower than it are left whole), and since
 *       rounding moves many groups at once, {@link Landing} then brings the widths down onto the
 *       target.
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
  private final GroupWidths widths;
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
    this(analysis, scores, cost, minChannels, maxGroupRatio,
        GroupWidths.of(analysis, InvalidOptionException.atLeast("roundTo", roundTo, 1)), latency);
  }

  /** With the widths each group may keep. */
  Allocator(ChannelAnalysis analysis, double[][] scores, PlanCost cost, int minChannels, double maxGroupRatio,
      GroupWidths widths, LatencyModel latency) {
    InvalidOptionException.atLeast("minChannels", minChannels, 1);
    this.analysis = analysis;
    this.scores = scores;
    this.cost = cost;
    this.minChannels = minChannels;
    this.maxGroupRatio = maxGroupRatio;
    this.widths = widths;
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
    if (target.kind() == Target.Kind.RATIO && widths.exactEverywhere()) {
      return uniform(target.fraction());
    }
    // A ratio with rounded widths lands like the other targets: at least that fraction of the
    // scored channels goes, each group keeping a multiple (a group of 64 at 0.3 would keep 48 alone).
    double lo = 0;
    double hi = 1;
    if (reductionOf(uniformCounts(hi), target) < target.fraction()) {
      throw unreachable(target, reductionOf(uniformCounts(hi), target));
    }
    for (int i = 0; i < 30; i++) {
      double mid = (lo + hi) / 2;
      if (reductionOf(uniformCounts(mid), target) >= target.fraction()) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    if (!widths.exactEverywhere()) {
      Map<Integer, Double> ideal = new LinkedHashMap<>();
      for (ChannelGroup g : scored) {
        ideal.put(g.id(), g.size() * (1 - hi));
      }
      return plan(landing(target).land(uniformCounts(lo), uniformCounts(hi), ideal));
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
    while (reductionOf(cur, target) < target.fraction()) {
      Map<Integer, Integer> best = null;
      double bestRed = Double.POSITIVE_INFINITY;
      Map<Integer, Integer> fallback = null;
      double fallbackRed = Double.NEGATIVE_INFINITY;
      for (ChannelGroup g : scored) {
        int n = cur.get(g.id());
        if (g.size() - (n + 1) < floor(g)) {
          continue;
        }
        Map<Integer, Integer> next = new LinkedHashMap<>(cur);
        next.put(g.id(), n + 1);
        double red = reductionOf(next, target);
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
        throw unreachable(target, reductionOf(cur, target));
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
    return widths.roundUp(g, keep, floor(g));
  }

  /** The fewest units {@code g} keeps: {@code minChannels}, and what {@code maxGroupRatio} leaves. */
  private int floor(ChannelGroup g) {
    return Math.max(minChannels, (int) Math.ceil(g.size() * (1 - maxGroupRatio) - 1e-9));
  }

  /** Lands rounded widths on {@code target} (see {@link Landing}). */
  private Landing landing(Target target) {
    Map<Integer, Integer> floors = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      floors.put(g.id(), floor(g));
    }
    return new Landing(scored, widths, floors, counts -> reductionOf(counts, target), target.fraction());
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

  /**
   * The fraction of {@code target}'s measure that {@code removeCount} (group id -> how many of its
   * lowest-ranked units) removes; evaluated without building a plan, as searches do it many times.
   */
  private double reductionOf(Map<Integer, Integer> removeCount, Target target) {
    Map<Integer, int[]> removals = new LinkedHashMap<>();
    removeCount.forEach((g, n) -> {
      if (n > 0) {
        removals.put(g, Arrays.copyOf(order.get(g), n));
      }
    });
    return reduction(removals, target);
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
    List<int[]> ranked = units.stream().map(u -> new int[] {u.group(), u.unit()}).toList();
    double best = reductionOf(globalCounts(ranked, hi), target);
    if (best < target.fraction()) {
      throw unreachable(target, best);
    }
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (reductionOf(globalCounts(ranked, mid), target) >= target.fraction()) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    if (!widths.exactEverywhere() && hi > 0) {
      Map<Integer, Integer> unrounded = rankedCounts(ranked, hi);
      Map<Integer, Double> ideal = new LinkedHashMap<>();
      for (ChannelGroup g : scored) {
        ideal.put(g.id(), (double) g.size() - unrounded.get(g.id()));
      }
      return plan(landing(target).land(globalCounts(ranked, hi - 1), globalCounts(ranked, hi), ideal));
    }
    return globalPlan(ranked, hi);
  }

  /** Removes the first {@code k} ranked units, honouring the floor and rounding per group. */
  private PrunePlan globalPlan(List<int[]> ranked, int k) {
    return plan(globalCounts(ranked, k));
  }

  /** Units removed per group by {@link #globalPlan}. */
  private Map<Integer, Integer> globalCounts(List<int[]> ranked, int k) {
    Map<Integer, Integer> count = rankedCounts(ranked, k);
    Map<Integer, Integer> removeCount = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      int keep = rounded(g, g.size() - count.get(g.id()));
      removeCount.put(g.id(), g.size() - keep);
    }
    return removeCount;
  }

  /** How many of the first {@code k} ranked units each group has. */
  private Map<Integer, Integer> rankedCounts(List<int[]> ranked, int k) {
    Map<Integer, Integer> count = new LinkedHashMap<>();
    for (ChannelGroup g : scored) {
      count.put(g.id(), 0);
    }
    for (int i = 0; i < k; i++) {
      int[] u = ranked.get(i);
      count.merge(u[0], 1, Integer::sum);
    }
    return count;
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
        (id, k) -> nextAllowed(analysis.groups().get(id), k), c -> reductionOf(c, target), target.fraction());
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
