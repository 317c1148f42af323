package dev.onnxprune.criteria;

import dev.onnxprune.surgery.ChannelAnalysis;

/**
 * An importance criterion: a score per channel of every prunable group, higher meaning more
 * important. Criteria read the model; they never change it.
 */
public interface Criterion {
  /** Short name, as on the command line ({@code l1}, {@code bn}, ...). */
  String name();

  /**
   * Scores indexed by group id then unit; {@code null} for a group the criterion cannot score
   * (such groups are not pruned under it), always null for unprunable groups.
   */
  double[][] score(ChannelAnalysis analysis);
}
