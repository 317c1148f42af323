package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Node;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** Per-node costs of a model and their totals, under the convention of {@link CostModel}. */
public final class CostReport {
  private final List<NodeCost> nodes;
  private final Map<Node, NodeCost> byNode = new IdentityHashMap<>();
  private final long totalParams;

  CostReport(List<NodeCost> nodes, long totalParams) {
    this.nodes = List.copyOf(nodes);
    for (NodeCost c : nodes) {
      byNode.put(c.node(), c);
    }
    this.totalParams = totalParams;
  }

  /** One entry per node of the main graph, in graph order. */
  public List<NodeCost> nodes() {
    return nodes;
  }

  /** The cost of {@code node}, or null when it is not a node of the analysed main graph. */
  public NodeCost of(Node node) {
    return byNode.get(node);
  }

  /**
   * Sum of the nodes' MACs (unknown nodes count 0): a lower bound when {@link #unknownNodes()} is
   * not 0.
   */
  public long totalMacs() {
    return nodes.stream().mapToLong(NodeCost::macs).sum();
  }

  /**
   * Sum of the nodes' FLOPs (unknown nodes count 0): a lower bound when {@link #unknownNodes()} is
   * not 0.
   */
  public long totalFlops() {
    return nodes.stream().mapToLong(NodeCost::flops).sum();
  }

  /**
   * Elements of every initializer of the model (all graphs, float or not), each counted once
   * even when several nodes share it.
   */
  public long totalParams() {
    return totalParams;
  }

  /** Sum of the nodes' output bytes: the memory all activations would take if none were freed. */
  public long totalActivationBytes() {
    return nodes.stream().mapToLong(NodeCost::outputBytes).sum();
  }

  /** True when every node's cost is known. */
  public boolean complete() {
    return nodes.stream().allMatch(NodeCost::known);
  }

  /**
   * How many nodes have a cost that is not (fully) known, mostly because a shape it needs is
   * unknown (a symbolic dim other than the batch, a size computed at run time), else because the
   * op has no cost rule; their MACs and FLOPs are not in the totals.
   */
  public int unknownNodes() {
    return (int) nodes.stream().filter(c -> !c.known()).count();
  }

  /** Nodes whose cost is not (fully) known. */
  public List<NodeCost> unknown() {
    List<NodeCost> out = new ArrayList<>();
    for (NodeCost c : nodes) {
      if (!c.known()) {
        out.add(c);
      }
    }
    return out;
  }

  @Override
  public String toString() {
    return "CostReport(" + nodes.size() + " nodes, " + totalMacs() + " MACs, " + totalFlops() + " FLOPs, "
        + totalParams + " params, " + totalActivationBytes() + " activation bytes"
        + (complete() ? "" : ", " + unknownNodes() + " nodes unknown") + ")";
  }
}
