package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertNull;

import com.google.protobuf.ByteString;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.conformance.ProtoDiff;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.OperatorSetIdProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TensorShapeProto;
import dev.onnxprune.graph.proto.Onnx.TypeProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Hand-built ONNX messages for serde tests (test code may use the generated classes). */
final class Protos {
  private Protos() {}

  static ValueInfoProto tensorInfo(String name, int elemType, long... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : dims) {
      shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder().setName(name)
        .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)))
        .build();
  }

  static ValueInfoProto floatInfo(String name, long... dims) {
    return tensorInfo(name, TensorProto.DataType.FLOAT_VALUE, dims);
  }

  static NodeProto node(String op, String name, List<String> inputs, List<String> outputs, AttributeProto... attrs) {
    return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addAllOutput(outputs)
        .addAllAttribute(List.of(attrs)).build();
  }

  static TensorProto floatTensor(String name, long[] dims, float... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
        .setRawData(ByteString.copyFrom(b.array()));
    for (long d : dims) {
      t.addDims(d);
    }
    return t.build();
  }

  static ModelProto model(GraphProto graph, long opset) {
    return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnxprune-tests")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).setGraph(graph).build();
  }

  static Path write(Path file, ModelProto model) throws IOException {
    Files.write(file, model.toByteArray());
    return file;
  }

  static ModelProto parse(Path file) throws IOException {
    return ModelProto.parseFrom(Files.readAllBytes(file));
  }

  /** Writes {@code model} to a file, reads and writes it with our serde, and asserts the result equals it. */
  static ModelProto assertRoundTripsExactly(ModelProto model, Path dir) throws IOException {
    Path in = write(dir.resolve("in.onnx"), model);
    Path out = dir.resolve("out.onnx");
    OnnxModels.write(OnnxModels.read(in), out);
    ModelProto written = parse(out);
    assertNull(ProtoDiff.firstDifference(model, written), "round trip changed the model");
    return written;
  }
}
