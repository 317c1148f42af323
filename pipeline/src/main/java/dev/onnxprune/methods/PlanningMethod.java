package dev.onnxprune.methods;

import dev.onnxprune.graph.Model;
import dev.onnxprune.surgery.ChannelAnalysis;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import dev.onnxprune.internal.Budget;

/**
 * What the three methods share: {@link #run} trains a copy of the model (analysed afresh) and
 * collects the removals, the stop reason and the trajectory that {@link #train} leaves in these
 * fields.
 */
abstract class PlanningMethod implements TrainingMethod {
  /** The run's trajectory, appended by {@link #train}. */
  final List<TrajectoryPoint> trajectory = new ArrayList<>();
  /** The target's test, set before {@link #train}. */
  Predicate<Map<Integer, int[]>> reached;
  /** The share of the way to the target removals make, or null (no projection); set before {@link #train}. */
  ToDoubleFunction<Map<Integer, int[]>> progress;
  /** Set by {@link #train} when the target was met: group id to removed units. */
  Map<Integer, int[]> chosen;
  /** Set by {@link #train} when it stopped short: what it had removed by then (may stay null). */
  Map<Integer, int[]> partial;
  /** The copy the current run trains (for tests that look at it while it trains). */
  Model working;

  /**
   * Trains {@code analysis}'s model (a copy the caller owns) in place while choosing removals, sets
   * {@link #chosen} or {@link #partial}, and returns the scores.
   */
  abstract double[][] train(ChannelAnalysis analysis);

  /** Why the last run stopped before the target (only read when {@link #chosen} is null). */
  abstract String stopReason();

  /**
   * Null while the target is in reach within {@code budget} at the run's pace (or without a
   * target, or with {@code failEarly} off); else why not ({@link Budget#projection}).
   */
  String outOfReach(boolean failEarly, Budget budget, long steps, Map<Integer, int[]> removals) {
    if (!failEarly || progress == null || reached == null || !budget.due(steps)) {
      return null;
    }
    return budget.projection(steps, progress.applyAsDouble(removals));
  }

  @Override
  public final MethodResult run(Model model, Predicate<Map<Integer, int[]>> reached) {
    return run(model, reached, null);
  }

  @Override
  public final synchronized MethodResult run(Model model, Predicate<Map<Integer, int[]>> reached,
      ToDoubleFunction<Map<Integer, int[]>> progress) {
    this.reached = reached;
    this.progress = progress;
    Model trained = model.copy();
    working = trained;
    trajectory.clear();
    chosen = null;
    partial = null;
    double[][] scores = train(ChannelAnalysis.analyze(trained));
    boolean met = chosen != null;
    return new MethodResult(trained, met ? chosen : partial, met, met ? null : stopReason(), scores,
        List.copyOf(trajectory));
  }
}
