package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** MaxPool, AveragePool, LpPool and their global forms. */
final class PoolRules {
  private PoolRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "MaxPool", c -> pool(c, true));
    // AveragePool has dilations from opset 19; LpPool from opset 18.
    OpRules.put(table, "AveragePool", c -> pool(c, c.opset() >= 19));
    OpRules.put(table, "LpPool", c -> pool(c, c.opset() >= 18));
    OpRules.put(table, "GlobalAveragePool", PoolRules::global);
    OpRules.put(table, "GlobalMaxPool", PoolRules::global);
    OpRules.put(table, "GlobalLpPool", PoolRules::global);
  }

  /**
   * X [N, C, D1..Dn] -> Y [N, C, o1..on] ({@link ShapeMath#spatial}, ceil_mode honoured); MaxPool's
   * optional Indices output has Y's shape and INT64.
   */
  static void pool(InferenceContext c, boolean dilations) {
    Shape x = c.requireShape(0);
    if (x.rank() < 3) {
      throw c.fail("input " + x + " needs rank >= 3");
    }
    long[] kernel = c.node().attrLongs("kernel_shape");
    if (kernel == null) {
      throw c.fail("attribute kernel_shape is required");
    }
    boolean ceil = c.node().attrLong("ceil_mode", 0) != 0;
    List<Dim> out = new ArrayList<>(ShapeMath.dims(x, 0, 2));
    out.addAll(ShapeMath.spatial(c, x, kernel, ceil, dilations));
    Shape y = Shape.of(out);
    c.set(0, c.elemType(0), y);
    c.set(1, DataType.INT64, y);
  }

  /** X [N, C, D1..Dn] -> Y [N, C, 1..1]. */
  static void global(InferenceContext c) {
    Shape x = c.requireShape(0);
    if (x.rank() < 2) {
      throw c.fail("input " + x + " needs rank >= 2");
    }
    List<Dim> out = new ArrayList<>(ShapeMath.dims(x, 0, 2));
    for (int i = 2; i < x.rank(); i++) {
      out.add(Dim.of(1));
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }
}
