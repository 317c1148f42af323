package dev.onnxprune.graph;

import dev.onnxprune.errors.InvalidModelException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An operator application. Inputs and outputs are {@link Value}s; a null entry is an omitted
 * optional input or output (ONNX's empty name). Attributes keep their file order.
 */
public final class Node {
  private String name;
  private final String opType;
  private final String domain;
  private String docString;
  private final List<Value> inputs = new ArrayList<>();
  private final List<Value> outputs = new ArrayList<>();
  private final Map<String, Attribute> attributes = new LinkedHashMap<>();
  final Graph graph;
  /** Serde: the NodeProto less the fields modeled here (overload, metadata, unknown fields). */
  Object protoRest;
  /** Serde: whether the file set the domain field explicitly (presence is kept on write). */
  boolean domainPresent;

  Node(Graph graph, String name, String opType, String domain) {
    this.graph = graph;
    this.name = name;
    this.opType = opType;
    this.domain = domain == null ? "" : domain;
    this.domainPresent = domain != null;
  }

  /** Node name, or null when the file gave none. */
  public String name() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public String opType() {
    return opType;
  }

  /** Operator domain; "" for the default ONNX domain. */
  public String domain() {
    return domain;
  }

  /** True for an op of the default ONNX domain with type {@code op}. */
  public boolean is(String op) {
    return opType.equals(op) && (domain.isEmpty() || domain.equals("ai.onnx"));
  }

  public String docString() {
    return docString;
  }

  public void setDocString(String docString) {
    this.docString = docString;
  }

  /** The graph holding this node. */
  public Graph graph() {
    return graph;
  }

  public List<Value> inputs() {
    return Collections.unmodifiableList(inputs);
  }

  /** Input {@code i}, or null when absent (omitted optional input or index past the end). */
  public Value input(int i) {
    return i < inputs.size() ? inputs.get(i) : null;
  }

  public int inputCount() {
    return inputs.size();
  }

  public List<Value> outputs() {
    return Collections.unmodifiableList(outputs);
  }

  public Value output(int i) {
    return i < outputs.size() ? outputs.get(i) : null;
  }

  public int outputCount() {
    return outputs.size();
  }

  /**
   * Points input {@code i} at {@code value} (null to omit it). The one place an edge changes:
   * the old value loses this use and the new one gains it.
   */
  public void replaceInput(int i, Value value) {
    Value old = inputs.get(i);
    if (old == value) {
      return;
    }
    if (value != null) {
      graph.checkVisible(value, this);
    }
    if (old != null) {
      old.removeUse(this, i);
    }
    inputs.set(i, value);
    if (value != null) {
      value.addUse(this, i);
    }
  }

  /** Appends an input (null for an omitted optional one). */
  public void addInput(Value value) {
    if (value != null) {
      graph.checkVisible(value, this);
    }
    inputs.add(value);
    if (value != null) {
      value.addUse(this, inputs.size() - 1);
    }
  }

  /** Appends an input without recording its use ({@link ModelCopier} adds the uses in the original's order). */
  void appendInputEdge(Value value) {
    inputs.add(value);
  }

  /** Drops trailing inputs from index {@code from} on. */
  public void truncateInputs(int from) {
    while (inputs.size() > from) {
      int i = inputs.size() - 1;
      Value v = inputs.get(i);
      if (v != null) {
        v.removeUse(this, i);
      }
      inputs.remove(i);
    }
  }

  void attachOutput(Value value) {
    outputs.add(value);
    if (value != null) {
      value.setProducer(this, outputs.size() - 1);
    }
  }

  /** Adds a new output value named {@code valueName} (must be unused in the graph). */
  public Value addOutput(String valueName) {
    Value v = graph.defineValue(valueName);
    attachOutput(v);
    return v;
  }

  void detachAll() {
    for (int i = 0; i < inputs.size(); i++) {
      if (inputs.get(i) != null) {
        inputs.get(i).removeUse(this, i);
      }
    }
    inputs.clear();
  }

  public Collection<Attribute> attributes() {
    return Collections.unmodifiableCollection(attributes.values());
  }

  /** The attribute named {@code name}, or null. */
  public Attribute attribute(String attrName) {
    return attributes.get(attrName);
  }

  public boolean hasAttribute(String attrName) {
    return attributes.containsKey(attrName);
  }

  /**
   * INT attribute or the default when absent.
   *
   * @throws InvalidModelException when the attribute has another type (it names the node and attribute)
   */
  public long attrLong(String attrName, long dflt) {
    Attribute a = attributes.get(attrName);
    return a == null ? dflt : typed(a, AttributeType.INT).asLong();
  }

  /** FLOAT attribute or the default when absent; another type is an {@link InvalidModelException}. */
  public float attrFloat(String attrName, float dflt) {
    Attribute a = attributes.get(attrName);
    return a == null ? dflt : typed(a, AttributeType.FLOAT).asFloat();
  }

  /** INTS attribute or null when absent; another type is an {@link InvalidModelException}. */
  public long[] attrLongs(String attrName) {
    Attribute a = attributes.get(attrName);
    return a == null ? null : typed(a, AttributeType.INTS).asLongs();
  }

  /** STRING attribute or the default when absent; another type is an {@link InvalidModelException}. */
  public String attrString(String attrName, String dflt) {
    Attribute a = attributes.get(attrName);
    return a == null ? dflt : typed(a, AttributeType.STRING).asString();
  }

  private Attribute typed(Attribute a, AttributeType type) {
    if (a.type() != type) {
      throw invalidAttribute(a.name(), "is " + a.type() + "; " + opType + " takes it as " + type);
    }
    return a;
  }

  /**
   * The error for a value of attribute {@code attrName} this node cannot have: an {@link
   * InvalidModelException} naming the model's file, this node and the attribute, e.g. {@code
   * "m.onnx is not a valid ONNX model: 'conv1' (Conv): attribute 'group' is 0; it must be at
   * least 1"}.
   *
   * @param what what is wrong with the value, e.g. {@code "is 0; it must be at least 1"}
   */
  public InvalidModelException invalidAttribute(String attrName, String what) {
    return new InvalidModelException(graph.sourceFile(), describe(), attrName, what);
  }

  /** The error for this node when no one attribute is at fault (an input's shape, say): names the file and node. */
  public InvalidModelException invalid(String what) {
    return new InvalidModelException(graph.sourceFile(), List.of(describe() + ": " + what));
  }

  /** Sets (adds or replaces, keeping its position) an attribute. */
  public void setAttribute(Attribute attribute) {
    for (Graph g : attribute.subgraphs()) {
      g.setParent(this);
    }
    attributes.put(attribute.name(), attribute);
  }

  public void removeAttribute(String attrName) {
    attributes.remove(attrName);
  }

  /** Subgraphs held by this node's attributes (If branches, Loop/Scan bodies). */
  public List<Graph> subgraphs() {
    List<Graph> out = new ArrayList<>();
    for (Attribute a : attributes.values()) {
      out.addAll(a.subgraphs());
    }
    return out;
  }

  /** "'name' (Op)" for messages. */
  public String describe() {
    return "'" + (name == null || name.isEmpty() ? "<unnamed>" : name) + "' (" + (domain.isEmpty() ? "" : domain + ":")
        + opType + ")";
  }

  @Override
  public String toString() {
    return "node " + describe();
  }
}
