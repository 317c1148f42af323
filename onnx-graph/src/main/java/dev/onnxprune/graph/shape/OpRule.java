package dev.onnxprune.graph.shape;

/**
 * The shape rule of one op family: reads the node's input types (and known constant inputs)
 * from the context and sets its output types (and, for shape arithmetic, their constant data).
 */
@FunctionalInterface
interface OpRule {
  /**
   * @throws InferenceFailure when an input it needs is unknown or the node is inconsistent; the
   *     message is the reason reported for the node
   */
  void apply(InferenceContext c);
}
