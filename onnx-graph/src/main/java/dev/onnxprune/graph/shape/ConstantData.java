package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The known data of small integer tensors: initializers, Constant outputs and what the shape
 * rules compute from them (Shape, Gather, Concat, ...). Elements are {@link Dim}s so a symbolic
 * batch read by {@code Shape} stays symbolic through the chain.
 */
final class ConstantData {
  /** Larger integer tensors are not tracked (shape tensors have a handful of elements). */
  static final int MAX_ELEMENTS = 1024;

  private final Map<Value, List<Dim>> known = new IdentityHashMap<>();

  /** The data of {@code v} element by element, or null when not known. */
  List<Dim> of(Value v) {
    List<Dim> d = known.get(v);
    if (d != null || known.containsKey(v)) {
      return d;
    }
    Tensor t = constantTensor(v);
    if (t != null && isInteger(t.dataType()) && t.elementCount() <= MAX_ELEMENTS) {
      List<Dim> out = new ArrayList<>();
      for (long x : t.toLongArray()) {
        out.add(Dim.of(x));
      }
      d = List.copyOf(out);
    }
    known.put(v, d);
    return d;
  }

  void put(Value v, List<Dim> d) {
    known.put(v, d);
  }

  /** Every value whose data is completely known, with that data. */
  Map<Value, long[]> fullyKnown() {
    Map<Value, long[]> out = new IdentityHashMap<>();
    for (Map.Entry<Value, List<Dim>> e : known.entrySet()) {
      List<Dim> d = e.getValue();
      if (d == null) {
        continue;
      }
      long[] a = new long[d.size()];
      boolean all = true;
      for (int i = 0; i < a.length && all; i++) {
        all = d.get(i).isKnown();
        a[i] = all ? d.get(i).get() : 0;
      }
      if (all) {
        out.put(e.getKey(), a);
      }
    }
    return out;
  }

  /** The tensor of an initializer or Constant output, looking through Identity nodes; else null. */
  static Tensor constantTensor(Value v) {
    for (int hops = 0; v != null && hops < 16; hops++) {
      Tensor t = v.constantValue();
      if (t != null) {
        return t;
      }
      Node p = v.producer();
      if (p == null || !p.is("Identity")) {
        return null;
      }
      v = p.input(0);
    }
    return null;
  }

  static boolean isInteger(DataType t) {
    return switch (t) {
      case INT64, INT32, INT16, INT8, UINT64, UINT32, UINT16, UINT8, BOOL -> true;
      default -> false;
    };
  }
}
