package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.StringStringEntryProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TensorShapeProto;
import dev.onnxprune.testmodels.TestModels;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 11: models (and a data file) that ended in an unchecked exception shown as
 * "internal error". Each is built here from the vgg_bn fixture; each run must end with exit code
 * 1 and one line that names the file, the node and the attribute (or tensor, or input).
 */
class MalformedModelTest {
  private static final String IMAGES = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
  private static final String LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();

  @TempDir
  Path tmp;

  /** vgg_bn with {@code edit} applied, written as {@code name}. */
  private Path vgg(String name, UnaryOperator<ModelProto.Builder> edit) throws Exception {
    ModelProto.Builder m = ModelProto.parseFrom(Files.readAllBytes(TestModels.model("vgg_bn.onnx"))).toBuilder();
    return Files.write(tmp.resolve(name), edit.apply(m).build().toByteArray());
  }

  private static int index(GraphProto.Builder g, String op, int k) {
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getOpType().equals(op) && k-- == 0) {
        return i;
      }
    }
    throw new AssertionError("no " + op);
  }

  /** {@code m} with attribute {@code a} set on the {@code k}-th {@code op} node. */
  private static ModelProto.Builder attr(ModelProto.Builder m, String op, int k, AttributeProto a) {
    GraphProto.Builder g = m.getGraphBuilder();
    int i = index(g, op, k);
    NodeProto.Builder n = g.getNode(i).toBuilder();
    for (int j = 0; j < n.getAttributeCount(); j++) {
      if (n.getAttribute(j).getName().equals(a.getName())) {
        n.removeAttribute(j);
        break;
      }
    }
    g.setNode(i, n.addAttribute(a));
    return m;
  }

  private static AttributeProto ints(String name, long... v) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
    if (v.length == 1) {
      return a.setType(AttributeProto.AttributeType.INT).setI(v[0]).build();
    }
    a.setType(AttributeProto.AttributeType.INTS);
    for (long x : v) {
      a.addInts(x);
    }
    return a.build();
  }

  /** {@code m} with the input's axis {@code axis} set to {@code value}. */
  private static ModelProto.Builder inputDim(ModelProto.Builder m, int axis, long value) {
    m.getGraphBuilder().getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().getShapeBuilder()
        .setDim(axis, TensorShapeProto.Dimension.newBuilder().setDimValue(value));
    return m;
  }

  private static void assertOneLine(Cli.Result r, String expected) {
    assertEquals(1, r.exitCode(), r.err());
    assertFalse(r.err().contains("internal error"), r.err());
    assertTrue(r.err().endsWith(expected + "\n"), "'" + r.err() + "' should end with '" + expected + "'");
    assertTrue(r.err().lines().filter(l -> l.startsWith("onnx-prune: error: ")).count() == 1, r.err());
  }

  @Test
  void convGroupZeroWasADivisionByZero() throws Exception {
    Path m = vgg("group0.onnx", b -> attr(b, "Conv", 1, ints("group", 0)));
    assertOneLine(Cli.run("inspect", m.toString(), "--groups"), m + " is not a valid ONNX model:"
        + " '/features/features.1/features.1.0/Conv' (Conv): attribute 'group' is 0; it must be at least 1 and divide"
        + " the 16 channels of weight 'features.1.0.weight' [16, 16, 3, 3]");
  }

  @Test
  void flattenAxisMinusNineWasAnIndexOutOfBounds() throws Exception {
    Path m = vgg("flatten.onnx", b -> attr(b, "Flatten", 0, ints("axis", -9)));
    String expected = m + " is not a valid ONNX model: '/classifier/classifier.0/Flatten' (Flatten): attribute 'axis'"
        + " is -9; its input has rank 4, so it must be in [-4, 4]";
    assertOneLine(Cli.run("inspect", m.toString(), "--groups"), expected);
    assertOneLine(Cli.run("prune", m.toString(), "-o", tmp.resolve("out.onnx").toString(), "--flops", "0.3"),
        expected);
  }

  @Test
  void batchMinusOneWasANegativeArraySize() throws Exception {
    Path m = vgg("batch.onnx", b -> inputDim(b, 0, -1));
    assertOneLine(Cli.run("prune", m.toString(), "-o", tmp.resolve("out.onnx").toString(), "--flops", "0.3",
        "--verify"), m + " is not a valid ONNX model: value 'input' declares dimension -1 at axis 0; dimensions are"
        + " at least 0");
  }

  @Test
  void dimensionsOfTwoToTheFortyWereALongOverflow() throws Exception {
    Path batch = vgg("batch40.onnx", b -> inputDim(b, 0, 1L << 40));
    Cli.Result r = Cli.run("prune", batch.toString(), "-o", tmp.resolve("out.onnx").toString(), "--flops", "0.3",
        "--verify");
    assertOneLine(r, ")");
    assertTrue(r.err().contains("onnx-prune: error: " + batch + " is not a valid ONNX model: '/features/"), r.err());
    assertTrue(r.err().contains("(Conv): the model's cost overflows 64-bit arithmetic when this node's is added"),
        r.err());

    Path height = vgg("height40.onnx", b -> inputDim(inputDim(inputDim(b, 0, 1), 2, 1L << 40), 3, 1L << 40));
    r = Cli.run("inspect", height.toString());
    assertOneLine(r, ")");
    assertTrue(r.err().startsWith("onnx-prune: error: " + height + " is not a valid ONNX model: '/features/"),
        r.err());
    assertTrue(r.err().contains("overflows 64-bit arithmetic"), r.err());
  }

  @Test
  void anExternalDataOffsetNearTwoToTheSixtyThreeWasAnIntegerOverflow() throws Exception {
    Files.write(tmp.resolve("w.bin"), new byte[64]);
    Path m = vgg("offset.onnx", b -> {
      TensorProto.Builder w = b.getGraphBuilder().getInitializerBuilder(0);
      long bytes = w.getRawData().size();
      w.setRawData(ByteString.EMPTY).setDataLocation(TensorProto.DataLocation.EXTERNAL)
          .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
          .addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue(Long.toString(Long.MAX_VALUE
              - 100)))
          .addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue(Long.toString(bytes)));
      return b;
    });
    assertOneLine(Cli.run("inspect", m.toString()), m + ": tensor 'features.0.0.weight': external data file "
        + tmp.resolve("w.bin") + " has 64 bytes, the tensor needs 576 bytes from offset " + (Long.MAX_VALUE - 100));
  }

  /** Found by the fuzzer (PruneFuzzTest): mask listed the model's data files, and a NUL in a location threw. */
  @Test
  void anExternalDataLocationThatIsNotAPathIsNamed() throws Exception {
    Path m = vgg("nul.onnx", b -> {
      b.getGraphBuilder().getInitializerBuilder(0).setRawData(ByteString.EMPTY)
          .setDataLocation(TensorProto.DataLocation.EXTERNAL)
          .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin\u0000x"));
      return b;
    });
    String expected = m + ": tensor 'features.0.0.weight': external data location 'w.bin\u0000x' is not a path (Nul"
        + " character not allowed)";
    assertOneLine(Cli.run("mask", m.toString(), "-o", tmp.resolve("out.onnx").toString(), "--sparsity", "0.5"),
        expected);
    assertOneLine(Cli.run("inspect", m.toString()), expected);
  }

  @Test
  void anAttributeOfAnotherTypeIsNamed() throws Exception {
    Path m = vgg("float.onnx", b -> attr(b, "Conv", 0, AttributeProto.newBuilder().setName("group")
        .setType(AttributeProto.AttributeType.FLOAT).setF(1.5f).build()));
    assertOneLine(Cli.run("inspect", m.toString(), "--groups"), m + " is not a valid ONNX model:"
        + " '/features/features.0/features.0.0/Conv' (Conv): attribute 'group' is FLOAT; Conv takes it as INT");
  }

  @Test
  void strideZeroIsRefusedBeforePruning() throws Exception {
    Path m = vgg("stride.onnx", b -> attr(b, "Conv", 0, ints("strides", 0, 0)));
    assertOneLine(Cli.run("prune", m.toString(), "-o", tmp.resolve("out.onnx").toString(), "--flops", "0.3"),
        m + " is not a valid ONNX model: '/features/features.0/features.0.0/Conv' (Conv): attribute 'strides' [0, 0]"
            + " holds 0; its values must be at least 1");
  }

  @Test
  void anIdxHeaderOfHundredThousandCubedWasAnIntegerOverflow() throws Exception {
    Path images = Files.write(tmp.resolve("big.idx3"), ByteBuffer.allocate(16 + 64).putInt(0x803).putInt(100_000)
        .putInt(100_000).putInt(100_000).array());
    assertOneLine(Cli.run("eval", TestModels.model("vgg_bn.onnx").toString(), "--images", images.toString(),
        "--labels", LABELS), images + ": the IDX header says 100000 images of 100000x100000 pixels, more than one"
        + " array holds (2147483639 bytes); read fewer images (a limit)");
    assertTrue(Files.exists(Path.of(IMAGES)));
  }
}
