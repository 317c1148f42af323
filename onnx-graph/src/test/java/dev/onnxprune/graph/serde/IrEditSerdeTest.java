package dev.onnxprune.graph.serde;

import static dev.onnxprune.graph.serde.Protos.floatInfo;
import static dev.onnxprune.graph.serde.Protos.node;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import com.google.protobuf.ByteString;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelFormatException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.WriteOptions;
import dev.onnxprune.graph.conformance.OrtRunner;
import dev.onnxprune.graph.conformance.OrtRunner.NotComparableException;
import dev.onnxprune.graph.conformance.TensorProtos;
import dev.onnxprune.graph.conformance.TensorProtos.Decoded;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Edits made through the IR are what the written file says, and typed (non-raw) tensor data decodes right. */
class IrEditSerdeTest {
  @TempDir
  Path dir;

  private static Decoded image(int batch) {
    ByteBuffer b = ByteBuffer.allocate(batch * 28 * 28 * 4).order(ByteOrder.LITTLE_ENDIAN);
    Random r = new Random(11);
    while (b.hasRemaining()) {
      b.putFloat(r.nextFloat());
    }
    return new Decoded(TensorProto.DataType.FLOAT_VALUE, new long[] {batch, 1, 28, 28}, b.flip(), null);
  }

  private static Decoded logits(Path model) throws OrtException, NotComparableException {
    try (OrtRunner ort = OrtRunner.open(model)) {
      return ort.run(Map.of("input", image(2)), List.of("logits")).get(0);
    }
  }

  private static Node gemm(Model m) {
    return m.graph().nodes().stream().filter(n -> n.is("Gemm")).findFirst().orElseThrow();
  }

  @Test
  void replacedInitializerIsWrittenWithItsNewDataAndOrtSeesIt() throws IOException, OrtException,
      NotComparableException {
    Path original = TestModels.model("resnet20.onnx");
    Model m = OnnxModels.read(original);
    Value bias = gemm(m).input(2);
    float[] b = bias.initializer().toFloatArray();
    for (int i = 0; i < b.length; i++) {
      b[i] += 1f;
    }
    bias.setInitializer(Tensor.ofFloats(new long[] {b.length}, b));
    Path edited = dir.resolve("edited.onnx");
    OnnxModels.write(m, edited);

    TensorProto written = Protos.parse(edited).getGraph().getInitializerList().stream()
        .filter(t -> t.getName().equals(bias.name())).findFirst().orElseThrow();
    assertEquals(List.of((long) b.length), written.getDimsList());
    assertEquals(TensorProto.DataType.FLOAT_VALUE, written.getDataType());
    assertEquals(bias.initializer().rawBytes(), written.getRawData());
    double[] before = TensorProtos.asDoubles(TensorProto.DataType.FLOAT_VALUE, logits(original).littleEndian());
    double[] after = TensorProtos.asDoubles(TensorProto.DataType.FLOAT_VALUE, logits(edited).littleEndian());
    for (int i = 0; i < before.length; i++) {
      assertEquals(before[i] + 1, after[i], 1e-4, "logit " + i);
    }
  }

  @Test
  void bypassedAndRemovedNodesAndDeadInitializersAreGoneFromTheFile() throws IOException, OrtException,
      NotComparableException {
    Path original = TestModels.model("resnet20.onnx");
    Model m = OnnxModels.read(original);
    Graph g = m.graph();
    List<Node> identities = g.nodes().stream().filter(n -> n.is("Identity")).toList();
    assertFalse(identities.isEmpty(), "resnet20 has no Identity node to bypass");
    for (Node id : identities) {
      id.output(0).replaceAllUsesWith(id.input(0));
      g.removeNode(id);
    }
    int nodes = g.nodes().size();
    // An initializer nothing reads any more is removed by dead-code elimination.
    Node gemm = gemm(m);
    Value oldBias = gemm.input(2);
    gemm.replaceInput(2, g.addInitializer("zero_bias", Tensor.ofFloats(new long[] {10}, new float[10])));
    g.removeDeadCode();
    Path edited = dir.resolve("edited.onnx");
    OnnxModels.write(m, edited);

    GraphProto written = Protos.parse(edited).getGraph();
    assertEquals(nodes, written.getNodeCount());
    assertTrue(written.getNodeList().stream().noneMatch(n -> n.getOpType().equals("Identity")));
    assertTrue(written.getInitializerList().stream().noneMatch(t -> t.getName().equals(oldBias.name())),
        oldBias.name() + " is still written");
    assertTrue(written.getInitializerList().stream().anyMatch(t -> t.getName().equals("zero_bias")));
    Model reread = OnnxModels.read(edited);
    assertEquals(nodes, reread.graph().nodes().size());
    // Identity only forwarded shared weights: outputs equal the original up to the Gemm bias.
    double[] before = TensorProtos.asDoubles(TensorProto.DataType.FLOAT_VALUE, logits(original).littleEndian());
    double[] after = TensorProtos.asDoubles(TensorProto.DataType.FLOAT_VALUE, logits(edited).littleEndian());
    float[] bias = oldBias.initializer().toFloatArray();
    for (int i = 0; i < before.length; i++) {
      assertEquals(before[i] - bias[i % 10], after[i], 1e-4, "logit " + i);
    }
  }

  /** An initializer also declared as a graph input (IR version 3 style): its input entry follows a new shape. */
  @Test
  void initializerDeclaredAsAnInputGetsItsDeclarationRewrittenWhenItsShapeChanges() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2))
        .addInput(floatInfo("w", 2))
        .addInitializer(Protos.floatTensor("w", new long[] {2}, 1f, 2f))
        .addNode(node("Add", "add", List.of("x", "w"), List.of("y")))
        .addOutput(floatInfo("y", 2))
        .addValueInfo(floatInfo("w", 2))
        .build();
    Model m = OnnxModels.read(Protos.write(dir.resolve("in.onnx"), Protos.model(g, 13)));
    m.graph().value("w").setInitializer(Tensor.ofFloats(new long[] {1}, new float[] {5f}));
    Path out = dir.resolve("out.onnx");
    OnnxModels.write(m, out);

    GraphProto written = Protos.parse(out).getGraph();
    ValueInfoProto expected = floatInfo("w", 1);
    assertEquals(expected, written.getInput(1));
    assertEquals(expected, written.getValueInfo(0));
    assertEquals(floatInfo("x", 2), written.getInput(0));
  }

  @Test
  void valueInfoOfARemovedValueIsDroppedAndOthersKeepTheirOrder() throws IOException {
    GraphProto g = GraphProto.newBuilder().setName("g")
        .addInput(floatInfo("x", 2))
        .addNode(node("Relu", "a", List.of("x"), List.of("h1")))
        .addNode(node("Identity", "b", List.of("h1"), List.of("h2")))
        .addNode(node("Neg", "c", List.of("h2"), List.of("y")))
        .addOutput(floatInfo("y", 2))
        .addValueInfo(floatInfo("h2", 2))
        .addValueInfo(floatInfo("unrelated", 9))
        .addValueInfo(floatInfo("h1", 2))
        .build();
    Model m = OnnxModels.read(Protos.write(dir.resolve("in.onnx"), Protos.model(g, 13)));
    Node identity = m.graph().nodes().get(1);
    identity.output(0).replaceAllUsesWith(identity.input(0));
    m.graph().removeNode(identity);
    Path out = dir.resolve("out.onnx");
    OnnxModels.write(m, out);

    assertEquals(List.of(floatInfo("unrelated", 9), floatInfo("h1", 2)), Protos.parse(out).getGraph().getValueInfoList());
  }

  /** One initializer per typed field of TensorProto (no raw_data), feeding nothing but the outputs. */
  private static ModelProto typedDataModel() {
    TensorProto.Builder f32 = TensorProto.newBuilder().setName("f32").setDataType(TensorProto.DataType.FLOAT_VALUE)
        .addDims(2).addDims(2).addAllFloatData(List.of(1.5f, -2f, 0f, Float.NaN));
    TensorProto.Builder f64 = TensorProto.newBuilder().setName("f64").setDataType(TensorProto.DataType.DOUBLE_VALUE)
        .addDims(2).addAllDoubleData(List.of(1e-300, -3.25));
    TensorProto.Builder i64 = TensorProto.newBuilder().setName("i64").setDataType(TensorProto.DataType.INT64_VALUE)
        .addDims(3).addAllInt64Data(List.of(Long.MIN_VALUE, -1L, 1L << 40));
    TensorProto.Builder u32 = TensorProto.newBuilder().setName("u32").setDataType(TensorProto.DataType.UINT32_VALUE)
        .addDims(2).addAllUint64Data(List.of(4_000_000_000L, 7L));
    TensorProto.Builder i8 = TensorProto.newBuilder().setName("i8").setDataType(TensorProto.DataType.INT8_VALUE)
        .addDims(3).addAllInt32Data(List.of(-128, 0, 127));
    TensorProto.Builder f16 = TensorProto.newBuilder().setName("f16").setDataType(TensorProto.DataType.FLOAT16_VALUE)
        .addDims(3).addAllInt32Data(List.of(0x3C00, 0xC000, 0x7BFF)); // 1.0, -2.0, 65504 as binary16 bits
    TensorProto.Builder bool = TensorProto.newBuilder().setName("bool").setDataType(TensorProto.DataType.BOOL_VALUE)
        .addDims(2).addAllInt32Data(List.of(1, 0));
    GraphProto.Builder g = GraphProto.newBuilder().setName("typed");
    for (TensorProto.Builder t : List.of(f32, f64, i64, u32, i8, f16, bool)) {
      g.addInitializer(t);
      g.addNode(node("Identity", "id_" + t.getName(), List.of(t.getName()), List.of("out_" + t.getName())));
      g.addOutput(ValueInfoProto.newBuilder().setName("out_" + t.getName()));
    }
    return Protos.model(g.build(), 13);
  }

  @Test
  void typedTensorFieldsDecodeToTheRightElements() throws IOException {
    Graph g = OnnxModels.read(Protos.write(dir.resolve("typed.onnx"), typedDataModel())).graph();

    float[] f32 = g.value("f32").initializer().toFloatArray();
    assertArrayEquals(new float[] {1.5f, -2f, 0f}, java.util.Arrays.copyOf(f32, 3));
    assertTrue(Float.isNaN(f32[3]));
    assertArrayEquals(new double[] {1e-300, -3.25}, g.value("f64").initializer().toDoubleArray());
    assertArrayEquals(new long[] {Long.MIN_VALUE, -1L, 1L << 40}, g.value("i64").initializer().toLongArray());
    assertArrayEquals(new long[] {4_000_000_000L, 7L}, g.value("u32").initializer().toLongArray());
    assertArrayEquals(new long[] {-128, 0, 127}, g.value("i8").initializer().toLongArray());
    assertArrayEquals(new float[] {1f, -2f, 65504f}, g.value("f16").initializer().toFloatArray());
    assertArrayEquals(new long[] {1, 0}, g.value("bool").initializer().toLongArray());
    ByteString f32Raw = g.value("f32").initializer().rawBytes();
    assertEquals(16, f32Raw.size());
    assertEquals(1.5f, f32Raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).getFloat(0));
  }

  @Test
  void typedTensorsStayTypedInlineAndBecomeRawBytesInExternalData() throws IOException, OrtException,
      NotComparableException {
    ModelProto typed = typedDataModel();
    Protos.assertRoundTripsExactly(typed, dir);

    Path ext = dir.resolve("ext.onnx");
    OnnxModels.write(OnnxModels.read(Protos.write(dir.resolve("typed.onnx"), typed)), ext,
        new WriteOptions(WriteOptions.ExternalData.ALWAYS, 0, null));
    Graph back = OnnxModels.read(ext).graph();
    assertArrayEquals(new long[] {Long.MIN_VALUE, -1L, 1L << 40}, back.value("i64").initializer().toLongArray());
    assertArrayEquals(new float[] {1f, -2f, 65504f}, back.value("f16").initializer().toFloatArray());
    String location = back.value("f32").initializer().externalLocation().location();
    assertTrue(location.matches("ext\\.onnx\\.[0-9a-f]{16}\\.data"), location);

    // ORT reads both encodings to the same elements (UINT32 is left out: the Java API cannot return it).
    List<String> outs = List.of("out_f32", "out_f64", "out_i64", "out_i8", "out_f16", "out_bool");
    try (OrtRunner fromTyped = OrtRunner.open(dir.resolve("typed.onnx")); OrtRunner fromExt = OrtRunner.open(ext)) {
      List<Decoded> a = fromTyped.run(Map.of(), outs);
      List<Decoded> b = fromExt.run(Map.of(), outs);
      for (int i = 0; i < outs.size(); i++) {
        assertNull(TensorProtos.compare(a.get(i), b.get(i), 0, 0), outs.get(i));
        TensorProto declared = typed.getGraph().getInitializer(typed.getGraph().getInitializerList().stream()
            .map(TensorProto::getName).toList().indexOf(outs.get(i).substring(4)));
        assertNull(TensorProtos.compare(TensorProtos.decode(declared), b.get(i), 0, 0), outs.get(i));
      }
    }
  }

  @Test
  void typedFieldWithTooFewValuesIsRefusedWhenRead() throws IOException {
    ModelProto.Builder m = typedDataModel().toBuilder();
    m.getGraphBuilder().getInitializerBuilder(2).clearInt64Data().addInt64Data(5);
    Path f = Protos.write(dir.resolve("short.onnx"), m.build());
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(f));
    assertEquals(f + ": tensor 'i64' INT64[3] has 1 values in int64_data, its dims need 3", e.getMessage());
  }
}
