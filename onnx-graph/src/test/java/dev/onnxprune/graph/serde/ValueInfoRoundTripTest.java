package dev.onnxprune.graph.serde;

import static dev.onnxprune.graph.serde.Protos.assertRoundTripsExactly;
import static dev.onnxprune.graph.serde.Protos.floatInfo;
import static dev.onnxprune.graph.serde.Protos.model;
import static dev.onnxprune.graph.serde.Protos.node;

import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files where one value has several declarations (graph input, graph output, value_info, a
 * subgraph output naming an outer value): each declaration is written back as it was read.
 */
class ValueInfoRoundTripTest {
  @TempDir
  Path dir;

  @Test
  void valueInfoEntryForAGraphInputKeepsBothDeclarations() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2, 3))
        .addNode(node("Relu", "relu", List.of("x"), List.of("y")))
        .addOutput(floatInfo("y", 2, 3))
        .addValueInfo(ValueInfoProto.newBuilder().setName("x").setDocString("second declaration of x"))
        .build();
    assertRoundTripsExactly(model(g, 13), dir);
  }

  @Test
  void graphOutputThatIsAGraphInputKeepsItsOwnDeclaration() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2, 3))
        .addNode(node("Relu", "relu", List.of("x"), List.of("y")))
        .addOutput(floatInfo("y", 2, 3))
        .addOutput(ValueInfoProto.newBuilder().setName("x").setDocString("passed through"))
        .build();
    assertRoundTripsExactly(model(g, 13), dir);
  }

  @Test
  void subgraphOutputNamingAnOuterValueKeepsTheSubgraphsDeclaration() throws IOException {
    GraphProto thenBranch = GraphProto.newBuilder().setName("then")
        .addOutput(ValueInfoProto.newBuilder().setName("x")) // outer value, untyped here
        .build();
    GraphProto elseBranch = GraphProto.newBuilder().setName("else")
        .addNode(node("Neg", "neg", List.of("x"), List.of("nx")))
        .addOutput(floatInfo("nx", 2))
        .build();
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2))
        .addInput(Protos.tensorInfo("c", TensorProto.DataType.BOOL_VALUE))
        .addNode(node("If", "if", List.of("c"), List.of("y"),
            AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(thenBranch).build(),
            AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(elseBranch).build()))
        .addOutput(floatInfo("y", 2))
        .build();
    assertRoundTripsExactly(model(g, 13), dir);
  }

  @Test
  void valueInfoEntriesNamingNothingKeepTheirPlaceAmongTheOthers() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2))
        .addNode(node("Relu", "a", List.of("x"), List.of("h1")))
        .addNode(node("Relu", "b", List.of("h1"), List.of("h2")))
        .addNode(node("Relu", "c", List.of("h2"), List.of("y")))
        .addOutput(floatInfo("y", 2))
        .addValueInfo(floatInfo("h1", 2))
        .addValueInfo(floatInfo("gone", 7))
        .addValueInfo(floatInfo("h2", 2))
        .addValueInfo(floatInfo("h1", 2).toBuilder().setDocString("duplicate"))
        .build();
    assertRoundTripsExactly(model(g, 13), dir);
  }
}
