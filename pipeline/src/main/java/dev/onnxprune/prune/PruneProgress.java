package dev.onnxprune.prune;

import java.time.Duration;

/**
 * Hears when each phase of {@link Pruner#prune} ends and how long it took (wall time), so a
 * caller can show progress; it must not change the model. Phases run in the order of
 * {@link Phase}; {@link Phase#VERIFYING} only with {@link Pruner.Builder#verify(boolean)},
 * {@link Phase#TIMING} only when the result is timed ({@link Pruner.Builder#speedCheck}).
 */
@FunctionalInterface
public interface PruneProgress {
  /** The phases of a prune, in order. */
  enum Phase {
    /** Channel-dependency analysis and the cost of the model before (and, for a latency target, its measurement). */
    ANALYSING,
    /** The criterion scores every channel of the prunable groups. */
    SCORING,
    /** Channels are chosen to meet the target. */
    ALLOCATING,
    /** The plan is applied to the model and its cost after is measured. */
    APPLYING,
    /** The pruned model is run against the masked original in ONNX Runtime. */
    VERIFYING,
    /** The pruned model is timed against the original in ONNX Runtime ({@link SpeedCheck}). */
    TIMING
  }

  /** Ignores every phase (the default). */
  PruneProgress NONE = (phase, took) -> {};

  /** {@code phase} has ended after {@code took}. */
  void finished(Phase phase, Duration took);

  /**
   * {@link Phase#TIMING} is about to start (the other phases follow one another, so the end of
   * one is the start of the next; timing runs only when the speed check chooses to).
   */
  default void starting(Phase phase) {}
}
