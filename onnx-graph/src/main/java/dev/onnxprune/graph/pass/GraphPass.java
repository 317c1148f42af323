package dev.onnxprune.graph.pass;

import dev.onnxprune.graph.Model;

/**
 * A transformation of a model's graph: one class, one entry point. Passes are run through
 * {@link PassManager}, which names the passes that ran when one fails and, when asked
 * ({@link PassManager#VERIFY_PROPERTY}, set in every module's tests), checks the graph with
 * {@link dev.onnxprune.graph.GraphVerifier} after each.
 */
public interface GraphPass {
  /** The pass's name in messages ({@code channel-pruning}, {@code bn-folding}, ...). */
  String name();

  /**
   * Transforms {@code model} in place.
   *
   * @return whether it changed anything, and what
   * @throws IllegalArgumentException when {@code model} is not the one the pass was built for
   */
  PassResult run(Model model);
}
