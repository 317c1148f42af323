package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidModelException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.OperatorSetIdProto;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 6: models that read but that ONNX's checker refuses (cycles, unknown operators,
 * opsets 0 and 99, Conv group 0, ir_version 0 or 2) were converted and pruned without a word.
 * {@link ModelChecker} names each problem; reading and writing stay lossless.
 */
class ModelCheckerTest {
  @TempDir
  Path dir;

  private static ModelProto resnet() throws IOException {
    return ModelProto.parseFrom(Files.readAllBytes(TestModels.model("resnet20.onnx")));
  }

  /** The resnet20 fixture with {@code edit} applied to its graph, read back. */
  private Model edited(UnaryOperator<GraphProto.Builder> edit) throws IOException {
    ModelProto.Builder m = resnet().toBuilder();
    m.setGraph(edit.apply(m.getGraph().toBuilder()));
    return read(m.build());
  }

  private Model read(ModelProto m) throws IOException {
    Path f = Protos.write(dir.resolve("m.onnx"), m);
    Model model = OnnxModels.read(f);
    // lossless all the same: the invalid model writes back as it was read
    Path out = dir.resolve("out.onnx");
    OnnxModels.write(model, out);
    assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(out));
    return model;
  }

  private static int index(GraphProto.Builder g, String op, int k) {
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getOpType().equals(op) && k-- == 0) {
        return i;
      }
    }
    throw new AssertionError("no " + op);
  }

  private static GraphProto.Builder setAttr(GraphProto.Builder g, int node, AttributeProto a) {
    NodeProto.Builder n = g.getNode(node).toBuilder();
    for (int i = 0; i < n.getAttributeCount(); i++) {
      if (n.getAttribute(i).getName().equals(a.getName())) {
        n.removeAttribute(i);
        break;
      }
    }
    return g.setNode(node, n.addAttribute(a));
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
  }

  private static void assertProblems(Model m, String... expected) {
    List<String> problems = ModelChecker.check(m);
    assertEquals(expected.length, problems.size(), problems.toString());
    for (int i = 0; i < expected.length; i++) {
      assertTrue(problems.get(i).matches(expected[i]), "'" + problems.get(i) + "' should match '" + expected[i] + "'");
    }
    InvalidModelException e = assertThrows(InvalidModelException.class, () -> ModelChecker.requireValid(m));
    assertEquals(m.source(), e.file());
    assertTrue(e.getMessage().startsWith(m.source() + " is not a valid ONNX model"), e.getMessage());
  }

  @Test
  void theFixturesAreValid() throws IOException {
    for (String f : List.of("resnet20.onnx", "vgg_bn.onnx", "densenet.onnx", "mobilenetv2.onnx", "senet.onnx",
        "inception.onnx", "resnet20_folded.onnx", "resnet20_sgd_step.onnx", "resnet20_adamw_steps.onnx")) {
      assertEquals(List.of(), ModelChecker.check(OnnxModels.read(TestModels.model(f))), f);
    }
  }

  /** Found by the fuzzer: prune scored a weight of data type UNDEFINED and ended in an internal error. */
  @Test
  void anInitializerOfUndefinedTypeIsNamed() throws IOException {
    String[] name = new String[1];
    Model m = edited(g -> {
      name[0] = g.getInitializer(0).getName();
      return g.setInitializer(0, g.getInitializer(0).toBuilder().setDataType(0));
    });
    List<String> problems = ModelChecker.check(m);
    assertTrue(problems.contains("initializer '" + name[0] + "' has data type UNDEFINED; ONNX needs a tensor's type set"),
        problems.toString());
    assertThrows(InvalidModelException.class, () -> ModelChecker.requireValid(m));
  }

  @Test
  void aCycleIsNamedNodeByNode() throws IOException {
    // the stem Conv reads the output of the next Conv, which depends on it through BatchNorm and Relu
    Model m = edited(g -> {
      int stem = index(g, "Conv", 0);
      String late = g.getNode(index(g, "Conv", 1)).getOutput(0);
      return g.setNode(stem, g.getNode(stem).toBuilder().setInput(0, late));
    });
    assertProblems(m, "graph 'torch_jit': nodes form a cycle: '/stem/stem.0/Conv' \\(Conv\\) ->"
        + " '/stem/stem.1/BatchNormalization' \\(BatchNormalization\\) -> '/stem/stem.2/Relu' \\(Relu\\) ->"
        + " '/layers/layers.0/conv1/Conv' \\(Conv\\) -> '/stem/stem.0/Conv' \\(Conv\\)");
  }

  @Test
  void nodesOutOfOrderWithoutACycleAreNamed() throws IOException {
    Model m = edited(g -> {
      int stem = index(g, "Conv", 0);
      NodeProto conv = g.getNode(stem);
      return g.removeNode(stem).addNode(conv);
    });
    assertProblems(m, "graph 'torch_jit': nodes are not in topological order: '/stem/stem.1/BatchNormalization'"
        + " \\(BatchNormalization\\) reads '/stem/stem.0/Conv_output_0' before '/stem/stem.0/Conv' \\(Conv\\)"
        + " computes it");
  }

  @Test
  void operatorsTheOpsetDoesNotDefineAreNamed() throws IOException {
    Model m = edited(g -> {
      int relu = index(g, "Relu", 0);
      int second = index(g, "Relu", 1);
      int third = index(g, "Relu", 2);
      g.setNode(relu, g.getNode(relu).toBuilder().setOpType("Frobnicate"));
      g.setNode(second, g.getNode(second).toBuilder().setOpType("Gelu")); // opset 20
      g.setNode(third, g.getNode(third).toBuilder().setOpType("Upsample")); // deprecated from 10
      return g;
    });
    assertProblems(m, "'.*' \\(Frobnicate\\): ONNX defines no operator 'Frobnicate' in its default domain",
        "'.*' \\(Gelu\\): operator Gelu came with opset 20; the model imports opset 13",
        "'.*' \\(Upsample\\): operator Upsample is deprecated from opset 10; the model imports opset 13");
  }

  @Test
  void aDomainThatIsNotImportedIsNamed() throws IOException {
    Model m = edited(g -> {
      int relu = index(g, "Relu", 0);
      return g.setNode(relu, g.getNode(relu).toBuilder().setDomain("com.example"));
    });
    assertProblems(m, "'.*' \\(com.example:Relu\\): its domain 'com.example' is not imported \\(the model's opset"
        + " imports: \\)");
  }

  @Test
  void opsetsOutsideThoseOnnxDefinesAreNamed() throws IOException {
    for (long v : new long[] {0, 99, -1}) {
      ModelProto.Builder p = resnet().toBuilder();
      p.setOpsetImport(0, OperatorSetIdProto.newBuilder().setDomain("").setVersion(v));
      assertProblems(read(p.build()), "opset " + v + " of the default domain \\(ai.onnx\\) is outside the versions"
          + " ONNX defines \\(1 to " + ModelChecker.maxOpset() + "\\)");
    }
  }

  @Test
  void irVersionsTheCheckerRefusesAreNamed() throws IOException {
    assertProblems(read(resnet().toBuilder().setIrVersion(0).build()), "ir_version is 0; ONNX needs 1 to \\d+ .*");
    assertProblems(read(resnet().toBuilder().clearIrVersion().build()), "ir_version is not set; ONNX needs 1 to .*");
    assertProblems(read(resnet().toBuilder().setIrVersion(2).build()),
        "ir_version 2 cannot have opset imports; they came with IR version 3");
    assertProblems(read(resnet().toBuilder().setIrVersion(99).build()),
        "ir_version 99 is newer than any ONNX defines \\(1 to " + ModelChecker.maxIrVersion() + "\\)");
  }

  @Test
  void convGroupsThatAreZeroOrDoNotDivideTheChannelsAreNamed() throws IOException {
    assertProblems(edited(g -> setAttr(g, index(g, "Conv", 0), intAttr("group", 0))),
        "'.*' \\(Conv\\): attribute 'group' is 0; it must be at least 1");
    // the stem Conv: 1 -> 16 channels, weight [16, 1, 3, 3]; group 3 divides neither
    assertProblems(edited(g -> setAttr(g, index(g, "Conv", 0), intAttr("group", 3))),
        "'/stem/stem.0/Conv' \\(Conv\\): input has 1 channels but weight 'stem.0.weight' \\[16, 1, 3, 3\\] with"
        + " group 3 expects 3",
        "'/stem/stem.0/Conv' \\(Conv\\): 16 output channels are not divisible by group 3");
  }
}
