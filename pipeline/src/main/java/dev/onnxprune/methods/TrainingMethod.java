package dev.onnxprune.methods;

import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.prune.Pruner;
import java.util.List;

/**
 * A pruning method that trains the network while it chooses what to remove (AOFP training-time
 * multi-path pruning, adversarial structured pruning, PruneNet). Given to {@link Pruner} as its
 * criterion: {@link #score} runs the method on the model being pruned, writes the trained
 * parameters back into that model (same tensor shapes; the analysis stays valid), and the pruner
 * removes the channels the method chose. The trajectory goes into the prune report.
 */
public interface TrainingMethod extends Criterion {
  /** The method's steps, from its start to its end (empty before {@link #score} runs). */
  List<TrajectoryPoint> trajectory();
}
