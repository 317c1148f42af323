package dev.onnxprune.methods;

import dev.onnxprune.graph.Model;
import java.util.List;
import java.util.Map;

/**
 * What a {@link TrainingMethod} returns.
 *
 * @param model the trained copy of the model it was given (same structure: no channel removed yet)
 * @param removals group id to the units it chose to remove; when it stopped short of the target,
 *     what it had removed by then; null when it has nothing to offer
 * @param targetMet whether the removals meet the target it was aimed at
 * @param stopReason when the target was not met, what stopped it and what to change; else null
 * @param scores a score per unit of every group it scored (higher is more important; null rows for
 *     groups it did not score), for reports
 * @param trajectory its steps from start to end (FLOPs, widths per group, loss, accuracy)
 */
public record MethodResult(Model model, Map<Integer, int[]> removals, boolean targetMet, String stopReason,
    double[][] scores, List<TrajectoryPoint> trajectory) {}
