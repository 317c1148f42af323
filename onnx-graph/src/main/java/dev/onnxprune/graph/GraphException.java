package dev.onnxprune.graph;

/** An edit or query that would break the graph (a dangling edge, a duplicate name, a bad type). */
public class GraphException extends RuntimeException {
  public GraphException(String message) {
    super(message);
  }

  public GraphException(String message, Throwable cause) {
    super(message, cause);
  }
}
