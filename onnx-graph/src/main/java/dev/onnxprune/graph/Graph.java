package dev.onnxprune.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A graph: ordered nodes, inputs, outputs and initializers, and the values they define. A
 * subgraph (If branch, Loop/Scan body) has a parent node and sees the values of enclosing
 * graphs. Edits that would leave a dangling edge are refused.
 */
public final class Graph {
  private String name;
  private String docString;
  private final List<Node> nodes = new ArrayList<>();
  private final List<Value> inputs = new ArrayList<>();
  private final List<Value> outputs = new ArrayList<>();
  private final List<Value> initializers = new ArrayList<>();
  private final List<Value> valueInfos = new ArrayList<>();
  /** The members of {@link #valueInfos}: constant-time membership (shape inference records every value). */
  private final Set<Value> valueInfoSet = Collections.newSetFromMap(new IdentityHashMap<>());
  private final List<Value> sparseInitializers = new ArrayList<>();
  private final Map<String, Value> values = new HashMap<>();
  private Node parent;
  /** The model whose main graph this is (set by {@link Model}), for the file errors name; null for subgraphs. */
  Model model;
  /** Serde: the GraphProto less the fields modeled here (annotations, metadata, unknown fields). */
  Object protoRest;
  /**
   * Serde: the input, output and value_info entries as read, each with the value it declares, so
   * a value declared more than once (an input also in value_info, a subgraph output naming an
   * outer value) gets every declaration back unchanged.
   */
  Object declarationsRead;

  public Graph(String name) {
    this.name = name;
  }

  public String name() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public String docString() {
    return docString;
  }

  public void setDocString(String docString) {
    this.docString = docString;
  }

  /** The node whose attribute holds this subgraph, or null for a main graph. */
  public Node parent() {
    return parent;
  }

  void setParent(Node node) {
    this.parent = node;
  }

  /** The file of the model this graph belongs to (through enclosing graphs), or null when it was not read from one. */
  public java.nio.file.Path sourceFile() {
    Graph g = this;
    while (g.parent != null) {
      g = g.parent.graph;
    }
    return g.model == null || g.model.graph() != g ? null : g.model.source();
  }

  public List<Node> nodes() {
    return Collections.unmodifiableList(nodes);
  }

  public List<Value> inputs() {
    return Collections.unmodifiableList(inputs);
  }

  /** Graph inputs that are not also initializers (the inputs a caller must feed). */
  public List<Value> runtimeInputs() {
    List<Value> out = new ArrayList<>();
    for (Value v : inputs) {
      if (!v.isInitializer()) {
        out.add(v);
      }
    }
    return out;
  }

  public List<Value> outputs() {
    return Collections.unmodifiableList(outputs);
  }

  public List<Value> initializers() {
    return Collections.unmodifiableList(initializers);
  }

  public List<Value> sparseInitializers() {
    return Collections.unmodifiableList(sparseInitializers);
  }

  /** Values that carry a value_info entry in the file, in file order. */
  public List<Value> valueInfos() {
    return Collections.unmodifiableList(valueInfos);
  }

  /** Value defined in this graph (not enclosing scopes) by name, or null. */
  public Value value(String valueName) {
    return values.get(valueName);
  }

  /** Value visible from this graph (this scope first, then enclosing graphs), or null. */
  public Value lookup(String valueName) {
    for (Graph g = this; g != null; g = g.parent == null ? null : g.parent.graph) {
      Value v = g.values.get(valueName);
      if (v != null) {
        return v;
      }
    }
    return null;
  }

  /** Every value defined in this graph (inputs, initializers, node outputs). */
  public java.util.Collection<Value> values() {
    return Collections.unmodifiableCollection(values.values());
  }

  /** A name not used by any value of this graph or an enclosing one, starting from {@code base}. */
  public String uniqueName(String base) {
    if (lookup(base) == null) {
      return base;
    }
    for (int i = 1; ; i++) {
      String n = base + "_" + i;
      if (lookup(n) == null) {
        return n;
      }
    }
  }

  /** A node name not used by any node of this graph, starting from {@code base}. */
  public String uniqueNodeName(String base) {
    java.util.Set<String> names = new java.util.HashSet<>();
    for (Node n : nodes) {
      if (n.name() != null) {
        names.add(n.name());
      }
    }
    if (!names.contains(base)) {
      return base;
    }
    for (int i = 1; ; i++) {
      String n = base + "_" + i;
      if (!names.contains(n)) {
        return n;
      }
    }
  }

  Value defineValue(String valueName) {
    if (valueName == null || valueName.isEmpty()) {
      throw new GraphException("a value needs a non-empty name in graph '" + name + "'");
    }
    if (values.containsKey(valueName)) {
      throw new GraphException("value '" + valueName + "' is already defined in graph '" + name + "'");
    }
    Value v = new Value(this, valueName);
    values.put(valueName, v);
    return v;
  }

  void renameValue(Value v, String newName) {
    if (v.graph != this) {
      throw new GraphException("value '" + v.name() + "' does not belong to graph '" + name + "'");
    }
    if (values.containsKey(newName)) {
      throw new GraphException("cannot rename '" + v.name() + "': value '" + newName + "' already exists");
    }
    values.remove(v.name());
    v.setNameInternal(newName);
    values.put(newName, v);
  }

  /** Refuses an edge from a value that the node's graph cannot see. */
  void checkVisible(Value value, Node user) {
    if (lookup(value.name()) != value) {
      throw new GraphException("value '" + value.name() + "' is not visible from " + user.describe()
          + " in graph '" + name + "'");
    }
  }

  /** Adds a graph input of the given type. */
  public Value addInput(String valueName, ValueType type) {
    Value v = defineValue(valueName);
    v.setType(type);
    inputs.add(v);
    return v;
  }

  void addInputValue(Value v) {
    inputs.add(v);
  }

  /** Adds an initializer (a named constant). */
  public Value addInitializer(String valueName, Tensor tensor) {
    Value v = defineValue(valueName);
    v.initializerInternal(tensor);
    v.setType(new ValueType.TensorType(tensor.dataType(), tensor.shape()));
    initializers.add(v);
    return v;
  }

  void addInitializerValue(Value v) {
    initializers.add(v);
  }

  void addSparseInitializerValue(Value v) {
    sparseInitializers.add(v);
  }

  void addValueInfo(Value v) {
    valueInfos.add(v);
    valueInfoSet.add(v);
  }

  private void removeValueInfo(Value v) {
    if (valueInfoSet.remove(v)) {
      valueInfos.remove(v);
    }
  }

  /** Records a value_info entry for {@code v} (so its type is written to the file). */
  public void recordValueInfo(Value v) {
    if (!valueInfoSet.contains(v) && !inputs.contains(v) && !outputs.contains(v)) {
      addValueInfo(v);
    }
  }

  /** Appends {@code v} to the graph outputs. */
  public void addOutput(Value v) {
    checkVisibleFromGraph(v);
    outputs.add(v);
  }

  /** Appends a graph output as it is ({@link ModelCopier}: the original's outputs were checked when added). */
  void addOutputValue(Value v) {
    outputs.add(v);
  }

  /** Replaces graph output {@code i}. */
  public void setOutput(int i, Value v) {
    checkVisibleFromGraph(v);
    outputs.set(i, v);
  }

  public void removeOutput(int i) {
    outputs.remove(i);
  }

  private void checkVisibleFromGraph(Value v) {
    if (lookup(v.name()) != v) {
      throw new GraphException("value '" + v.name() + "' is not visible in graph '" + name + "'");
    }
  }

  /** Creates a node at the end of the node list. */
  public Node addNode(String opType, String nodeName, List<Value> nodeInputs, List<String> outputNames,
      Attribute... attrs) {
    return insertNode(nodes.size(), opType, "", nodeName, nodeInputs, outputNames, attrs);
  }

  /** Creates a node just before {@code anchor} (keeps topological order when inputs precede anchor). */
  public Node addNodeBefore(Node anchor, String opType, String nodeName, List<Value> nodeInputs,
      List<String> outputNames, Attribute... attrs) {
    return insertNode(indexOf(anchor), opType, "", nodeName, nodeInputs, outputNames, attrs);
  }

  /** Creates a node just after {@code anchor}. */
  public Node addNodeAfter(Node anchor, String opType, String nodeName, List<Value> nodeInputs,
      List<String> outputNames, Attribute... attrs) {
    return insertNode(indexOf(anchor) + 1, opType, "", nodeName, nodeInputs, outputNames, attrs);
  }

  /** Creates a node at {@code position} in the node list, in {@code domain} ("" default). */
  public Node insertNode(int position, String opType, String domain, String nodeName, List<Value> nodeInputs,
      List<String> outputNames, Attribute... attrs) {
    Node n = new Node(this, nodeName, opType, domain == null || domain.isEmpty() ? null : domain);
    for (Value in : nodeInputs) {
      n.addInput(in);
    }
    for (String out : outputNames) {
      if (out == null || out.isEmpty()) {
        n.attachOutput(null);
      } else {
        n.attachOutput(defineValue(out));
      }
    }
    for (Attribute a : attrs) {
      n.setAttribute(a);
    }
    nodes.add(position, n);
    return n;
  }

  void appendParsedNode(Node n) {
    nodes.add(n);
  }

  Node newParsedNode(String nodeName, String opType, String domain) {
    return new Node(this, nodeName, opType, domain);
  }

  /** Position of {@code node} in the node list. */
  public int indexOf(Node node) {
    for (int i = 0; i < nodes.size(); i++) {
      if (nodes.get(i) == node) {
        return i;
      }
    }
    throw new GraphException(node.describe() + " is not in graph '" + name + "'");
  }

  /**
   * Removes a node whose outputs are unused.
   *
   * @throws GraphException when an output still has uses or is a graph output
   */
  public void removeNode(Node node) {
    for (Value out : node.outputs()) {
      if (out == null) {
        continue;
      }
      if (!out.uses().isEmpty()) {
        throw new GraphException("cannot remove " + node.describe() + ": its output '" + out.name()
            + "' is still used by " + out.uses().get(0));
      }
      if (outputs.contains(out)) {
        throw new GraphException("cannot remove " + node.describe() + ": its output '" + out.name()
            + "' is a graph output");
      }
    }
    int idx = indexOf(node);
    node.detachAll();
    for (Value out : node.outputs()) {
      if (out != null) {
        values.remove(out.name());
        removeValueInfo(out);
      }
    }
    nodes.remove(idx);
  }

  /**
   * Removes an unused initializer.
   *
   * @throws GraphException when it is still used or is a graph output
   */
  public void removeInitializer(Value v) {
    if (!v.isInitializer() || v.graph != this) {
      throw new GraphException("'" + v.name() + "' is not an initializer of graph '" + name + "'");
    }
    if (!v.uses().isEmpty() || outputs.contains(v)) {
      throw new GraphException("cannot remove initializer '" + v.name() + "': it is still used by "
          + (v.uses().isEmpty() ? "the graph outputs" : v.uses().get(0).toString()));
    }
    initializers.remove(v);
    inputs.remove(v);
    removeValueInfo(v);
    values.remove(v.name());
  }

  /** Removes a graph input that nothing uses. */
  public void removeInput(Value v) {
    if (!v.uses().isEmpty() || outputs.contains(v)) {
      throw new GraphException("cannot remove input '" + v.name() + "': it is still used");
    }
    inputs.remove(v);
    if (!v.isInitializer()) {
      values.remove(v.name());
      removeValueInfo(v);
    }
  }

  /**
   * Removes nodes and initializers that no graph output depends on (nodes with subgraphs and
   * ops outside the default domain count as used only through their outputs). Returns how many
   * nodes were removed.
   */
  public int removeDeadCode() {
    int removed = 0;
    boolean changed = true;
    while (changed) {
      changed = false;
      for (int i = nodes.size() - 1; i >= 0; i--) {
        Node n = nodes.get(i);
        boolean live = false;
        for (Value out : n.outputs()) {
          if (out != null && (!out.uses().isEmpty() || outputs.contains(out))) {
            live = true;
            break;
          }
        }
        if (!live) {
          removeNode(n);
          removed++;
          changed = true;
        }
      }
    }
    for (Value init : new ArrayList<>(initializers)) {
      if (init.uses().isEmpty() && !outputs.contains(init) && !inputs.contains(init)) {
        removeInitializer(init);
      }
    }
    return removed;
  }

  /**
   * Reorders nodes so each comes after the producers of its inputs (stable: already-ordered
   * graphs keep their order). Values from enclosing scopes count as available.
   *
   * @throws GraphException when the graph has a cycle
   */
  public void sortTopologically() {
    Map<Node, Integer> pending = new IdentityHashMap<>();
    Map<Node, List<Node>> dependents = new IdentityHashMap<>();
    for (Node n : nodes) {
      Set<Node> deps = new LinkedHashSet<>();
      collectProducers(n, deps);
      int count = 0;
      for (Node d : deps) {
        if (d.graph == this && d != n) {
          dependents.computeIfAbsent(d, k -> new ArrayList<>()).add(n);
          count++;
        }
      }
      pending.put(n, count);
    }
    List<Node> order = new ArrayList<>(nodes.size());
    // Walk in the original order, releasing dependents as producers are placed.
    java.util.PriorityQueue<int[]> queue = new java.util.PriorityQueue<>((a, b) -> Integer.compare(a[0], b[0]));
    Map<Node, Integer> position = new IdentityHashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      position.put(nodes.get(i), i);
      if (pending.get(nodes.get(i)) == 0) {
        queue.add(new int[] {i});
      }
    }
    while (!queue.isEmpty()) {
      Node n = nodes.get(queue.poll()[0]);
      order.add(n);
      for (Node d : dependents.getOrDefault(n, List.of())) {
        int left = pending.merge(d, -1, Integer::sum);
        if (left == 0) {
          queue.add(new int[] {position.get(d)});
        }
      }
    }
    if (order.size() != nodes.size()) {
      for (Node n : nodes) {
        if (pending.get(n) > 0) {
          throw new GraphException("graph '" + name + "' has a cycle through " + n.describe());
        }
      }
    }
    nodes.clear();
    nodes.addAll(order);
  }

  /** Producers (in any graph) of the inputs of {@code n} and of values its subgraphs read from outside. */
  private void collectProducers(Node n, Set<Node> out) {
    for (Value in : n.inputs()) {
      if (in != null && in.producer() != null) {
        out.add(in.producer());
      }
    }
    for (Graph sub : n.subgraphs()) {
      for (Node inner : sub.nodes) {
        Set<Node> innerDeps = new LinkedHashSet<>();
        sub.collectProducers(inner, innerDeps);
        for (Node d : innerDeps) {
          if (d.graph != sub) {
            out.add(d);
          }
        }
      }
    }
  }

  /** This graph and every subgraph below it, depth first. */
  public List<Graph> allGraphs() {
    List<Graph> out = new ArrayList<>();
    out.add(this);
    for (Node n : nodes) {
      for (Graph g : n.subgraphs()) {
        out.addAll(g.allGraphs());
      }
    }
    return out;
  }

  @Override
  public String toString() {
    return "graph '" + name + "' (" + nodes.size() + " nodes)";
  }
}
