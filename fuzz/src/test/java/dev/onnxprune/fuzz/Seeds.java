package dev.onnxprune.fuzz;

import com.google.protobuf.ByteString;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.OperatorSetIdProto;
import dev.onnxprune.graph.proto.Onnx.StringStringEntryProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TensorShapeProto;
import dev.onnxprune.graph.proto.Onnx.TypeProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The models fuzzing starts from: the trained fixtures of {@code testmodels} and small models
 * built here that reach what the fixtures do not (grouped Conv, Concat, Reshape and Transpose
 * before MatMul, an If with an outer-scope read, a weight in an external data file).
 */
final class Seeds {
  /** The fixtures, smallest first. */
  static final List<String> FIXTURES = List.of("inception.onnx", "vgg_bn.onnx", "densenet.onnx", "senet.onnx",
      "mobilenetv2.onnx", "resnet20.onnx");

  private static List<ModelProto> all;

  private Seeds() {}

  /** The small built models, then the fixtures. */
  static synchronized List<ModelProto> models() {
    if (all == null) {
      List<ModelProto> out = new ArrayList<>(List.of(cnn(false), mlp(), withIf(), cnn(true)));
      for (String f : FIXTURES) {
        try {
          out.add(ModelProto.parseFrom(Files.readAllBytes(TestModels.model(f))));
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      all = List.copyOf(out);
    }
    return all;
  }

  /** What {@link ModelMutator#DATA_FILE} holds beside every model a fuzz test writes: 4 KiB of a float ramp. */
  static byte[] dataFile() {
    ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; b.hasRemaining(); i++) {
      b.putFloat((i % 13) * 0.125f - 0.75f);
    }
    return b.array();
  }

  /** Writes {@code model} as {@code model.onnx} in {@code dir}, with {@link #dataFile()} beside it. */
  static Path write(Path dir, byte[] model) throws IOException {
    Files.write(dir.resolve(ModelMutator.DATA_FILE), dataFile());
    return Files.write(dir.resolve("model.onnx"), model);
  }

  /**
   * x [1, 3, 8, 8] -> Conv 3x3 (8) -> BatchNorm -> Relu -> grouped Conv 3x3 (group 2) -> Add (residual)
   * -> MaxPool 2x2 -> Conv 1x1 (4) -> Concat of it twice -> GlobalAveragePool -> Flatten -> Gemm (10).
   * {@code external}: the first Conv's weight lies in {@link ModelMutator#DATA_FILE}.
   */
  static ModelProto cnn(boolean external) {
    GraphProto.Builder g = GraphProto.newBuilder().setName("cnn");
    g.addInput(info("x", 1, 3, 8, 8));
    TensorProto w1 = floats("w1", 8, 3, 3, 3);
    if (external) {
      w1 = w1.toBuilder().clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
          .addExternalData(entry("location", ModelMutator.DATA_FILE)).addExternalData(entry("offset", "0"))
          .addExternalData(entry("length", Long.toString(4L * 8 * 3 * 3 * 3))).build();
    }
    g.addInitializer(w1).addInitializer(floats("b1", 8));
    for (String p : new String[] {"scale", "bias", "mean", "var"}) {
      g.addInitializer(floats("bn." + p, 8));
    }
    g.addInitializer(floats("w2", 8, 4, 3, 3)).addInitializer(floats("w3", 4, 8, 1, 1))
        .addInitializer(floats("fc", 10, 8)).addInitializer(floats("fc.b", 10));
    g.addNode(node("Conv", "c1", List.of("x", "w1", "b1"), "c1", ints("pads", 1, 1, 1, 1), ints("kernel_shape", 3, 3)));
    g.addNode(node("BatchNormalization", "bn", List.of("c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"), "bn"));
    g.addNode(node("Relu", "r1", List.of("bn"), "r1"));
    g.addNode(node("Conv", "c2", List.of("r1", "w2"), "c2", ints("pads", 1, 1, 1, 1), intAttr("group", 2)));
    g.addNode(node("Add", "add", List.of("r1", "c2"), "add"));
    g.addNode(node("MaxPool", "pool", List.of("add"), "pool", ints("kernel_shape", 2, 2), ints("strides", 2, 2)));
    g.addNode(node("Conv", "c3", List.of("pool", "w3"), "c3"));
    g.addNode(node("Concat", "cat", List.of("c3", "c3"), "cat", intAttr("axis", 1)));
    g.addNode(node("GlobalAveragePool", "gap", List.of("cat"), "gap"));
    g.addNode(node("Flatten", "flat", List.of("gap"), "flat", intAttr("axis", 1)));
    g.addNode(node("Gemm", "gemm", List.of("flat", "fc", "fc.b"), "y", intAttr("transB", 1)));
    g.addOutput(info("y", 1, 10));
    return model(g);
  }

  /** x [2, 16] -> MatMul (32) -> Add -> Relu -> Reshape [2, 4, 8] -> Transpose -> Reshape [2, 32] -> MatMul (5). */
  static ModelProto mlp() {
    GraphProto.Builder g = GraphProto.newBuilder().setName("mlp");
    g.addInput(info("x", 2, 16));
    g.addInitializer(floats("w1", 16, 32)).addInitializer(floats("b1", 32)).addInitializer(floats("w2", 32, 5))
        .addInitializer(longs("s1", 2, 4, 8)).addInitializer(longs("s2", 2, 32));
    g.addNode(node("MatMul", "mm1", List.of("x", "w1"), "mm1"));
    g.addNode(node("Add", "add", List.of("mm1", "b1"), "add"));
    g.addNode(node("Relu", "relu", List.of("add"), "relu"));
    g.addNode(node("Reshape", "rs1", List.of("relu", "s1"), "rs1"));
    g.addNode(node("Transpose", "tr", List.of("rs1"), "tr", ints("perm", 0, 2, 1)));
    g.addNode(node("Reshape", "rs2", List.of("tr", "s2"), "rs2"));
    g.addNode(node("MatMul", "mm2", List.of("rs2", "w2"), "y"));
    g.addOutput(info("y", 2, 5));
    return model(g);
  }

  /** x [1, 4] -> ReduceSum -> Greater 0 -> If (then Relu(x), else Neg(x), both reading x from outside). */
  static ModelProto withIf() {
    GraphProto.Builder g = GraphProto.newBuilder().setName("cond");
    g.addInput(info("x", 1, 4));
    g.addInitializer(floats("zero"));
    g.addNode(node("ReduceSum", "sum", List.of("x"), "sum", intAttr("keepdims", 0)));
    g.addNode(node("Greater", "gt", List.of("sum", "zero"), "gt"));
    GraphProto then = GraphProto.newBuilder().setName("then").addNode(node("Relu", "relu", List.of("x"), "t"))
        .addOutput(info("t", 1, 4)).build();
    GraphProto otherwise = GraphProto.newBuilder().setName("else").addNode(node("Neg", "neg", List.of("x"), "e"))
        .addOutput(info("e", 1, 4)).build();
    g.addNode(node("If", "if", List.of("gt"), "y",
        AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH).setG(then)
            .build(),
        AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
            .setG(otherwise).build()));
    g.addOutput(info("y", 1, 4));
    return model(g);
  }

  private static ModelProto model(GraphProto.Builder g) {
    return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-prune-fuzz")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(g).build();
  }

  private static ValueInfoProto info(String name, long... dims) {
    TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
    for (long d : dims) {
      s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(s))).build();
  }

  private static NodeProto node(String op, String name, List<String> inputs, String output, AttributeProto... attrs) {
    return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output)
        .addAllAttribute(List.of(attrs)).build();
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
  }

  private static AttributeProto ints(String name, long... v) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
    for (long x : v) {
      a.addInts(x);
    }
    return a.build();
  }

  private static StringStringEntryProto entry(String key, String value) {
    return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
  }

  /** A FLOAT tensor of {@code dims} holding a small ramp. */
  private static TensorProto floats(String name, long... dims) {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    ByteBuffer b = ByteBuffer.allocate((int) (4 * n)).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat(((i * 7) % 11) * 0.05f - 0.2f);
    }
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
        .setRawData(ByteString.copyFrom(b.array()));
    for (long d : dims) {
      t.addDims(d);
    }
    return t.build();
  }

  /** An INT64 vector. */
  private static TensorProto longs(String name, long... values) {
    ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      b.putLong(v);
    }
    return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
        .addDims(values.length).setRawData(ByteString.copyFrom(b.array())).build();
  }
}
