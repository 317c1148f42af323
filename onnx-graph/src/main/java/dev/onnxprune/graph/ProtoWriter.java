package dev.onnxprune.graph;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.onnxprune.graph.proto.Onnx.AttributeProto;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.NodeProto;
import dev.onnxprune.graph.proto.Onnx.OperatorSetIdProto;
import dev.onnxprune.graph.proto.Onnx.SparseTensorProto;
import dev.onnxprune.graph.proto.Onnx.StringStringEntryProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TensorShapeProto;
import dev.onnxprune.graph.proto.Onnx.TypeProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * IR to ONNX protobuf. Parts of the model that were read and not changed are written from
 * the messages they were read as, so a read-write round trip keeps every field, unknown ones
 * included. Writing is atomic: temporary files beside the target, then renames.
 */
final class ProtoWriter {
  private static final int EXTERNAL_ALIGNMENT = 4096;

  private final WriteOptions options;
  private final boolean external;
  private final String dataFileName;
  private FileChannel dataChannel;
  private long dataOffset;

  private ProtoWriter(WriteOptions options, boolean external, String dataFileName) {
    this.options = options;
    this.external = external;
    this.dataFileName = dataFileName;
  }

  static void write(Model model, Path target, WriteOptions options) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    long tensorBytes = tensorBytes(model);
    // AUTO leaves headroom for the graph structure itself.
    boolean external = options.externalData() == WriteOptions.ExternalData.ALWAYS
        || (options.externalData() == WriteOptions.ExternalData.AUTO
            && tensorBytes > WriteOptions.PROTOBUF_LIMIT - (64L << 20));
    if (!external && tensorBytes > WriteOptions.PROTOBUF_LIMIT) {
      throw new IOException(target + ": the model holds " + tensorBytes + " bytes of tensor data, over protobuf's"
          + " 2 GiB limit; write it with external data (WriteOptions.withExternalData())");
    }
    String dataName = options.dataFileName() != null ? options.dataFileName() : target.getFileName() + ".data";
    // the data file an earlier write with external data left beside this target, which this write will no
    // longer use: removed once the new model is in place
    String defaultDataName = target.getFileName() + ".data";
    Path staleData = !(external && dataName.equals(defaultDataName)) && Files.isRegularFile(target)
        && Files.isRegularFile(dir.resolve(defaultDataName)) && references(target, defaultDataName)
        ? dir.resolve(defaultDataName) : null;
    Path modelTmp = AtomicFiles.createTemp(dir, "." + target.getFileName() + ".");
    Path dataTmp = null;
    try {
      ProtoWriter w = new ProtoWriter(options, external, dataName);
      ModelProto proto;
      if (external) {
        dataTmp = AtomicFiles.createTemp(dir, "." + dataName + ".");
        try (FileChannel ch = FileChannel.open(dataTmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
          w.dataChannel = ch;
          proto = w.toProto(model);
          ch.force(false);
        }
      } else {
        proto = w.toProto(model);
      }
      try (FileChannel ch = FileChannel.open(modelTmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
          OutputStream out = Channels.newOutputStream(ch)) {
        CodedOutputStream cos = CodedOutputStream.newInstance(out, 1 << 16);
        proto.writeTo(cos);
        cos.flush();
        ch.force(false);
      }
      if (dataTmp != null) {
        move(dataTmp, dir.resolve(dataName));
        dataTmp = null;
      }
      move(modelTmp, target);
      modelTmp = null;
      if (staleData != null) {
        try {
          Files.deleteIfExists(staleData);
        } catch (IOException e) {
          // still open elsewhere (a platform that cannot delete a mapped file): left in place, unused
        }
      }
    } catch (UncheckedIOException e) {
      throw e.getCause();
    } finally {
      if (modelTmp != null) {
        Files.deleteIfExists(modelTmp);
      }
      if (dataTmp != null) {
        Files.deleteIfExists(dataTmp);
      }
    }
  }

  /** Model files larger than this are not parsed to look for external data references. */
  private static final long REFERENCE_SCAN_LIMIT = 64L << 20;

  /**
   * Whether the ONNX model in {@code modelFile} keeps tensor data in the file {@code dataName}
   * (a tensor's external data location). A model that keeps its weights outside is small, so only
   * files up to {@link #REFERENCE_SCAN_LIMIT} are parsed; a larger or unreadable one counts as not
   * referring to it (the data file is then left alone).
   */
  static boolean references(Path modelFile, String dataName) {
    try {
      if (Files.size(modelFile) > REFERENCE_SCAN_LIMIT) {
        return false;
      }
      return references(ModelProto.parseFrom(Files.readAllBytes(modelFile)).getGraph(), dataName);
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static boolean references(GraphProto g, String dataName) {
    for (TensorProto t : g.getInitializerList()) {
      if (references(t, dataName)) {
        return true;
      }
    }
    for (SparseTensorProto t : g.getSparseInitializerList()) {
      if (references(t.getValues(), dataName) || references(t.getIndices(), dataName)) {
        return true;
      }
    }
    for (NodeProto n : g.getNodeList()) {
      for (AttributeProto a : n.getAttributeList()) {
        if (a.hasT() && references(a.getT(), dataName) || a.hasG() && references(a.getG(), dataName)) {
          return true;
        }
        for (TensorProto t : a.getTensorsList()) {
          if (references(t, dataName)) {
            return true;
          }
        }
        for (GraphProto sub : a.getGraphsList()) {
          if (references(sub, dataName)) {
            return true;
          }
        }
      }
    }
    return false;
  }

  private static boolean references(TensorProto t, String dataName) {
    if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
      return false;
    }
    for (StringStringEntryProto e : t.getExternalDataList()) {
      if (e.getKey().equals("location") && Path.of(e.getValue()).normalize().toString().equals(dataName)) {
        return true;
      }
    }
    return false;
  }

  /** The ModelProto of {@code model}, all data inline (for tests and in-memory sessions). */
  static ModelProto toProtoInline(Model model) {
    return new ProtoWriter(WriteOptions.inline(), false, null).toProto(model);
  }

  private static void move(Path from, Path to) throws IOException {
    AtomicFiles.move(from, to);
  }

  private static long tensorBytes(Model model) {
    long total = 0;
    for (Graph g : model.allGraphs()) {
      for (Value v : g.initializers()) {
        total += v.initializer().byteSize();
      }
    }
    return total;
  }

  private ModelProto toProto(Model m) {
    ModelProto.Builder b = m.protoRest != null ? ((ModelProto) m.protoRest).toBuilder() : ModelProto.newBuilder();
    if (m.irVersion() != null) {
      b.setIrVersion(m.irVersion());
    }
    if (m.opsetOrigin != null && m.opsets().equals(m.opsetsRead)) {
      @SuppressWarnings("unchecked")
      List<OperatorSetIdProto> origin = (List<OperatorSetIdProto>) m.opsetOrigin;
      b.addAllOpsetImport(origin);
    } else {
      for (OpsetId o : m.opsets()) {
        b.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(o.domain()).setVersion(o.version()));
      }
    }
    if (m.producerName() != null) {
      b.setProducerName(m.producerName());
    }
    if (m.producerVersion() != null) {
      b.setProducerVersion(m.producerVersion());
    }
    if (m.domain() != null) {
      b.setDomain(m.domain());
    }
    if (m.modelVersion() != null) {
      b.setModelVersion(m.modelVersion());
    }
    if (m.docString() != null) {
      b.setDocString(m.docString());
    }
    if (m.metadataOrigin != null && m.metadata().equals(m.metadataRead)) {
      @SuppressWarnings("unchecked")
      List<StringStringEntryProto> origin = (List<StringStringEntryProto>) m.metadataOrigin;
      b.addAllMetadataProps(origin);
    } else {
      for (Map.Entry<String, String> e : m.metadata().entrySet()) {
        b.addMetadataProps(StringStringEntryProto.newBuilder().setKey(e.getKey()).setValue(e.getValue()));
      }
    }
    b.setGraph(toProto(m.graph()));
    return b.build();
  }

  private GraphProto toProto(Graph g) {
    GraphProto rest = (GraphProto) g.protoRest;
    GraphProto.Builder b = GraphProto.newBuilder();
    if (rest != null) {
      b.mergeFrom(rest);
    }
    for (Node n : g.nodes()) {
      b.addNode(toProto(n));
    }
    if (g.name() != null) {
      b.setName(g.name());
    }
    for (Value v : g.initializers()) {
      b.addInitializer(toProto(v.initializer(), v.name(), true));
    }
    for (Value v : g.sparseInitializers()) {
      b.addSparseInitializer((SparseTensorProto) v.sparseInitializer);
    }
    if (g.docString() != null) {
      b.setDocString(g.docString());
    }
    ProtoReader.Declarations read = (ProtoReader.Declarations) g.declarationsRead;
    if (read == null) {
      g.inputs().forEach(v -> b.addInput(valueInfo(v)));
      g.outputs().forEach(v -> b.addOutput(valueInfo(v)));
      g.valueInfos().forEach(v -> b.addValueInfo(valueInfo(v)));
    } else {
      b.addAllInput(declarations(g.inputs(), read.inputs(), read));
      b.addAllOutput(declarations(g.outputs(), read.outputs(), read));
      b.addAllValueInfo(valueInfoEntries(g.valueInfos(), read));
    }
    return b.build();
  }

  /**
   * Graph inputs or outputs: each value's own entry as read while the value is unchanged (a
   * value can be declared differently as input, output and in a subgraph), else from the IR.
   */
  private static List<ValueInfoProto> declarations(List<Value> values, List<ProtoReader.Declared> read,
      ProtoReader.Declarations all) {
    List<ValueInfoProto> out = new ArrayList<>(values.size());
    boolean[] used = new boolean[read.size()];
    for (int i = 0; i < values.size(); i++) {
      Value v = values.get(i);
      int match = -1;
      if (i < read.size() && !used[i] && read.get(i).value() == v) {
        match = i; // the common case: nothing moved
      } else {
        for (int j = 0; j < read.size() && match < 0; j++) {
          if (!used[j] && read.get(j).value() == v) {
            match = j;
          }
        }
      }
      if (match >= 0) {
        used[match] = true;
      }
      out.add(match >= 0 && all.unchanged(v) ? asRead(read.get(match).proto(), v) : valueInfo(v));
    }
    return out;
  }

  /**
   * value_info in file order: entries naming nothing in the graph are kept where they were,
   * entries of removed values are dropped, changed values are written from the IR and values
   * given a value_info since reading go last.
   */
  private static List<ValueInfoProto> valueInfoEntries(List<Value> values, ProtoReader.Declarations read) {
    Set<Value> current = Collections.newSetFromMap(new IdentityHashMap<>());
    current.addAll(values);
    Set<Value> written = Collections.newSetFromMap(new IdentityHashMap<>());
    List<ValueInfoProto> out = new ArrayList<>(values.size());
    for (ProtoReader.Declared d : read.valueInfos()) {
      Value v = d.value();
      if (v == null) {
        out.add(d.proto());
      } else if (!current.contains(v)) {
        continue;
      } else if (d.repeat()) {
        if (read.unchanged(v)) {
          out.add(asRead(d.proto(), v)); // a second entry means nothing once the value has changed
        }
      } else if (written.add(v)) {
        out.add(read.unchanged(v) ? asRead(d.proto(), v) : valueInfo(v));
      }
    }
    for (Value v : values) {
      if (written.add(v)) {
        out.add(valueInfo(v));
      }
    }
    return out;
  }

  private static ValueInfoProto asRead(ValueInfoProto proto, Value v) {
    return proto.getName().equals(v.name()) ? proto : proto.toBuilder().setName(v.name()).build();
  }

  private static ValueInfoProto valueInfo(Value v) {
    ValueInfoProto.Builder b = v.infoRest != null ? ((ValueInfoProto) v.infoRest).toBuilder() : ValueInfoProto.newBuilder();
    b.setName(v.name());
    if (v.typeOrigin != null && Objects.equals(v.type(), v.typeRead)) {
      b.setType((TypeProto) v.typeOrigin);
    } else if (v.type() != null) {
      b.setType(toProto(v.type()));
    }
    if (v.docString() != null) {
      b.setDocString(v.docString());
    }
    return b.build();
  }

  static TypeProto toProto(ValueType type) {
    if (type instanceof ValueType.OtherType o) {
      try {
        return TypeProto.parseFrom(o.typeProto());
      } catch (IOException e) {
        throw new IllegalStateException("corrupt carried type " + o.summary(), e);
      }
    }
    ValueType.TensorType t = (ValueType.TensorType) type;
    TypeProto.Tensor.Builder tb = TypeProto.Tensor.newBuilder().setElemType(t.elemType().code());
    if (t.shape() != null) {
      TensorShapeProto.Builder sb = TensorShapeProto.newBuilder();
      for (Dim d : t.shape().dims()) {
        TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
        if (d.value() != null) {
          db.setDimValue(d.value());
        } else if (d.param() != null) {
          db.setDimParam(d.param());
        }
        if (d.denotation() != null) {
          db.setDenotation(d.denotation());
        }
        sb.addDim(db);
      }
      tb.setShape(sb);
    }
    TypeProto.Builder b = TypeProto.newBuilder().setTensorType(tb);
    if (t.denotation() != null) {
      b.setDenotation(t.denotation());
    }
    return b.build();
  }

  private NodeProto toProto(Node n) {
    NodeProto.Builder b = n.protoRest != null ? ((NodeProto) n.protoRest).toBuilder() : NodeProto.newBuilder();
    for (Value in : n.inputs()) {
      b.addInput(in == null ? "" : in.name());
    }
    for (Value out : n.outputs()) {
      b.addOutput(out == null ? "" : out.name());
    }
    if (n.name() != null) {
      b.setName(n.name());
    }
    b.setOpType(n.opType());
    if (n.domainPresent || !n.domain().isEmpty()) {
      b.setDomain(n.domain());
    }
    for (Attribute a : n.attributes()) {
      b.addAttribute(toProto(a));
    }
    if (n.docString() != null) {
      b.setDocString(n.docString());
    }
    return b.build();
  }

  @SuppressWarnings("unchecked")
  private AttributeProto toProto(Attribute a) {
    AttributeProto origin = (AttributeProto) a.protoOrigin;
    switch (a.type()) {
      case GRAPH -> {
        AttributeProto.Builder b = origin != null ? origin.toBuilder() : newAttr(a);
        return b.setG(toProto((Graph) a.value())).build();
      }
      case GRAPHS -> {
        AttributeProto.Builder b = origin != null ? origin.toBuilder() : newAttr(a);
        for (Graph g : (List<Graph>) a.value()) {
          b.addGraphs(toProto(g));
        }
        return b.build();
      }
      case TENSOR -> {
        Tensor t = (Tensor) a.value();
        if (origin != null && t.externalLocation() == null) {
          return origin;
        }
        AttributeProto.Builder b = origin != null ? origin.toBuilder() : newAttr(a);
        return b.setT(toProto(t, t.name(), false)).build();
      }
      case TENSORS -> {
        AttributeProto.Builder b = origin != null ? origin.toBuilder().clearTensors() : newAttr(a);
        for (Tensor t : (List<Tensor>) a.value()) {
          b.addTensors(toProto(t, t.name(), false));
        }
        return b.build();
      }
      default -> {
        if (origin != null) {
          return origin;
        }
      }
    }
    AttributeProto.Builder b = newAttr(a);
    switch (a.type()) {
      case FLOAT -> b.setF((Float) a.value());
      case INT -> b.setI((Long) a.value());
      case STRING -> b.setS((ByteString) a.value());
      case FLOATS -> {
        for (float f : (float[]) a.value()) {
          b.addFloats(f);
        }
      }
      case INTS -> {
        for (long l : (long[]) a.value()) {
          b.addInts(l);
        }
      }
      case STRINGS -> b.addAllStrings((List<ByteString>) a.value());
      default -> throw new IllegalStateException("attribute '" + a.name() + "' of type " + a.type()
          + " has no value to write");
    }
    return b.build();
  }

  private static AttributeProto.Builder newAttr(Attribute a) {
    return AttributeProto.newBuilder().setName(a.name())
        .setType(AttributeProto.AttributeType.forNumber(a.type().code()));
  }

  private TensorProto toProto(Tensor t, String name, boolean mayGoExternal) {
    TensorProto origin = (TensorProto) t.protoOrigin;
    boolean wasExternal = t.externalLocation() != null;
    boolean goesExternal = mayGoExternal && external && dataChannel != null && t.dataType() != DataType.STRING
        && t.byteSize() >= options.externalThreshold();
    if (origin != null && !wasExternal && !goesExternal) {
      if (Objects.equals(name, origin.hasName() ? origin.getName() : null)) {
        return origin;
      }
      return name == null ? origin.toBuilder().clearName().build() : origin.toBuilder().setName(name).build();
    }
    TensorProto.Builder b;
    if (origin != null) {
      // Keep metadata and unknown fields; the data fields are rewritten below.
      b = origin.toBuilder().clearRawData().clearExternalData().clearDataLocation().clearFloatData().clearInt32Data()
          .clearInt64Data().clearDoubleData().clearUint64Data();
    } else {
      b = TensorProto.newBuilder();
      for (long d : t.dims()) {
        b.addDims(d);
      }
      b.setDataType(t.dataType().code());
      if (t.docString() != null) {
        b.setDocString(t.docString());
      }
    }
    if (name != null) {
      b.setName(name);
    } else {
      b.clearName();
    }
    if (goesExternal) {
      ByteBuffer bytes = t.buffer(); // a mapped tensor is written from its mapping, not via the heap
      long length = bytes.remaining();
      long offset = appendExternal(bytes);
      b.setDataLocation(TensorProto.DataLocation.EXTERNAL);
      b.addExternalData(entry("location", dataFileName));
      b.addExternalData(entry("offset", Long.toString(offset)));
      b.addExternalData(entry("length", Long.toString(length)));
    } else if (t.dataType() != DataType.STRING) {
      b.setRawData(t.bytesForWriting());
    }
    return b.build();
  }

  private static StringStringEntryProto entry(String k, String v) {
    return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
  }

  private long appendExternal(ByteBuffer bytes) {
    try {
      long offset = (dataOffset + EXTERNAL_ALIGNMENT - 1) / EXTERNAL_ALIGNMENT * EXTERNAL_ALIGNMENT;
      long length = bytes.remaining();
      dataChannel.position(offset);
      while (bytes.hasRemaining()) {
        dataChannel.write(bytes);
      }
      dataOffset = offset + length;
      return offset;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
