package dev.onnxprune.methods;

import dev.onnxprune.graph.Model;
import dev.onnxprune.surgery.ChannelAnalysis;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

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

  @Override
  public final synchronized MethodResult run(Model model, Predicate<Map<Integer, int[]>> reached) {
    this.reached = reached;
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
