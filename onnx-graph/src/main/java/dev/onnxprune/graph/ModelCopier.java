package dev.onnxprune.graph;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Model#copy()}: a deep copy of the IR that shares the immutable parts (tensors,
 * types, serde's protobuf messages) and rebuilds the mutable ones.
 *
 * <ol>
 *   <li>every graph of the model (subgraphs by identity, so a graph held twice is copied once)
 *       gets a new graph with a new value for every value it defines;
 *   <li>every node gets a new node holding the new values as outputs;
 *   <li>node inputs, attributes (subgraphs replaced by their copies), graph inputs, outputs,
 *       initializers, value_info and serde's records of what was read are filled in with the
 *       new values;
 *   <li>uses are rebuilt from the original's use lists, in their order; a use by a node that is
 *       no longer in the model (a node of a subgraph replaced by {@link Node#setAttribute}) is
 *       left out, so no node of the original is reachable from the copy.
 * </ol>
 */
final class ModelCopier {
  private final Map<Graph, Graph> graphs = new IdentityHashMap<>();
  private final Map<Node, Node> nodes = new IdentityHashMap<>();
  private final Map<Value, Value> values = new IdentityHashMap<>();

  private ModelCopier() {}

  static Model copy(Model m) {
    return new ModelCopier().copyModel(m);
  }

  private Model copyModel(Model m) {
    Graph main = m.graph();
    Model c = new Model(main == null ? null : copyStructure(main));
    c.setSource(m.source());
    c.setIrVersion(m.irVersion());
    c.opsets().addAll(m.opsets());
    c.setProducerName(m.producerName());
    c.setProducerVersion(m.producerVersion());
    c.setDomain(m.domain());
    c.setModelVersion(m.modelVersion());
    c.setDocString(m.docString());
    c.metadata().putAll(m.metadata());
    // protobuf messages and the List.copyOf of opsetsRead are immutable: shared
    c.protoRest = m.protoRest;
    c.opsetOrigin = m.opsetOrigin;
    c.opsetsRead = m.opsetsRead;
    c.metadataOrigin = m.metadataOrigin;
    c.metadataRead = m.metadataRead == null ? null : new LinkedHashMap<>(m.metadataRead);
    return c;
  }

  /** Steps 1-4 of the class comment for {@code main} and every graph below it; returns main's copy. */
  private Graph copyStructure(Graph main) {
    List<Graph> originals = new ArrayList<>();
    for (Graph g : main.allGraphs()) {
      if (!graphs.containsKey(g)) {
        graphs.put(g, defineValues(g));
        originals.add(g);
      }
    }
    for (Graph g : originals) {
      createNodes(g, graphs.get(g));
    }
    for (Graph g : originals) {
      fill(g, graphs.get(g));
    }
    for (Map.Entry<Value, Value> e : values.entrySet()) {
      for (Use u : e.getKey().uses()) {
        Node user = nodes.get(u.node());
        if (user != null) {
          e.getValue().addUse(user, u.index());
        }
      }
    }
    return graphs.get(main);
  }

  private Graph defineValues(Graph g) {
    Graph c = new Graph(g.name());
    c.setDocString(g.docString());
    for (Value v : g.values()) {
      Value cv = c.defineValue(v.name());
      copyFields(v, cv);
      values.put(v, cv);
    }
    return c;
  }

  private void createNodes(Graph g, Graph c) {
    for (Node n : g.nodes()) {
      Node cn = c.newParsedNode(n.name(), n.opType(), n.domain());
      cn.domainPresent = n.domainPresent;
      cn.setDocString(n.docString());
      cn.protoRest = n.protoRest;
      for (Value out : n.outputs()) {
        cn.attachOutput(value(out, c));
      }
      c.appendParsedNode(cn);
      nodes.put(n, cn);
    }
  }

  private void fill(Graph g, Graph c) {
    for (Node n : g.nodes()) {
      Node cn = nodes.get(n);
      for (Value in : n.inputs()) {
        cn.appendInputEdge(value(in, c));
      }
      for (Attribute a : n.attributes()) {
        cn.setAttribute(copy(a));
      }
    }
    if (g.parent() != null && nodes.containsKey(g.parent())) {
      c.setParent(nodes.get(g.parent())); // as the original has it, also for a graph held by two attributes
    }
    g.inputs().forEach(v -> c.addInputValue(value(v, c)));
    g.initializers().forEach(v -> c.addInitializerValue(value(v, c)));
    g.sparseInitializers().forEach(v -> c.addSparseInitializerValue(value(v, c)));
    g.valueInfos().forEach(v -> c.addValueInfo(value(v, c)));
    g.outputs().forEach(v -> c.addOutputValue(value(v, c)));
    c.protoRest = g.protoRest;
    c.declarationsRead = copy((ProtoReader.Declarations) g.declarationsRead, c);
  }

  private ProtoReader.Declarations copy(ProtoReader.Declarations d, Graph c) {
    if (d == null) {
      return null;
    }
    Map<Value, ProtoReader.InfoRead> infoRead = new IdentityHashMap<>();
    d.infoRead().forEach((v, info) -> infoRead.put(value(v, c), info));
    return new ProtoReader.Declarations(copy(d.inputs(), c), copy(d.outputs(), c), copy(d.valueInfos(), c), infoRead);
  }

  private List<ProtoReader.Declared> copy(List<ProtoReader.Declared> read, Graph c) {
    List<ProtoReader.Declared> out = new ArrayList<>(read.size());
    for (ProtoReader.Declared d : read) {
      out.add(new ProtoReader.Declared(d.proto(), value(d.value(), c), d.repeat()));
    }
    return out;
  }

  private Attribute copy(Attribute a) {
    Object v = a.value();
    Object copied = switch (a.type()) {
      case GRAPH -> graphs.get((Graph) v);
      case GRAPHS -> a.asGraphs().stream().map(graphs::get).toList();
      // value() hands out the arrays themselves
      case FLOATS -> ((float[]) v).clone();
      case INTS -> ((long[]) v).clone();
      default -> v; // boxed numbers, ByteStrings, tensors and immutable lists
    };
    return new Attribute(a.name(), a.type(), copied, a.protoOrigin);
  }

  /**
   * The copy of {@code v}. A value that no copied graph defines any more (a removed value that
   * serde's records still name) gets a copy of its own in no graph's scope, so the records keep
   * telling it apart from every live value, as they do in the original.
   */
  private Value value(Value v, Graph home) {
    if (v == null) {
      return null;
    }
    Value c = values.get(v);
    if (c == null) {
      c = new Value(graphs.getOrDefault(v.graph, home), v.name());
      copyFields(v, c);
      values.put(v, c);
    }
    return c;
  }

  /** Everything of a value but its graph, producer and uses. Tensors and types are immutable: shared. */
  private static void copyFields(Value from, Value to) {
    to.setType(from.type());
    to.setDocString(from.docString());
    to.initializerInternal(from.initializer());
    to.infoRest = from.infoRest;
    to.typeOrigin = from.typeOrigin;
    to.typeRead = from.typeRead;
    to.sparseInitializer = from.sparseInitializer;
  }
}
