package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Node;

/** MACs and FLOPs of one op family. */
@FunctionalInterface
interface CostRule {
  /**
   * @return {macs, flops}
   * @throws Sizes.UnknownSize when a shape the count needs is not known
   */
  long[] count(Node node, Sizes sizes);
}
