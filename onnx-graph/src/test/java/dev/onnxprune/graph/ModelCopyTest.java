package dev.onnxprune.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.conformance.Corpus;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Model#copy()}: lossless, independent of the original both ways, and sharing no node or value with it. */
class ModelCopyTest {

  @Test
  void everyCorpusModelsCopyWritesTheOriginalsBytesAndHoldsOnlyItsOwnNodesAndValues() throws IOException {
    List<Path> models = Corpus.models();
    List<String> failures = new ArrayList<>();
    for (Path file : models) {
      try {
        Model m = OnnxModels.read(file);
        Model c = m.copy();
        if (!Arrays.equals(OnnxModels.toBytes(m), OnnxModels.toBytes(c))) {
          failures.add(Corpus.caseName(file) + ": the copy writes other bytes");
          continue;
        }
        assertOwnsItsIr(m, c);
        assertSameUses(m, c);
        assertEquals(GraphVerifier.check(m), GraphVerifier.check(c));
      } catch (IOException | RuntimeException | AssertionError e) {
        failures.add(Corpus.caseName(file) + ": " + e);
      }
    }
    assertEquals(List.of(), failures.subList(0, Math.min(20, failures.size())),
        failures.size() + " of " + models.size() + " corpus models fail; the first 20");
  }

  @Test
  void everyBundledFixturesCopyWritesTheOriginalsBytesAndVerifies() throws IOException {
    for (String name : TestModels.modelFiles()) {
      Model m = OnnxModels.read(TestModels.model(name));
      Model c = m.copy();
      assertArrayEquals(OnnxModels.toBytes(m), OnnxModels.toBytes(c), name);
      GraphVerifier.verify(c);
      assertOwnsItsIr(m, c);
      assertSameUses(m, c);
    }
  }

  @Test
  void copySharesTheTensorsAndKeepsTheSourcePath() throws IOException {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    Model c = m.copy();
    assertEquals(m.source(), c.source());
    assertFalse(m.graph().initializers().isEmpty());
    for (Value w : m.graph().initializers()) {
      Value cw = c.graph().value(w.name());
      assertNotSame(w, cw);
      assertSame(w.initializer(), cw.initializer(), w.name());
    }
  }

  @Test
  void copyOfAnExternalDataModelSharesTheMappedTensorsAndWritesTheSameFiles(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("external/model.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("resnet20.onnx")), file, WriteOptions.withExternalData());
    Model m = OnnxModels.read(file);
    Model c = m.copy();
    Value w = c.graph().initializers().stream().max(Comparator.comparingLong(v -> v.initializer().byteSize())).get();
    assertTrue(w.initializer().externalLocation() != null, w.name() + " is read from the data file");
    assertSame(m.graph().value(w.name()).initializer(), w.initializer());
    Map<String, Path> data = new java.util.HashMap<>();
    for (Map.Entry<String, Model> e : Map.of("original", m, "copy", c).entrySet()) {
      data.put(e.getKey(), OnnxModels.write(e.getValue(), dir.resolve(e.getKey()).resolve("out.onnx"),
          WriteOptions.withExternalData()));
    }
    assertArrayEquals(Files.readAllBytes(dir.resolve("original").resolve("out.onnx")),
        Files.readAllBytes(dir.resolve("copy").resolve("out.onnx")), "out.onnx");
    assertEquals(data.get("original").getFileName(), data.get("copy").getFileName(), "the data file is named by its content");
    assertArrayEquals(Files.readAllBytes(data.get("original")), Files.readAllBytes(data.get("copy")), "the data file");
  }

  @Test
  void ifAndLoopBodiesAreCopiedWithTheirReadsOfOuterValues() throws IOException {
    Model built = ifAndLoopReadingAnOuterValue();
    Model read = OnnxModels.read(OnnxModels.toBytes(built), null);
    for (Model m : List.of(built, read)) {
      Model c = m.copy();
      assertArrayEquals(OnnxModels.toBytes(m), OnnxModels.toBytes(c));
      GraphVerifier.verify(c);
      assertOwnsItsIr(m, c);
      assertSameUses(m, c);
      Value h = c.graph().value("h");
      assertEquals(List.of("then_relu in then", "else_neg in else", "accumulate in body"), consumers(h));
      for (Node user : h.consumers()) {
        assertSame(c.graph(), user.graph().parent().graph());
      }

      byte[] original = OnnxModels.toBytes(m);
      h.rename("abs_of_x");
      Graph body = c.graph().nodes().get(2).attribute("body").asGraph();
      body.nodes().get(1).setAttribute(Attribute.of("note", 1L));
      body.value("acc_out").rename("sum");
      assertArrayEquals(original, OnnxModels.toBytes(m), "editing the copy's subgraphs changed the original");
      assertEquals("h", m.graph().nodes().get(0).output(0).name());
    }
  }

  @Test
  void copyLeavesOutUsesByTheNodesOfAReplacedSubgraph() {
    Model m = ifAndLoopReadingAnOuterValue();
    Node ifNode = m.graph().nodes().get(1);
    Graph newThen = new Graph("then2");
    ifNode.setAttribute(Attribute.of("then_branch", newThen));
    Value h = m.graph().value("h");
    newThen.addOutput(newThen.addNode("Sigmoid", "then_sigmoid", List.of(h), List.of("s")).output(0));
    // the replaced branch's Relu still counts as a use in the original
    assertEquals(List.of("then_relu in then", "else_neg in else", "accumulate in body", "then_sigmoid in then2"),
        consumers(h));

    Model c = m.copy();
    assertEquals(List.of("else_neg in else", "accumulate in body", "then_sigmoid in then2"),
        consumers(c.graph().value("h")));
    assertOwnsItsIr(m, c);
    assertArrayEquals(OnnxModels.toBytes(m), OnnxModels.toBytes(c));
    GraphVerifier.verify(c);
  }

  @Test
  void editsOnTheCopyDoNotReachTheOriginal() throws IOException {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    assertEditsStayIn(m.copy(), m);
  }

  @Test
  void editsOnTheOriginalDoNotReachTheCopy() throws IOException {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    assertEditsStayIn(m, m.copy());
  }

  @Test
  void copyOfAnEditedModelWritesWhatTheEditedModelWrites() throws IOException {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    for (Map.Entry<String, Consumer<Model>> edit : EDITS.entrySet()) {
      edit.getValue().accept(m);
      Model c = m.copy();
      assertArrayEquals(OnnxModels.toBytes(m), OnnxModels.toBytes(c), "after " + edit.getKey());
      GraphVerifier.verify(c);
      assertOwnsItsIr(m, c);
      assertSameUses(m, c);
    }
  }

  /** Edits by kind, in order; each finds its target by what it is, so it applies to any CNN fixture. */
  private static final Map<String, Consumer<Model>> EDITS = new LinkedHashMap<>();

  static {
    EDITS.put("set a new initializer", m -> {
      Value w = firstNode(m, "Conv").input(1);
      w.setInitializer(Tensor.ofFloats(w.initializer().dims(), new float[(int) w.initializer().elementCount()]));
    });
    EDITS.put("remove a node", m -> {
      Node relu = firstNode(m, "Relu");
      relu.output(0).replaceAllUsesWith(relu.input(0));
      m.graph().removeNode(relu);
    });
    EDITS.put("rename a value", m -> firstNode(m, "Conv").output(0).rename("renamed_conv_output"));
    EDITS.put("change an attribute", m -> firstNode(m, "Conv").setAttribute(Attribute.of("strides", new long[] {2, 2})));
    EDITS.put("remove an attribute", m -> firstNode(m, "Conv").removeAttribute("pads"));
    EDITS.put("set a value's type and shape and record its value_info", m -> {
      Value v = firstNode(m, "Add").output(0);
      v.setType(new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 2, 3, 4)));
      m.graph().recordValueInfo(v);
    });
    EDITS.put("add a graph output", m -> m.graph().addOutput(firstNode(m, "Add").output(0)));
    EDITS.put("rename a node", m -> firstNode(m, "Conv").setName("renamed_conv"));
    EDITS.put("set doc strings", m -> {
      m.setDocString("model doc");
      m.graph().setDocString("graph doc");
      firstNode(m, "Conv").setDocString("node doc");
      m.graph().inputs().get(0).setDocString("input doc");
    });
    EDITS.put("change the opset imports", m -> m.opsets().add(new OpsetId("com.example", 1)));
    EDITS.put("change the metadata", m -> m.metadata().put("edited", "yes"));
    EDITS.put("rename the graph", m -> m.graph().setName("renamed_graph"));
  }

  /** Applies every edit to {@code edited}: each changes its bytes and none changes {@code other}'s. */
  private static void assertEditsStayIn(Model edited, Model other) {
    byte[] otherBytes = OnnxModels.toBytes(other);
    for (Map.Entry<String, Consumer<Model>> edit : EDITS.entrySet()) {
      byte[] before = OnnxModels.toBytes(edited);
      edit.getValue().accept(edited);
      assertFalse(Arrays.equals(before, OnnxModels.toBytes(edited)), edit.getKey() + " changed nothing");
      assertArrayEquals(otherBytes, OnnxModels.toBytes(other), edit.getKey() + " reached the other model");
    }
    GraphVerifier.verify(edited);
    GraphVerifier.verify(other);
  }

  private static Node firstNode(Model m, String op) {
    for (Node n : m.graph().nodes()) {
      if (n.is(op)) {
        return n;
      }
    }
    throw new AssertionError("no " + op + " in " + m.graph());
  }

  private static List<String> consumers(Value v) {
    List<String> out = new ArrayList<>();
    v.consumers().forEach(n -> out.add(n.name() + " in " + n.graph().name()));
    return out;
  }

  /**
   * main: h = Abs(x); y = If(c) then Relu(h) else Neg(h); z = Loop(m, c, y) with body
   * acc_out = Add(acc, h). Every subgraph reads the outer h.
   */
  private static Model ifAndLoopReadingAnOuterValue() {
    ValueType.TensorType floats = new ValueType.TensorType(DataType.FLOAT, Shape.of(3));
    ValueType.TensorType flag = new ValueType.TensorType(DataType.BOOL, Shape.scalar());
    ValueType.TensorType count = new ValueType.TensorType(DataType.INT64, Shape.scalar());
    Graph g = new Graph("main");
    Value x = g.addInput("x", floats);
    Value c = g.addInput("c", flag);
    Value trips = g.addInput("m", count);
    Value h = g.addNode("Abs", "abs", List.of(x), List.of("h")).output(0);
    Graph thenBranch = new Graph("then");
    Graph elseBranch = new Graph("else");
    Node ifNode = g.addNode("If", "if", List.of(c), List.of("y"), Attribute.of("then_branch", thenBranch),
        Attribute.of("else_branch", elseBranch));
    thenBranch.addOutput(thenBranch.addNode("Relu", "then_relu", List.of(h), List.of("t")).output(0));
    elseBranch.addOutput(elseBranch.addNode("Neg", "else_neg", List.of(h), List.of("e")).output(0));
    Graph body = new Graph("body");
    Node loop = g.addNode("Loop", "loop", List.of(trips, c, ifNode.output(0)), List.of("z"), Attribute.of("body", body));
    body.addInput("i", count);
    Value condIn = body.addInput("cond_in", flag);
    Value acc = body.addInput("acc", floats);
    body.addOutput(body.addNode("Identity", "keep_going", List.of(condIn), List.of("cond_out")).output(0));
    body.addOutput(body.addNode("Add", "accumulate", List.of(acc, h), List.of("acc_out")).output(0));
    g.addOutput(loop.output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  /**
   * No graph, node or value of {@code original} is reachable from {@code copy}: through graph
   * lists, node inputs and outputs, uses, producers, subgraph parents, attributes or serde's
   * records of the declarations read.
   */
  private static void assertOwnsItsIr(Model original, Model copy) {
    Set<Object> theirs = identitySet();
    for (Graph g : original.allGraphs()) {
      theirs.add(g);
      theirs.addAll(g.nodes());
      theirs.addAll(g.values());
    }
    List<Graph> graphs = copy.allGraphs();
    Set<Object> ours = identitySet();
    for (Graph g : graphs) {
      ours.add(g);
      ours.addAll(g.nodes());
    }
    for (Graph g : graphs) {
      assertFalse(theirs.contains(g), g + " is the original's");
      assertTrue(g.parent() == null || ours.contains(g.parent()), g + " hangs under a node not in the copy");
      List<Value> values = new ArrayList<>(g.values());
      values.addAll(g.inputs());
      values.addAll(g.outputs());
      values.addAll(g.initializers());
      values.addAll(g.sparseInitializers());
      values.addAll(g.valueInfos());
      for (Node n : g.nodes()) {
        assertSame(g, n.graph());
        values.addAll(n.inputs());
        values.addAll(n.outputs());
      }
      if (g.declarationsRead instanceof ProtoReader.Declarations d) {
        for (List<ProtoReader.Declared> read : List.of(d.inputs(), d.outputs(), d.valueInfos())) {
          read.forEach(e -> assertFalse(theirs.contains(e.value()), "serde's declaration of " + e.value()));
        }
        d.infoRead().keySet().forEach(v -> assertFalse(theirs.contains(v), "serde's record of " + v));
      }
      for (Value v : values) {
        if (v == null) {
          continue;
        }
        assertFalse(theirs.contains(v), v + " is the original's");
        assertTrue(ours.contains(v.graph()), v + " belongs to a graph not in the copy");
        assertTrue(v.producer() == null || ours.contains(v.producer()), v + " is produced outside the copy");
        for (Use u : v.uses()) {
          assertTrue(ours.contains(u.node()), v + " is used by " + u + " outside the copy");
        }
      }
    }
  }

  /** Every value has the same producer and uses, in order, as its original (nodes compared by position). */
  private static void assertSameUses(Model original, Model copy) {
    List<Graph> theirs = original.allGraphs();
    List<Graph> ours = copy.allGraphs();
    assertEquals(theirs.size(), ours.size());
    Map<Node, String> theirPositions = positions(theirs);
    Map<Node, String> ourPositions = positions(ours);
    for (int i = 0; i < theirs.size(); i++) {
      for (Value v : theirs.get(i).values()) {
        Value cv = ours.get(i).value(v.name());
        assertEquals(theirPositions.get(v.producer()), ourPositions.get(cv.producer()), v.name());
        assertEquals(v.producerIndex(), cv.producerIndex(), v.name());
        List<String> want = new ArrayList<>();
        v.uses().forEach(u -> want.add(theirPositions.get(u.node()) + "#" + u.index()));
        List<String> got = new ArrayList<>();
        cv.uses().forEach(u -> got.add(ourPositions.get(u.node()) + "#" + u.index()));
        assertEquals(want, got, "uses of " + v.name());
      }
    }
  }

  private static Map<Node, String> positions(List<Graph> graphs) {
    Map<Node, String> out = new IdentityHashMap<>();
    for (int g = 0; g < graphs.size(); g++) {
      List<Node> nodes = graphs.get(g).nodes();
      for (int n = 0; n < nodes.size(); n++) {
        out.put(nodes.get(n), g + "/" + n);
      }
    }
    return out;
  }

  private static Set<Object> identitySet() {
    return Collections.newSetFromMap(new IdentityHashMap<>());
  }
}
