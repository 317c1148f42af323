package dev.onnxprune.graph.pass;

/** What a {@link GraphPass} did; each pass's own result type adds its details. */
public interface PassResult {
  /** Whether the pass changed the model. */
  boolean changed();

  /** One line on what it did, e.g. {@code "folded 21 BatchNormalization nodes"}. */
  String summary();
}
