package dev.onnxprune.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GraphEditTest {

  /** x[N,3,8,8] -> Conv(w[4,3,3,3], b[4]) -> Relu -> y. */
  static Model tinyConvNet() {
    Graph g = new Graph("tiny");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(3), Dim.of(8), Dim.of(8))));
    float[] w = new float[4 * 3 * 3 * 3];
    for (int i = 0; i < w.length; i++) {
      w[i] = (i % 7) * 0.1f - 0.3f;
    }
    Value wv = g.addInitializer("w", Tensor.ofFloats(new long[] {4, 3, 3, 3}, w));
    Value bv = g.addInitializer("b", Tensor.ofFloats(new long[] {4}, new float[] {0.1f, -0.2f, 0.3f, 0f}));
    Node conv = g.addNode("Conv", "conv", List.of(x, wv, bv), List.of("c"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1}));
    Node relu = g.addNode("Relu", "relu", List.of(conv.output(0)), List.of("y"));
    g.addOutput(relu.output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  @Test
  void replaceInputMovesTheUseFromOldToNewValue() {
    Model m = tinyConvNet();
    Graph g = m.graph();
    Value b = g.value("b");
    Value b2 = g.addInitializer("b2", Tensor.ofFloats(new long[] {4}, new float[4]));
    Node conv = g.nodes().get(0);
    conv.replaceInput(2, b2);
    assertTrue(b.uses().isEmpty());
    assertEquals(List.of(new Use(conv, 2)), b2.uses());
    assertSame(b2, conv.input(2));
    GraphVerifier.verify(m);
  }

  @Test
  void removingANodeWhoseOutputIsUsedIsRefused() {
    Graph g = tinyConvNet().graph();
    GraphException e = assertThrows(GraphException.class, () -> g.removeNode(g.nodes().get(0)));
    assertEquals("cannot remove 'conv' (Conv): its output 'c' is still used by 'relu' (Relu) input 0", e.getMessage());
  }

  @Test
  void removingANodeThatFeedsAGraphOutputIsRefused() {
    Graph g = tinyConvNet().graph();
    GraphException e = assertThrows(GraphException.class, () -> g.removeNode(g.nodes().get(1)));
    assertEquals("cannot remove 'relu' (Relu): its output 'y' is a graph output", e.getMessage());
  }

  @Test
  void removingAUsedInitializerIsRefused() {
    Graph g = tinyConvNet().graph();
    GraphException e = assertThrows(GraphException.class, () -> g.removeInitializer(g.value("w")));
    assertEquals("cannot remove initializer 'w': it is still used by 'conv' (Conv) input 1", e.getMessage());
  }

  @Test
  void replaceAllUsesWithThenDeadCodeRemovalDropsTheBypassedNode() {
    Model m = tinyConvNet();
    Graph g = m.graph();
    Node relu = g.nodes().get(1);
    // Bypass the conv: relu reads x directly.
    relu.input(0).replaceAllUsesWith(g.value("x"));
    assertEquals(1, g.removeDeadCode());
    assertEquals(1, g.nodes().size());
    assertNull(g.value("w"), "unused initializers are removed with their node");
    GraphVerifier.verify(m);
  }

  @Test
  void duplicateValueNamesAreRefused() {
    Graph g = tinyConvNet().graph();
    GraphException e = assertThrows(GraphException.class,
        () -> g.addInitializer("w", Tensor.ofFloats(new long[] {1}, new float[1])));
    assertEquals("value 'w' is already defined in graph 'tiny'", e.getMessage());
    assertEquals("w_1", g.uniqueName("w"));
  }

  @Test
  void sortTopologicallyFixesANodeInsertedOutOfOrder() {
    Model m = tinyConvNet();
    Graph g = m.graph();
    Node relu = g.nodes().get(1);
    // Insert a node at the front that reads the conv output: out of order until sorted.
    Node neg = g.insertNode(0, "Neg", "", "neg", List.of(g.value("c")), List.of("n"));
    g.addOutput(neg.output(0));
    assertFalse(GraphVerifier.check(m).isEmpty());
    assertTrue(GraphVerifier.check(m).get(0).contains("reads 'c' before it is computed"), GraphVerifier.check(m).toString());
    g.sortTopologically();
    // Kahn's order, ties broken by original position: neg (first in the list) follows conv at once.
    assertEquals(List.of("conv", "neg", "relu"), g.nodes().stream().map(Node::name).toList());
    assertSame(relu, g.nodes().get(2));
    GraphVerifier.verify(m);
  }

  @Test
  void verifierReportsConvChannelMismatch() {
    Model m = tinyConvNet();
    Graph g = m.graph();
    g.value("w").setInitializer(Tensor.ofFloats(new long[] {4, 2, 3, 3}, new float[72]));
    List<String> problems = GraphVerifier.check(m);
    assertEquals(List.of("'conv' (Conv): input has 3 channels but weight 'w' [4, 2, 3, 3] with group 1 expects 2"),
        problems);
  }

  @Test
  void verifierReportsBiasLengthMismatch() {
    Model m = tinyConvNet();
    m.graph().value("b").setInitializer(Tensor.ofFloats(new long[] {3}, new float[3]));
    assertEquals(List.of("'conv' (Conv): bias 'b' [3] does not match 4 output channels"), GraphVerifier.check(m));
  }

  @Test
  void builtModelWritesAndReadsBack(@TempDir Path dir) throws Exception {
    Model m = tinyConvNet();
    Path f = dir.resolve("tiny.onnx");
    OnnxModels.write(m, f);
    Model back = OnnxModels.read(f);
    assertEquals(2, back.graph().nodes().size());
    assertEquals("Conv", back.graph().nodes().get(0).opType());
    assertEquals(List.of(3L, 3L), java.util.Arrays.stream(back.graph().nodes().get(0).attrLongs("kernel_shape"))
        .boxed().toList());
    assertEquals(0.1f, back.graph().value("b").initializer().toFloatArray()[0]);
    assertEquals("N", back.graph().inputs().get(0).shape().dim(0).param());
    GraphVerifier.verify(back);
    // Writing leaves no temporary files behind.
    try (var files = Files.list(dir)) {
      assertEquals(List.of(f), files.toList());
    }
  }

  @Test
  void editedInitializerIsWrittenAndUneditedOnesKeepTheirBytes(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("a.onnx");
    OnnxModels.write(tinyConvNet(), f);
    Model m = OnnxModels.read(f);
    m.graph().value("b").setInitializer(Tensor.ofFloats(new long[] {4}, new float[] {1, 2, 3, 4}));
    Path f2 = dir.resolve("b.onnx");
    OnnxModels.write(m, f2);
    Model back = OnnxModels.read(f2);
    assertEquals(4f, back.graph().value("b").initializer().toFloatArray()[3]);
    assertEquals(m.graph().value("w").initializer().rawBytes(), back.graph().value("w").initializer().rawBytes());
  }
}
