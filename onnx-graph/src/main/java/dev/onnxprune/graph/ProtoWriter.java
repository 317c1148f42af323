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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * IR to ONNX protobuf. Parts of the model that were read and not changed are written from
 * the messages they were read as, so a read-write round trip keeps every field, unknown ones
 * included.
 *
 * <p>Writing is atomic, external data included: whatever kills the writer, the target is the
 * complete previous model with its previous data or the complete new model with its new data.
 * The steps ({@link #write}):
 * <ol>
 *   <li>the tensor data goes to a temporary file, hashed as it is written;
 *   <li>the data file's name is made from that hash ({@code out.onnx.<16 hex digits>.data}): a name
 *       no other content has, so the previous model's data file (another name) is never touched;
 *   <li>the model, referring to that name, goes to a temporary file;
 *   <li>the data file is renamed into place: nothing refers to it yet (or, under the same name, the
 *       previous model refers to the very same bytes);
 *   <li>the model is renamed over the target: the one instant the target changes, old to new;
 *   <li>the data files of the previous model that the new one does not use are removed, when they
 *       are this writer's ({@link #removableDataFiles}).
 * </ol>
 * Each temporary file is forced to the disk before its rename, and the folder after it.
 *
 * <p>Test hook: with the system property {@code onnxprune.test.pauseWriteAt} set to a step name
 * ({@code data-partly-written}, {@code data-written}, {@code model-written}, {@code data-renamed},
 * {@code model-renamed}, {@code done}), a writer prints {@code paused at <step>} on stdout when it
 * gets there and waits forever, so that a test can kill it at that step.
 */
final class ProtoWriter {
  private static final int EXTERNAL_ALIGNMENT = 4096;
  private static final byte[] ZEROS = new byte[EXTERNAL_ALIGNMENT];
  /** Hex digits of the data hash in a data file name: 64 bits. */
  private static final int HASH_DIGITS = 16;

  private final WriteOptions options;
  private final boolean external;
  private final String dataFileName;
  /** Where external tensors are written; null when only their offsets are wanted. */
  private FileChannel dataChannel;
  private MessageDigest dataHash;
  private long dataOffset;

  /** Tensors still in their external data files that are written as references to them; null: none. */
  private java.util.function.Predicate<Tensor.FileSlice> referenced;

  private ProtoWriter(WriteOptions options, boolean external, String dataFileName) {
    this.options = options;
    this.external = external;
    this.dataFileName = dataFileName;
  }

  /**
   * The ModelProto of {@code model} with the tensors whose {@link Tensor#fileSlice()} {@code
   * referenced} accepts left in their files (external entries with the file's {@link
   * ExternalDataFile#location()}, relative to its folder), every other tensor inline.
   */
  static ModelProto toProtoReferencing(Model model, java.util.function.Predicate<Tensor.FileSlice> referenced) {
    ProtoWriter w = new ProtoWriter(WriteOptions.inline(), false, null);
    w.referenced = referenced;
    return w.toProto(model);
  }

  /** Writes {@code model} to {@code target}; returns the external data file written, or null (all inline). */
  static Path write(Model model, Path target, WriteOptions options) throws IOException {
    // external data locations are relative to the folder of the model as named, as every loader takes them
    Path named = target.toAbsolutePath();
    Path dir = named.getParent();
    Files.createDirectories(dir);
    Path file = AtomicFiles.target(named, "output"); // a link is written through
    long tensorBytes = tensorBytes(model);
    // AUTO leaves headroom for the graph structure itself.
    boolean external = options.externalData() == WriteOptions.ExternalData.ALWAYS
        || (options.externalData() == WriteOptions.ExternalData.AUTO
            && tensorBytes > WriteOptions.PROTOBUF_LIMIT - (64L << 20));
    if (!external && tensorBytes > WriteOptions.PROTOBUF_LIMIT) {
      throw new IOException(target + ": the model holds " + tensorBytes + " bytes of tensor data, over protobuf's"
          + " 2 GiB limit; write it with external data (WriteOptions.withExternalData())");
    }
    String dataBase = dataBaseName(named, options);
    AtomicFiles.removeStaleTemps(file.getParent(), file.getFileName().toString());
    AtomicFiles.removeStaleTemps(dir, dataBase);
    List<Path> previousData = Files.isRegularFile(file) ? removableDataFiles(named, options) : List.of();
    Path modelTmp = null;
    Path dataTmp = null;
    try {
      String dataName = null;
      if (external) {
        dataTmp = AtomicFiles.createTemp(dir, dataBase);
        try (FileChannel ch = FileChannel.open(dataTmp, StandardOpenOption.WRITE)) {
          ProtoWriter dataPass = new ProtoWriter(options, true, dataBase);
          dataPass.dataChannel = ch;
          dataPass.dataHash = sha256();
          dataPass.toProto(model); // only its data is wanted: the model proto follows, naming the data file
          ch.force(false);
          dataName = hashedName(dataBase, dataPass.dataHash.digest());
        }
        step("data-written");
      }
      ModelProto proto = new ProtoWriter(options, external, dataName).toProto(model);
      modelTmp = AtomicFiles.createTemp(file.getParent(), file.getFileName().toString());
      try (FileChannel ch = FileChannel.open(modelTmp, StandardOpenOption.WRITE);
          OutputStream out = Channels.newOutputStream(ch)) {
        CodedOutputStream cos = CodedOutputStream.newInstance(out, 1 << 16);
        proto.writeTo(cos);
        cos.flush();
        ch.force(false);
      }
      step("model-written");
      if (dataTmp != null) {
        AtomicFiles.move(dataTmp, dir.resolve(dataName));
        dataTmp = null;
        AtomicFiles.syncDirectory(dir);
        step("data-renamed");
      }
      AtomicFiles.move(modelTmp, file);
      modelTmp = null;
      AtomicFiles.syncDirectory(file.getParent());
      step("model-renamed");
      for (Path previous : previousData) {
        if (!previous.getFileName().toString().equals(dataName)) {
          try {
            Files.deleteIfExists(previous);
          } catch (IOException e) {
            // still open elsewhere (a platform that cannot delete a mapped file): left in place, unused
          }
        }
      }
      step("done");
      return dataName == null ? null : dir.resolve(dataName);
    } catch (UncheckedIOException e) {
      throw AtomicFiles.cannotWrite(dataTmp != null ? dir.resolve(dataBase) : file, e.getCause());
    } catch (IOException e) {
      throw AtomicFiles.cannotWrite(dataTmp != null && modelTmp == null ? dir.resolve(dataBase) : file, e);
    } finally {
      if (modelTmp != null) {
        Files.deleteIfExists(modelTmp);
      }
      if (dataTmp != null) {
        Files.deleteIfExists(dataTmp);
      }
    }
  }

  /** The name data file names are made from: the option's, or "{model file name}.data". */
  private static String dataBaseName(Path named, WriteOptions options) {
    return options.dataFileName() != null ? options.dataFileName() : named.getFileName() + ".data";
  }

  /** {@code base} with the hash inserted before its extension: "m.onnx.data" becomes "m.onnx.<hash>.data". */
  static String hashedName(String base, byte[] hash) {
    String hex = HexFormat.of().formatHex(hash, 0, HASH_DIGITS / 2);
    int dot = base.lastIndexOf('.');
    return dot > 0 ? base.substring(0, dot) + "." + hex + base.substring(dot) : base + "." + hex;
  }

  /** Whether {@code fileName} is {@code base} with a hash inserted by {@link #hashedName}. */
  private static boolean isHashedName(String base, String fileName) {
    int dot = base.lastIndexOf('.');
    String stem = dot > 0 ? base.substring(0, dot) : base;
    String ext = dot > 0 ? base.substring(dot) : "";
    return fileName.length() == stem.length() + 1 + HASH_DIGITS + ext.length() && fileName.startsWith(stem + ".")
        && fileName.endsWith(ext)
        && fileName.substring(stem.length() + 1, stem.length() + 1 + HASH_DIGITS).matches("[0-9a-f]+");
  }

  /**
   * The data files of the model now at {@code named} (an absolute path) that a write there removes
   * once the new model is in place, unless the new model uses them too: those the model refers to
   * that this writer names for this target, beside it: {@code <model name>.data} (as earlier
   * versions named it) or that name with a data hash inserted, or the hashed form of {@code options}'
   * data file name. A data file that another tool or the user named is never removed.
   */
  static List<Path> removableDataFiles(Path named, WriteOptions options) {
    String plain = named.getFileName() + ".data";
    String base = dataBaseName(named, options);
    List<Path> ours = new ArrayList<>();
    for (Path p : ProtoReader.externalDataFiles(named)) {
      String name = p.getFileName().toString();
      if (named.getParent().equals(p.getParent())
          && (name.equals(plain) || isHashedName(plain, name) || isHashedName(base, name))) {
        ours.add(p);
      }
    }
    return ours;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /** The ModelProto of {@code model}, all data inline (for tests and in-memory sessions). */
  static ModelProto toProtoInline(Model model) {
    return new ProtoWriter(WriteOptions.inline(), false, null).toProto(model);
  }

  /** The test hook of the class comment: pauses at {@code name} when the system property names it. */
  private static void step(String name) {
    if (!name.equals(System.getProperty("onnxprune.test.pauseWriteAt"))) {
      return;
    }
    System.out.println("paused at " + name);
    System.out.flush();
    while (true) {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  static long tensorBytes(Model model) {
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
    boolean wasExternal = t.externalLocation() != null || (referenced != null && t.fileSlice() != null);
    boolean goesExternal = mayGoExternal && external && t.dataType() != DataType.STRING
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
    if (referenced != null && t.fileSlice() != null && referenced.test(t.fileSlice())) {
      Tensor.FileSlice f = t.fileSlice();
      b.setDataLocation(TensorProto.DataLocation.EXTERNAL);
      b.addExternalData(entry("location", f.file().location()));
      b.addExternalData(entry("offset", Long.toString(f.offset())));
      b.addExternalData(entry("length", Long.toString(f.length())));
    } else if (goesExternal) {
      long length = t.byteSize();
      long offset = appendExternal(t);
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

  /** Bytes a writer hands the data file at a time: a heap buffer is written in pieces of this size. */
  private static final int CHUNK = 4 << 20;

  /**
   * The offset {@code t}'s bytes get in the data file (aligned); written there, and hashed with
   * the alignment's zeros, when this pass writes the data. The bytes go in chunks of {@link
   * #CHUNK}: external data is streamed from its file, and a heap buffer written whole would make
   * the JDK copy it into a temporary native buffer of its full size, kept per thread.
   */
  private long appendExternal(Tensor t) {
    long offset = (dataOffset + EXTERNAL_ALIGNMENT - 1) / EXTERNAL_ALIGNMENT * EXTERNAL_ALIGNMENT;
    long length = t.byteSize();
    if (dataChannel != null) {
      try {
        dataHash.update(ZEROS, 0, (int) (offset - dataOffset));
        dataChannel.position(offset);
        t.forEachChunk(CHUNK, bytes -> {
          dataHash.update(bytes.duplicate());
          try {
            while (bytes.hasRemaining()) {
              dataChannel.write(bytes);
            }
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      step("data-partly-written");
    }
    dataOffset = offset + length;
    return offset;
  }
}
