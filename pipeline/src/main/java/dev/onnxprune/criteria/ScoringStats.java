package dev.onnxprune.criteria;

/**
 * What one scoring by a data-driven criterion cost.
 *
 * @param criterion the criterion's name
 * @param seconds wall time of {@link Criterion#score}
 * @param sessionRuns ONNX Runtime session runs
 * @param sampleForwards samples pushed through a session (a sample replicated for k ablations
 *     counts k times; a run of a suffix model counts as one)
 * @param ablations channel ablations evaluated (Oracle: channels scored, over all rounds; AOFP:
 *     isolated-damage samples collected, over all groups)
 * @param forwardEquivalents the work of the runs in full-model forward passes over the samples
 *     scored (a suffix model counts by its share of the model's FLOPs)
 */
public record ScoringStats(String criterion, double seconds, long sessionRuns, long sampleForwards, long ablations,
    double forwardEquivalents) {}
