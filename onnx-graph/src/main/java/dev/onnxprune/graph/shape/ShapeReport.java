package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import java.util.List;
import java.util.Map;

/**
 * What {@link ShapeInference#infer} found: the nodes whose outputs stay (partly) unknown and
 * why, the values whose inferred shape conflicts with the file's, and the known data of the
 * small integer tensors that shape arithmetic computes.
 */
public final class ShapeReport {
  /**
   * A node with an output whose shape is not fully known after inference (rank unknown, or a
   * dim neither known nor symbolic) and that the file's value_info does not complete either.
   */
  public record Unknown(Node node, String reason) {
    @Override
    public String toString() {
      return node.describe() + ": " + reason;
    }
  }

  /**
   * A value whose inferred type conflicts with the type the file declared for it (graph output or
   * value_info): a different rank, element type, or size on some axis. Symbolic or unknown dims
   * on either side never conflict.
   */
  public record Mismatch(Value value, Shape fileShape, Shape inferredShape) {
    @Override
    public String toString() {
      return "'" + value.name() + "': file " + fileShape + ", inferred " + inferredShape;
    }
  }

  private final List<Unknown> unknown;
  private final List<Mismatch> mismatches;
  private final Map<Value, long[]> constants;
  private final int inferredValues;

  ShapeReport(List<Unknown> unknown, List<Mismatch> mismatches, Map<Value, long[]> constants, int inferredValues) {
    this.unknown = List.copyOf(unknown);
    this.mismatches = List.copyOf(mismatches);
    this.constants = constants;
    this.inferredValues = inferredValues;
  }

  /** Nodes left with an incompletely known output, in graph order (main graph first). */
  public List<Unknown> unknown() {
    return unknown;
  }

  /** True when every node output has a fully known shape (known or symbolic dims). */
  public boolean complete() {
    return unknown.isEmpty();
  }

  /** Conflicts between inferred types and the file's declared types. */
  public List<Mismatch> mismatches() {
    return mismatches;
  }

  /**
   * The data of {@code v} when it is a small integer tensor (at most 1024 elements) whose every
   * element is known: an integer initializer or Constant, or a value computed from them by
   * Shape/Gather/Unsqueeze/Concat/Cast/arithmetic/Slice chains (elements in row-major order);
   * else null. A shape element that stays symbolic (the batch) makes the whole value null.
   */
  public long[] constantOf(Value v) {
    long[] d = constants.get(v);
    return d == null ? null : d.clone();
  }

  /** How many values got a type from a shape rule. */
  public int inferredValues() {
    return inferredValues;
  }

  @Override
  public String toString() {
    return "ShapeReport(" + inferredValues + " values inferred, " + unknown.size() + " unknown, " + mismatches.size()
        + " mismatches)";
  }
}
