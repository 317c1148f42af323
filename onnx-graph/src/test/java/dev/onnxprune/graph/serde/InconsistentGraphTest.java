package dev.onnxprune.graph.serde;

import static dev.onnxprune.graph.serde.Protos.floatInfo;
import static dev.onnxprune.graph.serde.Protos.model;
import static dev.onnxprune.graph.serde.Protos.node;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.graph.ModelFormatException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Graphs that break ONNX's single-assignment rules are refused with the file, node and value named. */
class InconsistentGraphTest {
  @TempDir
  Path dir;

  private String readError(ModelProto m) throws IOException {
    Path f = Protos.write(dir.resolve("bad.onnx"), m);
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(f));
    return e.getMessage().substring((f + ": ").length());
  }

  @Test
  void nodeReadingAnUndefinedValueNamesTheNodeAndTheValue() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 2))
        .addNode(node("Add", "add1", List.of("x", "bias"), List.of("y")))
        .addOutput(floatInfo("y", 2))
        .build();
    assertEquals("graph 'main': 'add1' (Add) reads 'bias', which no graph input, initializer or node output defines",
        readError(model(g, 13)));
  }

  @Test
  void valueDefinedByTwoNodesNamesTheValueAndTheSecondNode() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 2))
        .addNode(node("Relu", "relu", List.of("x"), List.of("h")))
        .addNode(node("Neg", "neg", List.of("x"), List.of("h")))
        .addOutput(floatInfo("h", 2))
        .build();
    assertEquals("graph 'main': value 'h' is defined twice (again as output of 'neg' (Neg))", readError(model(g, 13)));
  }

  @Test
  void nodeOutputNamedLikeAGraphInputIsADoubleDefinition() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 2))
        .addNode(node("Relu", "relu", List.of("x"), List.of("x")))
        .addOutput(floatInfo("x", 2))
        .build();
    assertEquals("graph 'main': value 'x' is defined twice (again as output of 'relu' (Relu))", readError(model(g, 13)));
  }

  @Test
  void twoInitializersWithOneNameAreADoubleDefinition() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInitializer(Protos.floatTensor("w", new long[] {1}, 1f))
        .addInitializer(Protos.floatTensor("w", new long[] {1}, 2f))
        .addNode(node("Relu", "relu", List.of("w"), List.of("y")))
        .addOutput(floatInfo("y", 1))
        .build();
    assertEquals("graph 'main': value 'w' is defined twice (again as initializer)", readError(model(g, 13)));
  }

  @Test
  void subgraphCannotReadAValueOfItsSiblingBranch() throws IOException {
    GraphProto thenBranch = GraphProto.newBuilder().setName("then")
        .addNode(node("Relu", "then_relu", List.of("x"), List.of("t")))
        .addOutput(floatInfo("t", 2))
        .build();
    GraphProto elseBranch = GraphProto.newBuilder().setName("else")
        .addNode(node("Neg", "else_neg", List.of("t"), List.of("e")))
        .addOutput(floatInfo("e", 2))
        .build();
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 2))
        .addInput(Protos.tensorInfo("c", TensorProto.DataType.BOOL_VALUE))
        .addNode(node("If", "if", List.of("c"), List.of("y"),
            AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(thenBranch).build(),
            AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(elseBranch).build()))
        .addOutput(floatInfo("y", 2))
        .build();
    assertEquals("subgraph 'else' of 'if' (If): 'else_neg' (Neg) reads 't', which no graph input, initializer or"
        + " node output defines", readError(model(g, 13)));
  }

  @Test
  void graphOutputThatNothingDefinesIsNamed() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInput(floatInfo("x", 2))
        .addNode(node("Relu", "relu", List.of("x"), List.of("y")))
        .addOutput(floatInfo("z", 2))
        .build();
    assertEquals("graph 'main': graph output 'z' is not defined", readError(model(g, 13)));
  }

  @Test
  void rawDataOfTheWrongSizeNamesTheTensorAndBothSizes() throws IOException {
    TensorProto w = Protos.floatTensor("w", new long[] {2, 3}, 1f, 2f, 3f, 4f);
    GraphProto g = GraphProto.newBuilder().setName("main")
        .addInitializer(w)
        .addNode(node("Relu", "relu", List.of("w"), List.of("y")))
        .addOutput(floatInfo("y", 2, 3))
        .build();
    assertEquals("tensor 'w' FLOAT[2, 3] needs 24 bytes of raw_data, the file has 16", readError(model(g, 13)));
  }
}
