package dev.onnxprune.criteria;

/**
 * A criterion that scores by running the model in ONNX Runtime over calibration data. It runs on
 * copies of the model (with masks or extra outputs added); the model it scores is not changed.
 */
public interface DataCriterion extends Criterion {
  /** What the last call to {@link #score} cost, or null before the first. */
  ScoringStats lastStats();
}
