package dev.onnxprune.methods;

import dev.onnxprune.graph.Model;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * A pruning method that trains the network while it chooses what to remove (AOFP training-time
 * multi-path pruning, adversarial structured pruning, PruneNet). It is not a criterion: it
 * returns the model it trained and the channels it chose ({@link MethodResult}), and leaves the
 * model it was given as it was. The pipeline ({@code dev.onnxprune.prune.Pruner}) then removes the
 * chosen channels from the trained model.
 */
public interface TrainingMethod {
  /** Short name, as in reports ({@code aofp-train}, {@code adversarial}, {@code prunenet}). */
  String name();

  /**
   * Trains a copy of {@code model} while choosing channels to remove; {@code model} is not
   * changed. Group ids in the result are those of {@code ChannelAnalysis.analyze} of the model
   * (the analysis is deterministic, so the trained copy has the same groups).
   *
   * @param reached true once the removals chosen so far meet the target (group id to units); the
   *     method stops there. Null runs it to its own stop conditions (PruneNet needs a target)
   * @return the trained copy, the removals, whether the target was met and, if not, why
   * @throws dev.onnxprune.errors.OnnxPruneException when the method cannot run on this model or data
   */
  MethodResult run(Model model, Predicate<Map<Integer, int[]>> reached);

  /**
   * As {@link #run(Model, Predicate)}, with the share of the way to the target that removals make
   * (0: none, 1: the target met), so that a method can project whether it will reach the target
   * within its budget and end early when it will not (its stop reason says so). The default
   * ignores {@code progress}.
   */
  default MethodResult run(Model model, Predicate<Map<Integer, int[]>> reached,
      ToDoubleFunction<Map<Integer, int[]>> progress) {
    return run(model, reached);
  }
}
