package dev.onnxprune.training;

import dev.onnxprune.graph.Node;

/**
 * The backward of one op: reads dL/dy of the node's outputs from the context ({@link
 * GradContext#grad}) and adds dL/dx for each input that needs one ({@link GradContext#addGrad});
 * it builds nothing for inputs that need no gradient ({@link GradContext#needsGrad}).
 */
@FunctionalInterface
interface GradRule {
  void backward(GradContext ctx, Node node);
}
