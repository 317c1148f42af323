package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Node;

/**
 * The cost of one node under the convention of {@link CostModel}.
 *
 * @param node the node
 * @param macs multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul; 0 for other ops)
 * @param flops floating-point operations: 2 x macs for those ops, the per-element counts of
 *     {@link CostModel} for the others
 * @param params elements of the initializers the node reads (directly or through Identity)
 * @param outputBytes bytes of the node's outputs (elements x element size)
 * @param known false when an output shape, or a shape the count needs, is not known (a
 *     symbolic dim other than the batch, or an unknown dim), or the op has no cost rule; the
 *     counts are then 0 except those that could be computed ({@code params} always can)
 */
public record NodeCost(Node node, long macs, long flops, long params, long outputBytes, boolean known) {
  @Override
  public String toString() {
    return node.describe() + ": " + (known ? "" : "(unknown) ") + macs + " MACs, " + flops + " FLOPs, " + params
        + " params, " + outputBytes + " output bytes";
  }
}
