package dev.onnxprune.graph.serde;

import static dev.onnxprune.graph.serde.Protos.floatInfo;
import static dev.onnxprune.graph.serde.Protos.node;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.conformance.OrtRunner;
import dev.onnxprune.graph.conformance.OrtRunner.NotComparableException;
import dev.onnxprune.graph.conformance.TensorProtos;
import dev.onnxprune.graph.conformance.TensorProtos.Decoded;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** If/Loop bodies, with values read from the enclosing graph, round-trip and stay edges, not names. */
class SubgraphRoundTripTest {
  private static final Path CORPUS = Path.of("/usr/share/libonnx-testdata/data/node");

  @TempDir
  Path dir;

  private static Decoded floats(long[] dims, float... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return new Decoded(TensorProto.DataType.FLOAT_VALUE, dims, b, null);
  }

  private static Decoded scalar(int dataType, byte[] littleEndian) {
    return new Decoded(dataType, new long[0], ByteBuffer.wrap(littleEndian), null);
  }

  private static List<Decoded> run(Path model, Map<String, Decoded> inputs, List<String> outputs)
      throws OrtException, NotComparableException {
    try (OrtRunner ort = OrtRunner.open(model)) {
      return ort.run(inputs, outputs);
    }
  }

  /** main: h = Abs(x); y = If(c) then Relu(h) else Neg(h); both branches read the outer h. */
  private static ModelProto ifReadingAnOuterValue() {
    GraphProto thenBranch = GraphProto.newBuilder().setName("then")
        .addNode(node("Relu", "then_relu", List.of("h"), List.of("t")))
        .addOutput(floatInfo("t", 3)).build();
    GraphProto elseBranch = GraphProto.newBuilder().setName("else")
        .addNode(node("Neg", "else_neg", List.of("h"), List.of("e")))
        .addOutput(floatInfo("e", 3)).build();
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 3))
        .addInput(Protos.tensorInfo("c", TensorProto.DataType.BOOL_VALUE))
        .addNode(node("Abs", "abs", List.of("x"), List.of("h")))
        .addNode(node("If", "if", List.of("c"), List.of("y"),
            AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(thenBranch).build(),
            AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(elseBranch).build()))
        .addOutput(floatInfo("y", 3)).build();
    return Protos.model(g, 13);
  }

  @Test
  void outerValueReadInBothBranchesIsOneValueWithUsesInsideTheBranches() throws IOException {
    Model m = OnnxModels.read(Protos.write(dir.resolve("if.onnx"), ifReadingAnOuterValue()));
    Graph main = m.graph();
    Value h = main.value("h");
    Node ifNode = main.nodes().get(1);

    List<String> consumers = new ArrayList<>();
    h.consumers().forEach(n -> consumers.add(n.name() + " in " + n.graph().name()));
    assertEquals(List.of("then_relu in then", "else_neg in else"), consumers);
    assertSame(ifNode, ifNode.subgraphs().get(0).parent());
    GraphException e = assertThrows(GraphException.class, () -> main.removeNode(main.nodes().get(0)));
    assertEquals("cannot remove 'abs' (Abs): its output 'h' is still used by 'then_relu' (Relu) input 0", e.getMessage());
    Protos.assertRoundTripsExactly(ifReadingAnOuterValue(), dir);
  }

  @Test
  void renamingAnOuterValueRenamesItsReadsInsideTheBranches() throws IOException, OrtException,
      NotComparableException {
    Path original = Protos.write(dir.resolve("if.onnx"), ifReadingAnOuterValue());
    Model m = OnnxModels.read(original);
    m.graph().value("h").rename("abs_of_x");
    Path renamed = dir.resolve("renamed.onnx");
    OnnxModels.write(m, renamed);

    GraphProto written = Protos.parse(renamed).getGraph();
    assertEquals(List.of("abs_of_x"), written.getNode(0).getOutputList());
    for (AttributeProto branch : written.getNode(1).getAttributeList()) {
      assertEquals(List.of("abs_of_x"), branch.getG().getNode(0).getInputList(), branch.getName());
    }
    for (byte c : new byte[] {0, 1}) {
      Map<String, Decoded> in = new LinkedHashMap<>();
      in.put("x", floats(new long[] {3}, -1f, 2f, -3f));
      in.put("c", scalar(TensorProto.DataType.BOOL_VALUE, new byte[] {c}));
      Decoded want = floats(new long[] {3}, c == 1 ? new float[] {1f, 2f, 3f} : new float[] {-1f, -2f, -3f});
      assertNull(TensorProtos.compare(want, run(original, in, List.of("y")).get(0), 0, 0));
      assertNull(TensorProtos.compare(want, run(renamed, in, List.of("y")).get(0), 0, 0));
    }
  }

  @Test
  void corpusIfRoundTripsExactly() throws IOException {
    Path f = CORPUS.resolve("test_if/model.onnx");
    assumeTrue(Files.isRegularFile(f), f + " absent (install libonnx-testdata)");
    Protos.assertRoundTripsExactly(Protos.parse(f), dir);
  }

  /**
   * test_loop11 with its body's constant {@code x} moved to the main graph as an initializer, so
   * the body's Slice reads an outer-scope value; written by us, ORT computes the same outputs.
   */
  @Test
  void loopBodyReadingAnOuterInitializerRoundTripsAndRuns() throws IOException, OrtException,
      NotComparableException {
    Path f = CORPUS.resolve("test_loop11/model.onnx");
    assumeTrue(Files.isRegularFile(f), f + " absent (install libonnx-testdata)");
    ModelProto.Builder mb = Protos.parse(f).toBuilder();
    GraphProto.Builder body = mb.getGraphBuilder().getNodeBuilder(0).getAttributeBuilder(0).getGBuilder();
    int constant = -1;
    for (int i = 0; i < body.getNodeCount(); i++) {
      if (body.getNode(i).getOutput(0).equals("x")) {
        constant = i;
      }
    }
    NodeProto xNode = body.getNode(constant);
    body.removeNode(constant);
    mb.getGraphBuilder().addInitializer(xNode.getAttribute(0).getT().toBuilder().setName("x"));
    ModelProto outerRef = mb.build();
    Path original = Protos.write(dir.resolve("loop.onnx"), outerRef);

    Model m = OnnxModels.read(original);
    Value x = m.graph().value("x");
    assertEquals("loop_body", x.consumers().get(0).graph().name());
    Protos.assertRoundTripsExactly(outerRef, dir);

    x.rename("outer_x");
    Path renamed = dir.resolve("renamed.onnx");
    OnnxModels.write(m, renamed);
    Path data = f.resolveSibling("test_data_set_0");
    Map<String, Decoded> in = new LinkedHashMap<>();
    List<String> inputNames = List.of("trip_count", "cond", "y");
    for (int i = 0; i < inputNames.size(); i++) {
      in.put(inputNames.get(i), TensorProtos.decode(TensorProto.parseFrom(
          Files.readAllBytes(data.resolve("input_" + i + ".pb")))));
    }
    List<String> outs = List.of("res_y", "res_scan");
    List<Decoded> want = run(original, in, outs);
    List<Decoded> got = run(renamed, in, outs);
    for (int i = 0; i < outs.size(); i++) {
      assertNull(TensorProtos.compare(want.get(i), got.get(i), 0, 0), outs.get(i));
    }
    Decoded expectedY = TensorProtos.decode(TensorProto.parseFrom(Files.readAllBytes(data.resolve("output_0.pb"))));
    assertNull(TensorProtos.compare(expectedY, got.get(0), 1e-6, 0));
  }
}
