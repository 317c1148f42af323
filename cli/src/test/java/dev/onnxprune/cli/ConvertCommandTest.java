package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConvertCommandTest {
  @TempDir
  Path tmp;

  @Test
  void roundTripWritesAReadableModelWithTheSameGraphAndWeights() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("convert", in.toString(), "-o", out.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertEquals("", r.err(), "a valid model gives no warning");
    Model written = OnnxModels.read(out);
    assertEquals(Optional.empty(), ModelComparison.firstDifference(OnnxModels.read(in), written));
    assertEquals(1, r.out().lines().count(), r.out());
    assertTrue(r.out().startsWith("wrote " + out + ": " + written.graph().nodes().size() + " nodes, "), r.out());
  }

  /**
   * resnet20 with ir_version 2, a Relu renamed to an operator ONNX does not define, and the stem
   * Conv reading the next Conv's output (a cycle).
   */
  static Path invalidResnet(Path dir) throws Exception {
    ModelProto.Builder m = ModelProto.parseFrom(Files.readAllBytes(TestModels.model("resnet20.onnx"))).toBuilder()
        .setIrVersion(2);
    GraphProto.Builder g = m.getGraphBuilder();
    int stem = -1;
    int next = -1;
    int relu = -1;
    for (int i = 0; i < g.getNodeCount(); i++) {
      String op = g.getNode(i).getOpType();
      if (op.equals("Conv")) {
        next = stem >= 0 && next < 0 ? i : next;
        stem = stem < 0 ? i : stem;
      } else if (op.equals("Relu") && relu < 0) {
        relu = i;
      }
    }
    g.setNode(stem, g.getNode(stem).toBuilder().setInput(0, g.getNode(next).getOutput(0)));
    g.setNode(relu, g.getNode(relu).toBuilder().setOpType("Frobnicate"));
    return Files.write(dir.resolve("invalid.onnx"), m.build().toByteArray());
  }

  /**
   * Issue 16, point 6: convert wrote invalid models without a word. It still writes them as they
   * are (lossless), and warns of each problem, naming the file and node.
   */
  @Test
  void anInvalidModelIsWrittenAsItIsWithAWarningPerProblem() throws Exception {
    Path in = invalidResnet(tmp);
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("convert", in.toString(), "-o", out.toString());

    assertEquals(0, r.exitCode(), r.err());
    List<String> lines = r.err().lines().toList();
    String head = "onnx-prune: warning: " + in + " is not a valid ONNX model: ";
    assertEquals(List.of(head + "ir_version 2 cannot have opset imports; they came with IR version 3",
        head + "'/stem/stem.2/Relu' (Frobnicate): ONNX defines no operator 'Frobnicate' in its default domain",
        head + "graph 'torch_jit': nodes form a cycle: '/stem/stem.0/Conv' (Conv) -> '/stem/stem.1/BatchNormalization'"
            + " (BatchNormalization) -> '/stem/stem.2/Relu' (Frobnicate) -> '/layers/layers.0/conv1/Conv' (Conv) ->"
            + " '/stem/stem.0/Conv' (Conv)"), lines);
    assertArrayEquals(Files.readAllBytes(in), Files.readAllBytes(out));

    // a pass needs a valid graph: --fold-bn refuses it
    Path folded = tmp.resolve("folded.onnx");
    r = Cli.run("convert", in.toString(), "-o", folded.toString(), "--fold-bn");
    assertEquals(1, r.exitCode(), r.err());
    assertTrue(r.err().startsWith("onnx-prune: error: " + in + " is not a valid ONNX model (3 problems): ir_version 2"),
        r.err());
    assertFalse(Files.exists(folded));
  }

  @Test
  void externalDataPutsTensorsInADataFileNamedAfterOutAndItsContent() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("ext.onnx");

    Cli.Result r = Cli.run("convert", in.toString(), "-o", out.toString(), "--external-data");

    assertEquals(0, r.exitCode(), r.err());
    Path data = ModelFiles.externalDataFiles(OnnxModels.read(out), out).iterator().next();
    assertTrue(data.getFileName().toString().matches("ext\\.onnx\\.[0-9a-f]{16}\\.data"), data.toString());
    assertTrue(Files.size(data) > Files.size(out), "weights should be in " + data);
    assertTrue(r.out().contains("external data (" + data.getFileName() + ")"), r.out());
    assertEquals(Optional.empty(), ModelComparison.firstDifference(OnnxModels.read(in), OnnxModels.read(out)));
  }

  @Test
  void foldBnLeavesNoBatchNormalizationInResnet20() throws Exception {
    Path out = tmp.resolve("folded.onnx");

    Cli.Result r = Cli.run("convert", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(), "--fold-bn");

    assertEquals(0, r.exitCode(), r.err());
    Model written = OnnxModels.read(out);
    assertTrue(written.graph().nodes().stream().noneMatch(n -> n.is("BatchNormalization")));
    assertTrue(r.out().startsWith("folded 21 of 21 BatchNormalization node(s)\nwrote " + out + ": 75 -> "
        + written.graph().nodes().size() + " nodes, "), r.out());
  }

  @Test
  void foldBnListsEachBatchNormalizationLeftWithItsReason() throws Exception {
    Path out = tmp.resolve("folded.onnx");

    Cli.Result r = Cli.run("convert", TestModels.model("densenet.onnx").toString(), "-o", out.toString(), "--fold-bn");

    assertEquals(0, r.exitCode(), r.err());
    // DenseNet's BatchNormalizations (but the stem's) follow a Concat: they have no Conv to fold into
    assertTrue(r.out().startsWith("folded 1 of 16 BatchNormalization node(s); 15 left as they are:\n"), r.out());
    assertTrue(r.out().contains("\n  '/features/features.1/bn/BatchNormalization' (BatchNormalization) left as is:"
        + " its input is not produced by a Conv, ConvTranspose or Gemm\n"), r.out());
    assertEquals(15, r.out().lines().filter(l -> l.startsWith("  '")).count(), r.out());
  }

  @Test
  void convertingInPlaceKeepsTheModel() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));
    Model before = OnnxModels.read(file);

    Cli.Result r = Cli.run("convert", file.toString(), "-o", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertEquals(Optional.empty(), ModelComparison.firstDifference(before, OnnxModels.read(file)));
  }

  @Test
  void missingOutputOptionIsAUsageError() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));

    Cli.Result r = Cli.run("convert", file.toString());

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("convert", "missing required option: '--output=OUT'"), r.err());
  }

  @Test
  void missingInputFailsWithOneLineNamingTheFileAndWritesNothing() {
    Path missing = tmp.resolve("missing.onnx");
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("convert", missing.toString(), "-o", out.toString());

    assertEquals(1, r.exitCode());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("onnx-prune: error: " + missing + ": "), r.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void garbageInputFailsWithOneLineNamingTheFileAndWritesNothing() throws Exception {
    Path garbage = Files.write(tmp.resolve("garbage.onnx"), "this is not a protobuf message\n".repeat(20).getBytes());
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("convert", garbage.toString(), "-o", out.toString());

    assertEquals(1, r.exitCode());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("onnx-prune: error: " + garbage + ": "), r.err());
    assertFalse(Files.exists(out));
    try (var files = Files.list(tmp)) {
      assertEquals(1, files.count(), "no temporary files are left behind");
    }
  }

  @Test
  void directoryAsOutputIsRefusedNamingTheOption() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));

    Cli.Result r = Cli.run("convert", file.toString(), "-o", tmp.toString());

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("convert", "-o/--output must be a regular file or a new one, not a directory: '" + tmp
        + "'"), r.err());
  }

  @Test
  void verboseAddsTheStackTraceAfterTheOneLineReason() {
    Path missing = tmp.resolve("missing.onnx");

    Cli.Result r = Cli.run("convert", missing.toString(), "-o", tmp.resolve("o.onnx").toString(), "--verbose");

    assertEquals(1, r.exitCode());
    assertTrue(r.err().startsWith("onnx-prune: error: " + missing), r.err());
    assertTrue(r.err().contains("\tat dev.onnxprune."), r.err());
  }
}
