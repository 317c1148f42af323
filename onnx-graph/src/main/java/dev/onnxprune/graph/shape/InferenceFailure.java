package dev.onnxprune.graph.shape;

/** Why a rule could not infer a node's outputs; its message becomes {@link ShapeReport.Unknown#reason()}. */
final class InferenceFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;

  InferenceFailure(String reason) {
    super(reason, null, false, false);
  }
}
