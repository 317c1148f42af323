package dev.onnxprune.training;

/** How BatchNormalization behaves in a gradient graph. */
public enum BatchNormMode {
  /** The running statistics are constants: the gradient of the deployed (inference) function. */
  INFERENCE,
  /** Batch statistics, as in training (PyTorch's {@code model.train()}). */
  TRAINING
}
