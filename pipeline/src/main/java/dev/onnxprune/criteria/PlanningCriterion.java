package dev.onnxprune.criteria;

import dev.onnxprune.prune.Pruner;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A criterion that can choose the channels to remove itself, stopping when the target is met
 * (AOFP: "stop pruning when the reduced FLOPs reach a target level", Section 4.2). The
 * {@link Pruner} aims it before scoring and applies what it chose instead of allocating.
 */
public interface PlanningCriterion {
  /** True when the criterion was asked to choose the channels itself. */
  boolean plans();

  /** Before {@link Criterion#score}: the search may stop once {@code reached} holds for its removals. */
  void aim(Predicate<Map<Integer, int[]>> reached);

  /** After scoring: group id -> units it removed, or null when it stopped before reaching the target. */
  Map<Integer, int[]> chosen();

  /**
   * After a search that stopped short of the target ({@link #chosen} null): the units it had removed
   * when it stopped, its trained weights (if it trains) written back like a finished run's; null when
   * it has nothing to offer. {@link Pruner.Builder#keepPartial} applies it instead of failing.
   */
  default Map<Integer, int[]> partial() {
    return null;
  }

  /** Why {@link #chosen} is null: what stopped the search short of the target, and what to change. */
  default String stopReason() {
    return "its threshold (aofp.theta) lets it remove less";
  }
}
