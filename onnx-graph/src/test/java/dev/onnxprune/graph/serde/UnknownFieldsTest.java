package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.conformance.ProtoDiff;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fields from a newer ONNX than our schema (unknown field numbers) survive a read-write round
 * trip on every message kind, and stay with their node when the node is edited.
 */
class UnknownFieldsTest {
  @TempDir
  Path dir;

  private static UnknownFieldSet unknown(int number, long varint, String text) {
    return UnknownFieldSet.newBuilder()
        .addField(number, UnknownFieldSet.Field.newBuilder().addVarint(varint).build())
        .addField(number + 1, UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFromUtf8(text)).build())
        .build();
  }

  /** Index of resnet20's first Conv, a node with attributes. */
  private static int firstConv(ModelProto m) {
    for (int i = 0; ; i++) {
      if (m.getGraph().getNode(i).getOpType().equals("Conv")) {
        return i;
      }
    }
  }

  /** resnet20 with unknown fields on the model, graph, a node, an attribute, an initializer and the input. */
  private static ModelProto withUnknownFields() throws IOException {
    ModelProto.Builder m = Protos.parse(TestModels.model("resnet20.onnx")).toBuilder();
    int conv = firstConv(m.build());
    m.setUnknownFields(unknown(900, 1, "model extension"));
    m.getGraphBuilder().setUnknownFields(unknown(910, 2, "graph extension"));
    m.getGraphBuilder().getNodeBuilder(conv).setUnknownFields(unknown(920, 3, "node extension"));
    m.getGraphBuilder().getNodeBuilder(conv).getAttributeBuilder(0).setUnknownFields(unknown(930, 4, "attr extension"));
    m.getGraphBuilder().getInitializerBuilder(0).setUnknownFields(unknown(940, 5, "tensor extension"));
    m.getGraphBuilder().getInputBuilder(0).setUnknownFields(unknown(950, 6, "input extension"));
    m.getGraphBuilder().getInputBuilder(0).getTypeBuilder().setUnknownFields(unknown(960, 7, "type extension"));
    return m.build();
  }

  @Test
  void unknownFieldsOnEveryMessageKindSurviveARoundTrip() throws IOException {
    ModelProto written = Protos.assertRoundTripsExactly(withUnknownFields(), dir);

    int conv = firstConv(written);
    assertEquals(List.of(3L), written.getGraph().getNode(conv).getUnknownFields().getField(920).getVarintList());
    assertEquals(ByteString.copyFromUtf8("node extension"),
        written.getGraph().getNode(conv).getUnknownFields().getField(921).getLengthDelimitedList().get(0));
  }

  @Test
  void unknownFieldsOfANodeStayWithItWhenItIsRenamedAndMoved() throws IOException {
    ModelProto original = withUnknownFields();
    int conv = firstConv(original);
    Model m = OnnxModels.read(Protos.write(dir.resolve("in.onnx"), original));
    Node first = m.graph().nodes().get(conv);
    String oldName = first.name();
    first.setName("stem_conv");
    first.output(0).rename("stem_out");
    Path out = dir.resolve("out.onnx");
    OnnxModels.write(m, out);

    ModelProto written = Protos.parse(out);
    ModelProto.Builder expected = original.toBuilder();
    expected.getGraphBuilder().getNodeBuilder(conv).setName("stem_conv").setOutput(0, "stem_out");
    String oldOutput = original.getGraph().getNode(conv).getOutput(0);
    for (int i = 0; i < expected.getGraph().getNodeCount(); i++) {
      List<String> inputs = expected.getGraph().getNode(i).getInputList();
      for (int j = 0; j < inputs.size(); j++) {
        if (inputs.get(j).equals(oldOutput)) {
          expected.getGraphBuilder().getNodeBuilder(i).setInput(j, "stem_out");
        }
      }
    }
    assertNull(ProtoDiff.firstDifference(expected.build(), written), "renaming " + oldName);
    assertEquals(unknown(920, 3, "node extension"), written.getGraph().getNode(conv).getUnknownFields());
  }
}
