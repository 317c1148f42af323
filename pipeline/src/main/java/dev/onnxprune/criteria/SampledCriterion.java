package dev.onnxprune.criteria;

import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;

/**
 * What every criterion scored on calibration data holds: the samples, the sessions that run them,
 * its own copy of the options, and what its last scoring cost.
 */
abstract class SampledCriterion implements DataCriterion {
  protected final Dataset data;
  protected final Sessions sessions;
  protected final DataCriteria.Options options;
  /** Set by {@link #score} when it ends; null before the first call. */
  protected ScoringStats stats;

  SampledCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.data = data;
    this.sessions = sessions;
    this.options = options.copy();
  }

  @Override
  public final ScoringStats lastStats() {
    return stats;
  }
}
