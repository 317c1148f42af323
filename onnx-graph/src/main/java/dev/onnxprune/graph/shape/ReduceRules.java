package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The Reduce* family and ArgMax/ArgMin. */
final class ReduceRules {
  private ReduceRules() {}

  /** Reductions whose axes moved from attribute to input 1 at opset 18 (ReduceSum moved at 13). */
  static final List<String> REDUCE = List.of(
      "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
      "ReduceLogSumExp", "ReduceSumSquare");

  static void register(Map<String, OpRule> table) {
    for (String op : REDUCE) {
      OpRules.put(table, op, c -> reduce(c, 18));
    }
    OpRules.put(table, "ReduceSum", c -> reduce(c, 13));
    OpRules.put(table, "ArgMax", ReduceRules::arg);
    OpRules.put(table, "ArgMin", ReduceRules::arg);
  }

  /**
   * Reduced axes become 1 (keepdims=1, the default) or disappear. Axes come from the attribute
   * before {@code inputSince} and from input 1 after; none means all axes, unless
   * noop_with_empty_axes, which keeps the input as it is.
   */
  static void reduce(InferenceContext c, long inputSince) {
    Shape x = c.requireShape(0);
    long[] axes = c.opset() >= inputSince ? c.intsOrNull(1) : c.node().attrLongs("axes");
    boolean keep = c.node().attrLong("keepdims", 1) != 0;
    boolean[] reduced = new boolean[x.rank()];
    if (axes == null || axes.length == 0) {
      if (c.opset() >= inputSince && c.node().attrLong("noop_with_empty_axes", 0) != 0) {
        c.set(0, c.elemType(0), ShapeMath.plain(x));
        return;
      }
      java.util.Arrays.fill(reduced, true);
    } else {
      for (long a : axes) {
        reduced[c.axis(a, x.rank())] = true;
      }
    }
    c.set(0, c.elemType(0), reducedShape(x, reduced, keep));
  }

  /** ArgMax/ArgMin: one axis (default 0) reduced as above; INT64 output. */
  static void arg(InferenceContext c) {
    Shape x = c.requireShape(0);
    boolean[] reduced = new boolean[x.rank()];
    reduced[c.axis(c.node().attrLong("axis", 0), x.rank())] = true;
    c.set(0, DataType.INT64, reducedShape(x, reduced, c.node().attrLong("keepdims", 1) != 0));
  }

  private static Shape reducedShape(Shape x, boolean[] reduced, boolean keep) {
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      if (!reduced[i]) {
        out.add(ShapeMath.plain(x.dim(i)));
      } else if (keep) {
        out.add(Dim.of(1));
      }
    }
    return Shape.of(out);
  }
}
