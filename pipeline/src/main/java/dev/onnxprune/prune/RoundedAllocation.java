package dev.onnxprune.prune;

import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.surgery.PrunePlan;
import java.util.Locale;

/**
 * Allocation with the channel multiple of a {@link Rounding}. An explicit multiple is used as
 * given. An automatic one (the hardware's) is halved while the target cannot be reached with it, or
 * only with more than {@link #TOLERANCE} of the target's measure to spare (a uniform channel ratio
 * excepted: rounding is what it asks per group), down to exact widths; the report's reason says
 * what was given up and why.
 */
final class RoundedAllocation {
  /** The most an automatic multiple may overshoot a FLOPs, parameter or latency target by. */
  static final double TOLERANCE = 0.01;

  /**
   * The plan, the allocator that made it, and what the widths are.
   *
   * @param plan the removals
   * @param allocator its allocator (for {@link Allocator#reduction} and {@link Allocator#scoredChannels})
   * @param widths the multiple used, and why
   */
  record Result(PrunePlan plan, Allocator allocator, PruneReport.Widths widths) {}

  private RoundedAllocation() {}

  /**
   * Allocates {@code target} over {@code analysis} as {@code allocation} says with the widths
   * {@code rounding} allows, starting from the hardware multiple {@code choice}.
   *
   * @throws dev.onnxprune.errors.TargetUnreachableException when the target cannot be reached even with the finest widths tried
   */
  static Result allocate(ChannelAnalysis analysis, double[][] scores, PlanCost cost, int minChannels,
      double maxGroupRatio, Rounding rounding, HardwareWidths.Choice choice, LatencyModel latency, Target target,
      Allocation allocation) {
    String reason = choice.reason();
    for (int multiple = choice.multiple(); ; multiple /= 2) {
      GroupWidths widths = GroupWidths.of(analysis, multiple);
      Allocator allocator = new Allocator(analysis, scores, cost, minChannels, maxGroupRatio, widths, latency);
      boolean finer = rounding.automatic() && multiple > 1;
      PrunePlan plan;
      try {
        plan = allocator.allocate(target, allocation);
      } catch (dev.onnxprune.errors.TargetUnreachableException unreachable) {
        if (!finer) {
          throw unreachable;
        }
        reason += String.format(Locale.ROOT, "; multiples of %d cannot reach %s", multiple, target);
        continue;
      }
      double over = allocator.reduction(plan.removals(), target) - target.fraction();
      if (finer && over > TOLERANCE && (allocation.kind() != Allocation.Kind.UNIFORM
          || target.kind() != Target.Kind.RATIO)) {
        reason += String.format(Locale.ROOT, "; multiples of %d would remove %.1f%% for a %.1f%% target", multiple,
            100 * (target.fraction() + over), 100 * target.fraction());
        continue;
      }
      if (multiple != choice.multiple()) {
        reason += String.format(Locale.ROOT, ", so multiples of %d", multiple);
      }
      return new Result(plan, allocator, new PruneReport.Widths(multiple, rounding.automatic(), reason,
          keptWhole(analysis, widths)));
    }
  }

  /** Prunable groups no wider than one step: they keep all their channels. */
  private static int keptWhole(ChannelAnalysis analysis, GroupWidths widths) {
    int n = 0;
    for (ChannelGroup g : analysis.prunableGroups()) {
      if (widths.multiple() > 1 && g.size() <= widths.step(g.id())) {
        n++;
      }
    }
    return n;
  }
}
