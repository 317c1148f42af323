package dev.onnxprune.graph;

/** One use of a value: input {@code index} of {@code node}. */
public record Use(Node node, int index) {
  @Override
  public boolean equals(Object o) {
    return o instanceof Use u && u.node == node && u.index == index;
  }

  @Override
  public int hashCode() {
    return System.identityHashCode(node) * 31 + index;
  }

  @Override
  public String toString() {
    return node.describe() + " input " + index;
  }
}
