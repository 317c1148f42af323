package dev.onnxprune.methods;

import java.util.Map;

/**
 * One point of a training-time pruning method's trajectory, as the prune report records it: what
 * the network looked like after a step of the method.
 *
 * @param step the method's own step count (optimizer steps, or search moves; see {@code event})
 * @param event what happened: {@code "start"}, {@code "train"}, {@code "prune"}, {@code "reverse"},
 *     {@code "search"}, {@code "end"}, ... (method-specific, documented by each method)
 * @param seconds wall time since the method started
 * @param flops FLOPs of the network with the removals made so far (FLOPs = 2 x MACs, the cost model)
 * @param flopsKept {@code flops} over the original FLOPs
 * @param widths group id -> channels kept, for every prunable group
 * @param loss the method's training loss at this point (mean cross-entropy of its last batches; NaN
 *     when not measured)
 * @param accuracy top-1 on the method's validation samples, or null when not measured at this point
 */
public record TrajectoryPoint(long step, String event, double seconds, long flops, double flopsKept,
    Map<Integer, Integer> widths, double loss, Double accuracy) {}
