package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.AttributeType;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Ops that make or index shape tensors, as exporters chain them to compute Reshape targets:
 * Shape, Size, Constant, ConstantOfShape, Gather, GatherElements, Range; plus TopK and NonZero,
 * whose output sizes depend on their inputs' values.
 */
final class ShapeDataRules {
  private ShapeDataRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "Shape", ShapeDataRules::shape);
    OpRules.put(table, "Size", ShapeDataRules::size);
    OpRules.put(table, "Constant", ShapeDataRules::constant);
    OpRules.put(table, "ConstantOfShape", ShapeDataRules::constantOfShape);
    OpRules.put(table, "Gather", ShapeDataRules::gather);
    OpRules.put(table, "GatherElements", c -> c.set(0, c.elemType(0), ShapeMath.plain(c.requireShape(1))));
    OpRules.put(table, "Range", ShapeDataRules::range);
    OpRules.put(table, "TopK", ShapeDataRules::topK);
    OpRules.put(table, "NonZero", c -> c.set(0, DataType.INT64, Shape.of(Dim.of(c.rank(0)), Dim.unknown())));
  }

  /**
   * INT64 vector of the input's dims {@code [start, end)} (attributes from opset 15, negative
   * counting from the end, clamped to the rank); its data are those dims, symbolic ones included.
   */
  static void shape(InferenceContext c) {
    Shape x = c.requireShape(0);
    int r = x.rank();
    long start = c.opset() >= 15 ? c.node().attrLong("start", 0) : 0;
    long end = c.opset() >= 15 ? c.node().attrLong("end", r) : r;
    start = Math.max(0, Math.min(r, start < 0 ? start + r : start));
    end = Math.max(0, Math.min(r, end < 0 ? end + r : end));
    List<Dim> data = end > start ? ShapeMath.dims(x, (int) start, (int) end) : List.of();
    c.setWithData(0, DataType.INT64, Shape.of(data.size()), data);
  }

  /** INT64 scalar: the element count. */
  static void size(InferenceContext c) {
    Shape x = c.requireShape(0);
    c.setWithData(0, DataType.INT64, ShapeMath.SCALAR, List.of(SymbolicDims.product(x.dims())));
  }

  /** Type and shape of the attribute's tensor (value, value_float(s), value_int(s), value_string(s)). */
  static void constant(InferenceContext c) {
    for (Attribute a : c.node().attributes()) {
      switch (a.name()) {
        case "value" -> {
          if (a.type() != AttributeType.TENSOR) {
            throw c.fail("attribute value is " + a.type() + ", not a tensor");
          }
          Tensor t = a.asTensor();
          List<Dim> data = null;
          if (ConstantData.isInteger(t.dataType()) && t.elementCount() <= ConstantData.MAX_ELEMENTS) {
            data = new ArrayList<>();
            for (long v : t.toLongArray()) {
              data.add(Dim.of(v));
            }
          }
          c.setWithData(0, t.dataType(), t.shape(), data);
          return;
        }
        case "value_float" -> {
          c.set(0, DataType.FLOAT, ShapeMath.SCALAR);
          return;
        }
        case "value_floats" -> {
          c.set(0, DataType.FLOAT, Shape.of(a.asFloats().length));
          return;
        }
        case "value_int" -> {
          c.setWithData(0, DataType.INT64, ShapeMath.SCALAR, List.of(Dim.of(a.asLong())));
          return;
        }
        case "value_ints" -> {
          List<Dim> data = new ArrayList<>();
          for (long v : a.asLongs()) {
            data.add(Dim.of(v));
          }
          c.setWithData(0, DataType.INT64, Shape.of(data.size()), data);
          return;
        }
        case "value_string" -> {
          c.set(0, DataType.STRING, ShapeMath.SCALAR);
          return;
        }
        case "value_strings" -> {
          c.set(0, DataType.STRING, Shape.of(a.asStrings().size()));
          return;
        }
        default -> {
          // sparse_value and unknown attributes: keep looking, fail below when nothing matched
        }
      }
    }
    throw c.fail("no dense value attribute (sparse_value is not inferred)");
  }

  /** Shape from input 0's data; type and fill from the {@code value} attribute (default FLOAT 0). */
  static void constantOfShape(InferenceContext c) {
    List<Dim> dims = c.data(0);
    if (dims == null) {
      throw c.fail(c.describeInput(0) + " (the shape) is not known");
    }
    Attribute value = c.node().attribute("value");
    DataType t = value == null ? DataType.FLOAT : value.asTensor().dataType();
    Shape out = Shape.of(dims);
    List<Dim> data = null;
    long n = out.elementCount();
    if (value != null && ConstantData.isInteger(t) && n >= 0 && n <= ConstantData.MAX_ELEMENTS) {
      data = Collections.nCopies((int) n, Dim.of(value.asTensor().toLongArray()[0]));
    }
    c.setWithData(0, t, out, data);
  }

  /**
   * data [d0..], indices shape q along {@code axis} -> data[:axis] + q + data[axis+1:]. Known data
   * of rank 1 is gathered (negative indices count from the end).
   */
  static void gather(InferenceContext c) {
    Shape x = c.requireShape(0);
    Shape idx = c.requireShape(1);
    int axis = c.axis(c.node().attrLong("axis", 0), x.rank());
    List<Dim> out = ShapeMath.dims(x, 0, axis);
    out.addAll(ShapeMath.dims(idx, 0, idx.rank()));
    out.addAll(ShapeMath.dims(x, axis + 1, x.rank()));
    List<Dim> data = null;
    List<Dim> src = c.data(0);
    List<Dim> at = c.data(1);
    if (x.rank() == 1 && src != null && at != null) {
      data = new ArrayList<>();
      for (Dim i : at) {
        if (!i.isKnown()) {
          data = null;
          break;
        }
        long k = i.get() < 0 ? i.get() + src.size() : i.get();
        if (k < 0 || k >= src.size()) {
          throw c.fail("index " + i.get() + " is out of range for " + src.size() + " elements");
        }
        data.add(src.get((int) k));
      }
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), data);
  }

  /**
   * Length {@code max(0, ceil((limit - start) / delta))} from constant scalar inputs; integer data
   * kept. An integer range whose limit is computed at run time is 1-D: of the limit's symbol for
   * {@code Range(0, n, 1)} (positions up to a sequence length), else of unknown length.
   */
  static void range(InferenceContext c) {
    DataType t = c.elemType(0);
    if (ConstantData.isInteger(t) && !known(c.data(0), c.data(1), c.data(2))) {
      List<Dim> s = c.data(0);
      List<Dim> l = c.data(1);
      List<Dim> d = c.data(2);
      boolean count = s != null && d != null && l != null && s.size() == 1 && l.size() == 1 && d.size() == 1
          && s.get(0).isKnown() && s.get(0).get() == 0 && d.get(0).isKnown() && d.get(0).get() == 1
          && l.get(0).isSymbolic();
      c.set(0, t, Shape.of(count ? ShapeMath.plain(l.get(0)) : Dim.unknown()));
      return;
    }
    double start;
    double limit;
    double delta;
    if (ConstantData.isInteger(t)) {
      start = c.ints(0)[0];
      limit = c.ints(1)[0];
      delta = c.ints(2)[0];
    } else {
      float[] s = c.floats(0);
      float[] l = c.floats(1);
      float[] d = c.floats(2);
      start = s[0];
      limit = l[0];
      delta = d[0];
    }
    if (delta == 0) {
      throw c.fail("delta is 0");
    }
    long n = Math.max(0, (long) Math.ceil((limit - start) / delta));
    List<Dim> data = null;
    if (ConstantData.isInteger(t) && n <= ConstantData.MAX_ELEMENTS) {
      data = new ArrayList<>();
      for (long i = 0; i < n; i++) {
        data.add(Dim.of((long) (start + i * delta)));
      }
    }
    c.setWithData(0, t, Shape.of(n), data);
  }

  /** True when every element of every list is known. */
  @SafeVarargs
  private static boolean known(List<Dim>... lists) {
    for (List<Dim> l : lists) {
      if (l == null || !l.stream().allMatch(Dim::isKnown)) {
        return false;
      }
    }
    return true;
  }

  /** Values and INT64 indices: the input's shape with {@code k} (input 1, or attribute before opset 10) on axis. */
  static void topK(InferenceContext c) {
    Shape x = c.requireShape(0);
    int axis = c.axis(c.node().attrLong("axis", -1), x.rank());
    long k = c.opset() >= 10 ? c.ints(1)[0] : c.node().attrLong("k", -1);
    Shape out = ShapeMath.plain(x).with(axis, Dim.of(k));
    c.set(0, c.elemType(0), out);
    c.set(1, DataType.INT64, out);
  }
}
