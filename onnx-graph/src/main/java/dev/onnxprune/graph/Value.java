package dev.onnxprune.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A value in a graph: a graph input, an initializer (with a {@link Tensor}), or a node output.
 * A value owns its uses, so rewiring is local: {@link Node#replaceInput} is the one place an
 * edge changes, and {@link #replaceAllUsesWith} costs O(uses).
 */
public final class Value {
  private String name;
  private ValueType type;
  private String docString;
  private Tensor initializer;
  private Node producer;
  private int producerIndex = -1;
  final Graph graph;
  private final List<Use> uses = new ArrayList<>();

  /** Serde: the ValueInfoProto less name/type/doc_string (metadata, unknown fields), or null. */
  Object infoRest;
  /** Serde: the TypeProto read for this value and the type parsed from it, written back unchanged. */
  Object typeOrigin;
  ValueType typeRead;
  /** Serde: a SparseTensorProto when this value is a sparse initializer. */
  Object sparseInitializer;

  Value(Graph graph, String name) {
    this.graph = graph;
    this.name = name;
  }

  public String name() {
    return name;
  }

  /** The graph (scope) that defines this value. */
  public Graph graph() {
    return graph;
  }

  /** Renames the value; the new name must be unused in its graph. */
  public void rename(String newName) {
    graph.renameValue(this, newName);
  }

  void setNameInternal(String newName) {
    this.name = newName;
  }

  /** Known type, or null when the file had none and nothing has inferred one. */
  public ValueType type() {
    return type;
  }

  public void setType(ValueType type) {
    this.type = type;
  }

  /** Tensor type if known, else null. */
  public ValueType.TensorType tensorType() {
    return type instanceof ValueType.TensorType t ? t : null;
  }

  /** Shape if known, else null. */
  public Shape shape() {
    ValueType.TensorType t = tensorType();
    return t == null ? null : t.shape();
  }

  public String docString() {
    return docString;
  }

  public void setDocString(String docString) {
    this.docString = docString;
  }

  /** The initializer tensor, or null when this value is not an initializer. */
  public Tensor initializer() {
    return initializer;
  }

  public boolean isInitializer() {
    return initializer != null;
  }

  /** True for a sparse initializer (its data is carried as read). */
  public boolean isSparseInitializer() {
    return sparseInitializer != null;
  }

  /**
   * The value behind a chain of Identity nodes ending at this one (this value when no Identity
   * produces it); null after 16 Identity hops (a cycle in a malformed graph).
   */
  public Value behindIdentity() {
    Value v = this;
    for (int hops = 0; v != null; hops++) {
      Node p = v.producer();
      if (p == null || !p.is("Identity")) {
        return v;
      }
      if (hops == 16) {
        return null;
      }
      v = p.input(0);
    }
    return null;
  }

  /** Constant data of this value: its initializer, or the tensor of a Constant node producing it. */
  public Tensor constantValue() {
    if (initializer != null) {
      return initializer;
    }
    if (producer != null && producer.is("Constant")) {
      // Constant holds exactly one of value, value_float(s), value_int(s) (opset 12+).
      Attribute a = producer.attribute("value");
      if (a != null && a.type() == AttributeType.TENSOR) {
        return a.asTensor();
      }
      if ((a = producer.attribute("value_int")) != null) {
        return Tensor.ofLongs(new long[0], new long[] {a.asLong()});
      }
      if ((a = producer.attribute("value_ints")) != null) {
        return Tensor.vector(a.asLongs());
      }
      if ((a = producer.attribute("value_float")) != null) {
        return Tensor.scalar(a.asFloat());
      }
      if ((a = producer.attribute("value_floats")) != null) {
        float[] f = a.asFloats();
        return Tensor.ofFloats(new long[] {f.length}, f);
      }
    }
    return null;
  }

  /**
   * Replaces the initializer's data (same value, same uses). Type follows the tensor.
   *
   * @throws GraphException when this value is not an initializer
   */
  public void setInitializer(Tensor tensor) {
    if (initializer == null) {
      throw new GraphException("value '" + name + "' is not an initializer");
    }
    this.initializer = tensor;
    this.type = new ValueType.TensorType(tensor.dataType(), tensor.shape());
  }

  void initializerInternal(Tensor tensor) {
    this.initializer = tensor;
  }

  /** The node that computes this value, or null for graph inputs and initializers. */
  public Node producer() {
    return producer;
  }

  /** Which output of its producer this value is (-1 when it has no producer). */
  public int producerIndex() {
    return producerIndex;
  }

  void setProducer(Node node, int index) {
    this.producer = node;
    this.producerIndex = index;
  }

  /** Every (node, input index) that reads this value, subgraph nodes included. */
  public List<Use> uses() {
    return Collections.unmodifiableList(uses);
  }

  /** Distinct consumer nodes, in use order. */
  public List<Node> consumers() {
    List<Node> out = new ArrayList<>();
    for (Use u : uses) {
      if (!out.contains(u.node())) {
        out.add(u.node());
      }
    }
    return out;
  }

  void addUse(Node node, int index) {
    uses.add(new Use(node, index));
  }

  void removeUse(Node node, int index) {
    for (int i = 0; i < uses.size(); i++) {
      Use u = uses.get(i);
      if (u.node() == node && u.index() == index) {
        uses.remove(i);
        return;
      }
    }
    throw new GraphException("value '" + name + "' has no use " + node.describe() + " input " + index);
  }

  /** True when the value is an output of its graph. */
  public boolean isGraphOutput() {
    return graph.outputs().contains(this);
  }

  /** True when the value is an input of its graph. */
  public boolean isGraphInput() {
    return graph.inputs().contains(this);
  }

  /** Points every use of this value at {@code other} instead (graph outputs are left as they are). */
  public void replaceAllUsesWith(Value other) {
    if (other == this) {
      return;
    }
    for (Use u : new ArrayList<>(uses)) {
      u.node().replaceInput(u.index(), other);
    }
  }

  @Override
  public String toString() {
    return "%" + name + (type == null ? "" : ": " + type);
  }
}
