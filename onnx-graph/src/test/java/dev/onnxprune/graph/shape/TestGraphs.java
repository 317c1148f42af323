package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Small hand-built models for the rule tests. */
final class TestGraphs {
  private TestGraphs() {}

  /** An empty model importing the default domain at {@code opset} (IR version 10). */
  static Model model(long opset) {
    Model m = new Model(new Graph("test"));
    m.setIrVersion(10L);
    m.opsets().add(new OpsetId("", opset));
    return m;
  }

  /** A shape from dims: numbers are sizes, strings symbols, "?" unknown. */
  static Shape shape(Object... dims) {
    List<Dim> out = new ArrayList<>();
    for (Object d : dims) {
      if (d instanceof Number n) {
        out.add(Dim.of(n.longValue()));
      } else if ("?".equals(d)) {
        out.add(Dim.unknown());
      } else {
        out.add(Dim.symbolic((String) d));
      }
    }
    return Shape.of(out);
  }

  /** A FLOAT graph input. */
  static Value input(Model m, String name, Object... dims) {
    return m.graph().addInput(name, new TensorType(DataType.FLOAT, shape(dims)));
  }

  /** A FLOAT initializer of the given dims filled with small values. */
  static Value weight(Model m, String name, long... dims) {
    int n = (int) Arrays.stream(dims).reduce(1, (a, b) -> a * b);
    float[] data = new float[n];
    for (int i = 0; i < n; i++) {
      data[i] = (i % 7) * 0.1f - 0.3f;
    }
    return m.graph().addInitializer(name, Tensor.ofFloats(dims, data));
  }

  /** An INT64 vector initializer. */
  static Value ints(Model m, String name, long... values) {
    return m.graph().addInitializer(name, Tensor.vector(values));
  }

  /** An INT64 scalar initializer. */
  static Value scalar(Model m, String name, long value) {
    return m.graph().addInitializer(name, Tensor.ofLongs(new long[0], new long[] {value}));
  }

  /** A FLOAT vector initializer. */
  static Value floats(Model m, String name, float... values) {
    return m.graph().addInitializer(name, Tensor.ofFloats(new long[] {values.length}, values));
  }

  /** Adds a node with one output named {@code out} and returns that output. */
  static Value op(Model m, String opType, String out, List<Value> inputs, Attribute... attrs) {
    return m.graph().addNode(opType, out + "_node", inputs, List.of(out), attrs).output(0);
  }

  /** Adds a node with outputs {@code outs} and returns it. */
  static Node node(Model m, String opType, List<Value> inputs, List<String> outs, Attribute... attrs) {
    return m.graph().addNode(opType, outs.get(0) + "_node", inputs, outs, attrs);
  }

  /** An INTS attribute. */
  static Attribute longs(String name, long... values) {
    return Attribute.of(name, values);
  }

  static Attribute attr(String name, long value) {
    return Attribute.of(name, value);
  }

  static Attribute attr(String name, float value) {
    return Attribute.of(name, value);
  }

  static Attribute attr(String name, String value) {
    return Attribute.of(name, value);
  }
}
