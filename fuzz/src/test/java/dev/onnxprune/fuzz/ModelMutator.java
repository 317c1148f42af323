package dev.onnxprune.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
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
import java.util.List;

/**
 * Protobuf-level mutations of a model, each chosen by the fuzzer's bytes (so an input replays the
 * same mutations): dimensions of values and initializers, attribute values and types, missing
 * initializers and nodes, edges that make cycles, operator types and domains, opset and IR
 * versions, external-data entries (location, offset, length), element types and raw data sizes.
 * Values are drawn from the edges where arithmetic breaks: 0, -1, the int and long limits, 2^31,
 * 2^32, 2^40, values just past a rank.
 */
final class ModelMutator {
  /** The external data file every mutated model may point at, beside the model. */
  static final String DATA_FILE = "weights.bin";

  private static final long[] INTERESTING = {0, 1, -1, 2, -2, 3, 4, 7, -9, 100_000, Integer.MAX_VALUE,
      Integer.MIN_VALUE, 1L << 31, 1L << 32, 1L << 40, (1L << 40) + 1, Long.MAX_VALUE, Long.MIN_VALUE,
      Long.MAX_VALUE - 7, 1_000_000_000_000_000L};

  private static final String[] ATTRIBUTES = {"group", "axis", "axes", "kernel_shape", "strides", "pads", "dilations",
      "perm", "transA", "transB", "epsilon", "momentum", "training_mode", "keepdims", "split", "allowzero", "to",
      "auto_pad", "output_padding", "output_shape", "ceil_mode", "alpha", "beta", "starts", "ends", "value", "mode",
      "num_outputs", "count_include_pad", "storage_order"};

  private static final String[] OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Reshape", "Flatten", "Concat",
      "Split", "Slice", "Transpose", "BatchNormalization", "Add", "Mul", "Sub", "Relu", "MaxPool", "AveragePool",
      "GlobalAveragePool", "Identity", "Squeeze", "Unsqueeze", "Gather", "Pad", "Resize", "LayerNormalization",
      "ReduceMean", "Softmax", "Shape", "Constant", "Expand", "Tile", "Cast", "Dropout", "If", "Loop", "Frobnicate",
      ""};

  private static final String[] LOCATIONS = {DATA_FILE, "missing.bin", "", "../outside.bin", "/etc/passwd", ".",
      "sub/../" + DATA_FILE, DATA_FILE + "\u0000x"};

  private ModelMutator() {}

  /** {@code seed} with 1 to 6 mutations drawn from {@code data}. */
  static ModelProto mutate(ModelProto seed, FuzzedDataProvider data) {
    ModelProto.Builder m = seed.toBuilder();
    int n = data.consumeInt(1, 6);
    for (int i = 0; i < n && data.remainingBytes() > 0; i++) {
      GraphProto.Builder g = m.getGraphBuilder();
      switch (data.consumeInt(0, 15)) {
        case 0 -> valueDim(g, data);
        case 1 -> initializerDims(g, data);
        case 2 -> intAttribute(g, data);
        case 3 -> intsAttribute(g, data);
        case 4 -> attributeType(g, data);
        case 5 -> removeInitializer(g, data);
        case 6 -> removeNode(g, data);
        case 7 -> cycle(g, data);
        case 8 -> opType(g, data);
        case 9 -> versions(m, data);
        case 10 -> externalData(g, data);
        case 11 -> dataType(g, data);
        case 12 -> rawData(g, data);
        case 13 -> inputs(g, data);
        case 14 -> outputs(g, data);
        default -> floatAttribute(g, data);
      }
    }
    return m.build();
  }

  static long interesting(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.pickValue(INTERESTING) : data.consumeLong(-64, 64);
  }

  private static int pick(FuzzedDataProvider data, int size) {
    return size == 0 ? -1 : data.consumeInt(0, size - 1);
  }

  private static void valueDim(GraphProto.Builder g, FuzzedDataProvider data) {
    int kind = data.consumeInt(0, 2);
    List<ValueInfoProto.Builder> list = kind == 0 ? g.getInputBuilderList()
        : kind == 1 ? g.getOutputBuilderList() : g.getValueInfoBuilderList();
    int v = pick(data, list.size());
    if (v < 0 || !list.get(v).getType().hasTensorType()) {
      return;
    }
    TypeProto.Tensor.Builder t = list.get(v).getTypeBuilder().getTensorTypeBuilder();
    TensorShapeProto.Builder s = t.getShapeBuilder();
    switch (data.consumeInt(0, 3)) {
      case 0 -> {
        int d = pick(data, s.getDimCount());
        if (d >= 0) {
          s.setDim(d, TensorShapeProto.Dimension.newBuilder().setDimValue(interesting(data)));
        }
      }
      case 1 -> s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(interesting(data)));
      case 2 -> {
        int d = pick(data, s.getDimCount());
        if (d >= 0) {
          s.removeDim(d);
        }
      }
      default -> t.setElemType(data.consumeInt(0, 26));
    }
  }

  private static void initializerDims(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getInitializerCount());
    if (i < 0) {
      return;
    }
    TensorProto.Builder t = g.getInitializerBuilder(i);
    switch (data.consumeInt(0, 2)) {
      case 0 -> {
        int d = pick(data, t.getDimsCount());
        if (d >= 0) {
          t.setDims(d, interesting(data));
        }
      }
      case 1 -> t.addDims(interesting(data));
      default -> {
        List<Long> dims = new java.util.ArrayList<>(t.getDimsList());
        if (!dims.isEmpty()) {
          dims.remove(pick(data, dims.size()));
          t.clearDims().addAllDims(dims);
        }
      }
    }
  }

  private static AttributeProto.Builder attribute(GraphProto.Builder g, FuzzedDataProvider data, int node) {
    NodeProto.Builder n = g.getNodeBuilder(node);
    String name = data.consumeBoolean() && n.getAttributeCount() > 0
        ? n.getAttribute(pick(data, n.getAttributeCount())).getName() : data.pickValue(ATTRIBUTES);
    for (int i = 0; i < n.getAttributeCount(); i++) {
      if (n.getAttribute(i).getName().equals(name)) {
        return n.getAttributeBuilder(i);
      }
    }
    return n.addAttributeBuilder().setName(name);
  }

  private static void intAttribute(GraphProto.Builder g, FuzzedDataProvider data) {
    int node = pick(data, g.getNodeCount());
    if (node >= 0) {
      attribute(g, data, node).clearInts().setType(AttributeProto.AttributeType.INT).setI(interesting(data));
    }
  }

  private static void intsAttribute(GraphProto.Builder g, FuzzedDataProvider data) {
    int node = pick(data, g.getNodeCount());
    if (node < 0) {
      return;
    }
    AttributeProto.Builder a = attribute(g, data, node).clearI().setType(AttributeProto.AttributeType.INTS);
    int count = data.consumeInt(0, 8);
    if (data.consumeBoolean() && a.getIntsCount() > 0) {
      a.setInts(pick(data, a.getIntsCount()), interesting(data));
      return;
    }
    a.clearInts();
    for (int i = 0; i < count; i++) {
      a.addInts(interesting(data));
    }
  }

  private static void floatAttribute(GraphProto.Builder g, FuzzedDataProvider data) {
    int node = pick(data, g.getNodeCount());
    if (node >= 0) {
      float[] values = {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY, 1e-30f, 1e30f, Float.MIN_VALUE};
      attribute(g, data, node).setType(AttributeProto.AttributeType.FLOAT).setF(data.consumeBoolean()
          ? values[data.consumeInt(0, values.length - 1)] : data.consumeFloat());
    }
  }

  private static void attributeType(GraphProto.Builder g, FuzzedDataProvider data) {
    int node = pick(data, g.getNodeCount());
    if (node < 0 || g.getNode(node).getAttributeCount() == 0) {
      return;
    }
    NodeProto.Builder n = g.getNodeBuilder(node);
    AttributeProto.Builder a = n.getAttributeBuilder(pick(data, n.getAttributeCount()));
    switch (data.consumeInt(0, 3)) {
      case 0 -> {
        AttributeProto.AttributeType t = AttributeProto.AttributeType.forNumber(data.consumeInt(0, 14));
        a.setType(t == null ? AttributeProto.AttributeType.UNDEFINED : t);
      }
      case 1 -> a.clearType();
      case 2 -> a.setS(ByteString.copyFromUtf8(data.consumeString(16))).setType(AttributeProto.AttributeType.STRING);
      default -> a.setName(data.consumeString(12));
    }
  }

  private static void removeInitializer(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getInitializerCount());
    if (i >= 0) {
      g.removeInitializer(i);
    }
  }

  private static void removeNode(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getNodeCount());
    if (i >= 0) {
      g.removeNode(i);
    }
  }

  /** Node {@code i} reads an output of node {@code k >= i}: a cycle, or at least an order ONNX forbids. */
  private static void cycle(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getNodeCount());
    if (i < 0) {
      return;
    }
    int k = data.consumeInt(i, g.getNodeCount() - 1);
    NodeProto.Builder n = g.getNodeBuilder(i);
    if (n.getInputCount() == 0 || g.getNode(k).getOutputCount() == 0) {
      return;
    }
    n.setInput(pick(data, n.getInputCount()), g.getNode(k).getOutput(pick(data, g.getNode(k).getOutputCount())));
  }

  private static void opType(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getNodeCount());
    if (i < 0) {
      return;
    }
    NodeProto.Builder n = g.getNodeBuilder(i);
    if (data.consumeInt(0, 4) == 0) {
      n.setDomain(data.pickValue(new String[] {"", "ai.onnx", "com.microsoft", "com.example", "ai.onnx.ml"}));
    } else {
      n.setOpType(data.pickValue(OPS));
    }
  }

  private static void versions(ModelProto.Builder m, FuzzedDataProvider data) {
    switch (data.consumeInt(0, 3)) {
      case 0 -> m.setIrVersion(interesting(data));
      case 1 -> m.clearIrVersion();
      case 2 -> {
        if (m.getOpsetImportCount() > 0) {
          m.setOpsetImport(0, m.getOpsetImport(0).toBuilder().setVersion(interesting(data)));
        }
      }
      default -> m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(data.consumeString(12))
          .setVersion(interesting(data)));
    }
  }

  /** An initializer's data moved to (or pointing into) {@link #DATA_FILE}, with entries drawn from the input. */
  private static void externalData(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getInitializerCount());
    if (i < 0) {
      return;
    }
    TensorProto.Builder t = g.getInitializerBuilder(i);
    t.clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL).clearExternalData();
    if (data.consumeInt(0, 5) > 0) {
      t.addExternalData(entry("location", data.pickValue(LOCATIONS)));
    }
    if (data.consumeBoolean()) {
      t.addExternalData(entry("offset", data.consumeBoolean() ? Long.toString(interesting(data))
          : data.consumeString(8)));
    }
    if (data.consumeBoolean()) {
      t.addExternalData(entry("length", Long.toString(interesting(data))));
    }
  }

  private static StringStringEntryProto entry(String key, String value) {
    return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
  }

  private static void dataType(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getInitializerCount());
    if (i >= 0) {
      g.getInitializerBuilder(i).setDataType(data.consumeInt(0, 26));
    }
  }

  private static void rawData(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getInitializerCount());
    if (i < 0) {
      return;
    }
    TensorProto.Builder t = g.getInitializerBuilder(i);
    ByteString raw = t.getRawData();
    int len = data.consumeInt(0, Math.max(0, raw.size() + 8));
    t.setRawData(len <= raw.size() ? raw.substring(0, len) : raw.concat(ByteString.copyFrom(new byte[len - raw.size()])));
  }

  private static void inputs(GraphProto.Builder g, FuzzedDataProvider data) {
    int i = pick(data, g.getNodeCount());
    if (i < 0) {
      return;
    }
    NodeProto.Builder n = g.getNodeBuilder(i);
    switch (data.consumeInt(0, 2)) {
      case 0 -> {
        if (n.getInputCount() > 0) {
          List<String> in = new java.util.ArrayList<>(n.getInputList());
          in.remove(pick(data, in.size()));
          n.clearInput().addAllInput(in);
        }
      }
      case 1 -> n.addInput(data.consumeBoolean() || g.getInitializerCount() == 0 ? ""
          : g.getInitializer(pick(data, g.getInitializerCount())).getName());
      default -> {
        if (n.getInputCount() > 0 && g.getInitializerCount() > 0) {
          n.setInput(pick(data, n.getInputCount()), g.getInitializer(pick(data, g.getInitializerCount())).getName());
        }
      }
    }
  }

  private static void outputs(GraphProto.Builder g, FuzzedDataProvider data) {
    switch (data.consumeInt(0, 2)) {
      case 0 -> {
        if (g.getOutputCount() > 0) {
          g.removeOutput(pick(data, g.getOutputCount()));
        }
      }
      case 1 -> {
        int i = pick(data, g.getNodeCount());
        if (i >= 0 && g.getNode(i).getOutputCount() > 0) {
          g.addOutput(ValueInfoProto.newBuilder().setName(g.getNode(i).getOutput(0)));
        }
      }
      default -> {
        int i = pick(data, g.getNodeCount());
        if (i >= 0 && g.getNode(i).getOutputCount() > 0) {
          NodeProto.Builder n = g.getNodeBuilder(i);
          n.setOutput(pick(data, n.getOutputCount()), data.consumeString(6));
        }
      }
    }
  }
}
