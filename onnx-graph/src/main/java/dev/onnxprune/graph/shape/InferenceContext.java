package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What a rule sees of one node: its input types, the known data of small integer inputs, its
 * opset version; and where it puts the output types and data it infers.
 */
final class InferenceContext {
  private final Node node;
  private final long opset;
  private final ConstantData data;
  private final TensorType[] outTypes;
  private final List<List<Dim>> outData;

  InferenceContext(Node node, long opset, ConstantData data) {
    this.node = node;
    this.opset = opset;
    this.data = data;
    this.outTypes = new TensorType[node.outputCount()];
    this.outData = new ArrayList<>();
    for (int i = 0; i < node.outputCount(); i++) {
      outData.add(null);
    }
  }

  Node node() {
    return node;
  }

  /** Version of the node's operator set (the default domain's for ONNX ops). */
  long opset() {
    return opset;
  }

  /** True when input {@code i} is present (not omitted). */
  boolean has(int i) {
    return node.input(i) != null;
  }

  int inputCount() {
    return node.inputCount();
  }

  /** Type of input {@code i}, or null when it is absent or its type is not a known tensor type. */
  TensorType type(int i) {
    Value v = node.input(i);
    return v == null ? null : v.tensorType();
  }

  TensorType requireType(int i) {
    TensorType t = type(i);
    if (t == null || t.elemType() == null || t.elemType() == DataType.UNDEFINED) {
      throw fail(describeInput(i) + " has no known tensor type");
    }
    return t;
  }

  DataType elemType(int i) {
    return requireType(i).elemType();
  }

  /** Shape of input {@code i}, or null when unknown. */
  Shape shape(int i) {
    TensorType t = type(i);
    return t == null ? null : t.shape();
  }

  Shape requireShape(int i) {
    Shape s = shape(i);
    if (s == null) {
      throw fail(describeInput(i) + " has no known shape");
    }
    return s;
  }

  /** Rank of input {@code i}; fails when unknown. */
  int rank(int i) {
    return requireShape(i).rank();
  }

  /** The known data of a small integer input, element by element (possibly symbolic), or null. */
  List<Dim> data(int i) {
    Value v = node.input(i);
    return v == null ? null : data.of(v);
  }

  /** The data of integer input {@code i}, every element known; fails when it is not. */
  long[] ints(int i) {
    if (!has(i)) {
      throw fail("input " + i + " is missing");
    }
    List<Dim> d = data(i);
    if (d == null) {
      throw fail(describeInput(i) + " is not a constant this inference can compute");
    }
    long[] out = new long[d.size()];
    for (int k = 0; k < out.length; k++) {
      if (!d.get(k).isKnown()) {
        throw fail(describeInput(i) + " element " + k + " is not known (" + d.get(k) + ")");
      }
      out[k] = d.get(k).get();
    }
    return out;
  }

  /** Like {@link #ints} but null when the input is absent (an omitted optional input). */
  long[] intsOrNull(int i) {
    return has(i) ? ints(i) : null;
  }

  /** Float data of a constant input (initializer or Constant, through Identity), or null when absent. */
  float[] floats(int i) {
    if (!has(i)) {
      return null;
    }
    Tensor t = ConstantData.constantTensor(node.input(i));
    if (t == null) {
      throw fail(describeInput(i) + " is not a constant");
    }
    return t.toFloatArray();
  }

  /** Sets output {@code i}'s type (ignored when that output is omitted). */
  void set(int i, DataType elemType, Shape shape) {
    if (i < outTypes.length && node.output(i) != null) {
      outTypes[i] = new TensorType(elemType, shape);
    }
  }

  /** Sets output {@code i}'s type and records its known data. */
  void setWithData(int i, DataType elemType, Shape shape, List<Dim> values) {
    set(i, elemType, shape);
    if (i < outTypes.length && values != null && values.size() <= ConstantData.MAX_ELEMENTS) {
      outData.set(i, List.copyOf(values));
    }
  }

  TensorType output(int i) {
    return outTypes[i];
  }

  List<Dim> outputData(int i) {
    return outData.get(i);
  }

  /** Axis {@code axis} (negative counts from the end) checked against {@code rank}. */
  int axis(long axis, int rank) {
    long a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
      throw fail("axis " + axis + " is out of range for rank " + rank);
    }
    return (int) a;
  }

  /** INTS attribute, or {@code dflt} when absent. */
  long[] attrLongs(String name, long[] dflt) {
    long[] v = node.attrLongs(name);
    return v == null ? dflt : v;
  }

  /** INTS attribute of length {@code n}, or {@code n} copies of {@code fill} when absent. */
  long[] attrLongs(String name, int n, long fill) {
    long[] v = node.attrLongs(name);
    if (v == null) {
      long[] out = new long[n];
      Arrays.fill(out, fill);
      return out;
    }
    if (v.length != n) {
      throw fail("attribute " + name + "=" + Arrays.toString(v) + " needs " + n + " values");
    }
    return v;
  }

  String describeInput(int i) {
    Value v = node.input(i);
    return "input " + i + (v == null ? "" : " '" + v.name() + "'");
  }

  InferenceFailure fail(String reason) {
    return new InferenceFailure(reason);
  }
}
