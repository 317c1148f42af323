package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.SymbolicDims;
import java.util.Map;

/**
 * Concrete sizes for counting: known dims as they are, the batch symbols bound to 1 (also inside
 * derived names such as {@code "N*3"}); anything else makes the count unknown.
 */
final class Sizes {
  /** Thrown when a size the count needs is not known. */
  static final class UnknownSize extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UnknownSize(String what) {
      super(what, null, false, false);
    }
  }

  private final Map<String, Long> bindings;

  Sizes(Map<String, Long> bindings) {
    this.bindings = bindings;
  }

  long dim(Dim d, Value of) {
    Long v = SymbolicDims.evaluate(d, bindings);
    if (v == null) {
      throw new UnknownSize("dim " + d + " of '" + of.name() + "'");
    }
    return v;
  }

  long[] dims(Value v) {
    if (v == null) {
      throw new UnknownSize("an absent input");
    }
    Shape s = v.shape();
    if (s == null) {
      throw new UnknownSize("shape of '" + v.name() + "'");
    }
    long[] out = new long[s.rank()];
    for (int i = 0; i < out.length; i++) {
      out[i] = dim(s.dim(i), v);
    }
    return out;
  }

  long elements(Value v) {
    long n = 1;
    for (long d : dims(v)) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  long inputElements(Node n, int i) {
    return elements(n.input(i));
  }

  long outputElements(Node n) {
    return elements(n.output(0));
  }
}
