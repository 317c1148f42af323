package dev.onnxprune.graph;

import com.google.protobuf.ByteString;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * An immutable node attribute. Values by type: FLOAT {@code Float}, INT {@code Long}, STRING
 * {@code ByteString}, TENSOR {@link Tensor}, GRAPH {@link Graph}, FLOATS {@code float[]}, INTS
 * {@code long[]}, STRINGS {@code List<ByteString>}, TENSORS {@code List<Tensor>}, GRAPHS
 * {@code List<Graph>}. Sparse-tensor and type-proto attributes, and function attribute
 * references, have no IR value and are carried as read.
 */
public final class Attribute {
  private final String name;
  private final AttributeType type;
  private final Object value;
  /** Serde's record of the AttributeProto this was read from; null when built in memory. */
  final Object protoOrigin;

  Attribute(String name, AttributeType type, Object value, Object protoOrigin) {
    this.name = name;
    this.type = type;
    this.value = value;
    this.protoOrigin = protoOrigin;
  }

  public static Attribute of(String name, long value) {
    return new Attribute(name, AttributeType.INT, value, null);
  }

  public static Attribute of(String name, float value) {
    return new Attribute(name, AttributeType.FLOAT, value, null);
  }

  public static Attribute of(String name, String value) {
    return new Attribute(name, AttributeType.STRING, ByteString.copyFromUtf8(value), null);
  }

  public static Attribute of(String name, long[] values) {
    return new Attribute(name, AttributeType.INTS, values.clone(), null);
  }

  public static Attribute of(String name, float[] values) {
    return new Attribute(name, AttributeType.FLOATS, values.clone(), null);
  }

  public static Attribute of(String name, Tensor value) {
    return new Attribute(name, AttributeType.TENSOR, value, null);
  }

  public static Attribute of(String name, Graph value) {
    return new Attribute(name, AttributeType.GRAPH, value, null);
  }

  public static Attribute ofStrings(String name, List<String> values) {
    List<ByteString> b = new ArrayList<>();
    for (String v : values) {
      b.add(ByteString.copyFromUtf8(v));
    }
    return new Attribute(name, AttributeType.STRINGS, List.copyOf(b), null);
  }

  public String name() {
    return name;
  }

  public AttributeType type() {
    return type;
  }

  /** The raw value (see the class comment for the Java type per attribute type). */
  public Object value() {
    return value;
  }

  public long asLong() {
    return (Long) expect(AttributeType.INT);
  }

  public float asFloat() {
    return (Float) expect(AttributeType.FLOAT);
  }

  public String asString() {
    return ((ByteString) expect(AttributeType.STRING)).toString(StandardCharsets.UTF_8);
  }

  public long[] asLongs() {
    return ((long[]) expect(AttributeType.INTS)).clone();
  }

  public float[] asFloats() {
    return ((float[]) expect(AttributeType.FLOATS)).clone();
  }

  public Tensor asTensor() {
    return (Tensor) expect(AttributeType.TENSOR);
  }

  public Graph asGraph() {
    return (Graph) expect(AttributeType.GRAPH);
  }

  @SuppressWarnings("unchecked")
  public List<Graph> asGraphs() {
    return (List<Graph>) expect(AttributeType.GRAPHS);
  }

  @SuppressWarnings("unchecked")
  public List<String> asStrings() {
    List<String> out = new ArrayList<>();
    for (ByteString b : (List<ByteString>) expect(AttributeType.STRINGS)) {
      out.add(b.toString(StandardCharsets.UTF_8));
    }
    return out;
  }

  /** The subgraphs this attribute holds (GRAPH or GRAPHS), else empty. */
  public List<Graph> subgraphs() {
    if (type == AttributeType.GRAPH) {
      return List.of((Graph) value);
    }
    if (type == AttributeType.GRAPHS) {
      return asGraphs();
    }
    return List.of();
  }

  private Object expect(AttributeType t) {
    if (type != t) {
      throw new GraphException("attribute '" + name + "' is " + type + ", not " + t);
    }
    return value;
  }

  @Override
  public String toString() {
    Object v = switch (type) {
      case INTS -> java.util.Arrays.toString((long[]) value);
      case FLOATS -> java.util.Arrays.toString((float[]) value);
      case STRING -> asString();
      default -> value;
    };
    return name + "=" + v;
  }
}
