package dev.onnxprune.training;

/**
 * Which batch variance updates a BatchNormalization's running variance in training mode.
 * Normalisation itself always uses the biased batch variance (both frameworks do).
 */
public enum RunningVariance {
  /** {@code var * M / (M - 1)} over the M elements per channel: PyTorch's choice (the default). */
  UNBIASED,
  /** {@code var}: ONNX Runtime's {@code BatchNormalization(training_mode=1)}. */
  BIASED
}
