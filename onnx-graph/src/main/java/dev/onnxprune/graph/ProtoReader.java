package dev.onnxprune.graph;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
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
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * ONNX protobuf to IR. With {@link ProtoWriter}, the only code that touches generated
 * messages. The model file is memory-mapped and parsed with aliasing: protobuf-java 4 copies
 * a direct buffer into one heap array before parsing, and every raw_data ByteString aliases
 * that array, so an inline model costs one copy of the file on the heap, never two. External
 * data files stay mapped, off the heap (see {@link Tensor}).
 */
final class ProtoReader {
  /**
   * One input, output or value_info entry of a graph as read, and the value it declares (null
   * when it names nothing in its graph). {@code repeat} marks a second value_info entry for the
   * same value.
   */
  record Declared(ValueInfoProto proto, Value value, boolean repeat) {}

  /** A value's type and doc string when reading finished; declarations are verbatim while these hold. */
  record InfoRead(ValueType type, String docString) {}

  /** Every declaration of one graph as read ({@link Graph#declarationsRead}). */
  record Declarations(List<Declared> inputs, List<Declared> outputs, List<Declared> valueInfos,
      Map<Value, InfoRead> infoRead) {
    /** True when {@code v} still has the type and doc string it was read with. */
    boolean unchanged(Value v) {
      InfoRead r = infoRead.get(v);
      return r != null && Objects.equals(r.type(), v.type()) && Objects.equals(r.docString(), v.docString());
    }
  }

  private final Path file;
  private final Path baseDir;
  /** Values that have had their first declaration; later ones do not override its info. */
  private final Set<Value> declared = Collections.newSetFromMap(new IdentityHashMap<>());

  private ProtoReader(Path file) {
    this.file = file;
    Path parent = file == null ? null : file.toAbsolutePath().getParent();
    this.baseDir = parent;
  }

  static Model read(Path file) throws IOException {
    ByteBuffer bytes = map(file);
    return new ProtoReader(file).parse(bytes);
  }

  static Model read(byte[] bytes, Path nameForMessages) throws IOException {
    return new ProtoReader(nameForMessages).parse(ByteBuffer.wrap(bytes));
  }

  /** Model files larger than this are not parsed for their external data files. */
  static final long LOCATION_SCAN_LIMIT = 64L << 20;

  /**
   * The external data files the model in {@code file} refers to, each resolved against the folder
   * of {@code file} as named, in order of first use. A model that keeps its weights outside is
   * small, so only files up to {@link #LOCATION_SCAN_LIMIT} bytes are parsed; a larger file, a
   * missing one or one that is not a model counts as referring to none.
   */
  static List<Path> externalDataFiles(Path file) {
    Set<String> locations = new java.util.LinkedHashSet<>();
    try {
      if (!Files.isRegularFile(file) || Files.size(file) > LOCATION_SCAN_LIMIT) {
        return List.of();
      }
      collectLocations(new ProtoReader(file).parseModelProto(map(file)).getGraph(), locations);
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
    Path dir = file.toAbsolutePath().getParent();
    List<Path> out = new ArrayList<>();
    for (String location : locations) {
      try {
        out.add(dir.resolve(location));
      } catch (java.nio.file.InvalidPathException e) {
        // not a path (a NUL character): no file it could be; reading the model says so
      }
    }
    return out;
  }

  private static void collectLocations(GraphProto g, Set<String> into) {
    g.getInitializerList().forEach(t -> collectLocation(t, into));
    for (SparseTensorProto s : g.getSparseInitializerList()) {
      collectLocation(s.getValues(), into);
      collectLocation(s.getIndices(), into);
    }
    for (NodeProto n : g.getNodeList()) {
      for (AttributeProto a : n.getAttributeList()) {
        if (a.hasT()) {
          collectLocation(a.getT(), into);
        }
        a.getTensorsList().forEach(t -> collectLocation(t, into));
        if (a.hasG()) {
          collectLocations(a.getG(), into);
        }
        a.getGraphsList().forEach(sub -> collectLocations(sub, into));
      }
    }
  }

  private static void collectLocation(TensorProto t, Set<String> into) {
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      for (StringStringEntryProto e : t.getExternalDataList()) {
        if (e.getKey().equals("location") && !e.getValue().isEmpty()) {
          into.add(e.getValue());
        }
      }
    }
  }

  /** Parses only the protobuf (no IR), for benchmarks and tests. */
  static ModelProto parseProto(Path file) throws IOException {
    return new ProtoReader(file).parseModelProto(map(file));
  }

  /** Model files from this size on are mapped, smaller ones read onto the heap. */
  private static final long MAP_FROM = 64L << 20;

  private static ByteBuffer map(Path file) throws IOException {
    if (!Files.exists(file)) {
      throw new ModelFormatException(file, "no such file");
    }
    if (Files.isDirectory(file)) {
      throw new ModelFormatException(file, "is a directory, not an ONNX model file");
    }
    // a FIFO would block the open until a writer comes, a device would never end: refused unopened
    String kind = AtomicFiles.notRegular(file.toRealPath());
    if (kind != null) {
      throw new ModelFormatException(file, "is " + kind + ", not a regular file; an ONNX model must be a file");
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size == 0) {
        throw new ModelFormatException(file, "empty file, not an ONNX model");
      }
      if (size > Integer.MAX_VALUE) {
        throw new ModelFormatException(file, "is " + size + " bytes; a protobuf file is limited to 2 GiB"
            + " (larger models keep their weights in external data files)");
      }
      if (size < MAP_FROM) {
        // a small file is read: each mapping holds one of the process's limited map areas
        // (vm.max_map_count) until the buffer is collected; 100,000 reads in one JVM ran out
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && ch.read(b) >= 0) {
          // read to the end
        }
        if (b.hasRemaining()) {
          throw new ModelFormatException(file, "changed while being read (" + b.position() + " of " + size + " bytes)");
        }
        return b.flip();
      }
      return ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
    } catch (NoSuchFileException e) {
      throw new ModelFormatException(file, "no such file", e);
    }
  }

  private ModelProto parseModelProto(ByteBuffer bytes) throws ModelFormatException {
    ModelProto proto;
    try {
      CodedInputStream in = CodedInputStream.newInstance(bytes);
      in.enableAliasing(true);
      in.setSizeLimit(Integer.MAX_VALUE);
      in.setRecursionLimit(1000);
      proto = ModelProto.parseFrom(in);
    } catch (InvalidProtocolBufferException e) {
      throw new ModelFormatException(file, "not a valid ONNX model: the protobuf is truncated or corrupt ("
          + e.getMessage() + ")", e);
    } catch (IOException e) {
      throw new ModelFormatException(file, "cannot parse: " + e.getMessage(), e);
    }
    if (!proto.hasGraph()) {
      throw new ModelFormatException(file, "not an ONNX model: no graph (ModelProto field 7) found"
          + (proto.hasIrVersion() ? "" : " and no ir_version"));
    }
    return proto;
  }

  private Model parse(ByteBuffer bytes) throws ModelFormatException {
    ModelProto proto = parseModelProto(bytes);
    try {
      return toModel(proto);
    } catch (ModelFormatException e) {
      throw e;
    } catch (GraphException | IllegalArgumentException | UncheckedIOException e) {
      throw new ModelFormatException(file, e.getMessage(), e);
    } finally {
      closeExternalFiles();
    }
  }

  private Model toModel(ModelProto p) throws ModelFormatException {
    Graph g = toGraph(p.getGraph(), null);
    Model m = new Model(g);
    m.setSource(file);
    if (p.hasIrVersion()) {
      m.setIrVersion(p.getIrVersion());
    }
    for (OperatorSetIdProto o : p.getOpsetImportList()) {
      m.opsets().add(new OpsetId(o.getDomain(), o.getVersion()));
    }
    m.opsetOrigin = p.getOpsetImportList();
    m.opsetsRead = List.copyOf(m.opsets());
    if (p.hasProducerName()) {
      m.setProducerName(p.getProducerName());
    }
    if (p.hasProducerVersion()) {
      m.setProducerVersion(p.getProducerVersion());
    }
    if (p.hasDomain()) {
      m.setDomain(p.getDomain());
    }
    if (p.hasModelVersion()) {
      m.setModelVersion(p.getModelVersion());
    }
    if (p.hasDocString()) {
      m.setDocString(p.getDocString());
    }
    for (StringStringEntryProto e : p.getMetadataPropsList()) {
      m.metadata().put(e.getKey(), e.getValue());
    }
    m.metadataOrigin = p.getMetadataPropsList();
    m.metadataRead = new LinkedHashMap<>(m.metadata());
    for (Graph graph : m.allGraphs()) {
      Declarations d = (Declarations) graph.declarationsRead;
      for (List<Declared> list : List.of(d.inputs(), d.outputs(), d.valueInfos())) {
        for (Declared e : list) {
          if (e.value() != null) {
            d.infoRead().putIfAbsent(e.value(), new InfoRead(e.value().type(), e.value().docString()));
          }
        }
      }
    }
    ModelProto rest = p.toBuilder().clearIrVersion().clearOpsetImport().clearProducerName().clearProducerVersion()
        .clearDomain().clearModelVersion().clearDocString().clearGraph().clearMetadataProps().build();
    m.protoRest = rest.equals(ModelProto.getDefaultInstance()) ? null : rest;
    return m;
  }

  private Graph toGraph(GraphProto p, Node parent) throws ModelFormatException {
    Graph g = new Graph(p.hasName() ? p.getName() : null);
    if (parent != null) {
      g.setParent(parent);
    }
    if (p.hasDocString()) {
      g.setDocString(p.getDocString());
    }
    String where = parent == null ? "graph '" + g.name() + "'" : "subgraph '" + g.name() + "' of " + parent.describe();
    for (TensorProto t : p.getInitializerList()) {
      if (t.getName().isEmpty()) {
        throw new ModelFormatException(file, where + ": an initializer has no name");
      }
      Value v = define(g, t.getName(), where, "initializer");
      Tensor tensor = toTensor(t);
      v.initializerInternal(tensor);
      v.setType(new ValueType.TensorType(tensor.dataType(), tensor.shape()));
      g.addInitializerValue(v);
    }
    for (SparseTensorProto s : p.getSparseInitializerList()) {
      Value v = define(g, s.getValues().getName(), where, "sparse initializer");
      v.sparseInitializer = s;
      g.addSparseInitializerValue(v);
    }
    Declarations decl = new Declarations(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(),
        new IdentityHashMap<>());
    g.declarationsRead = decl;
    for (ValueInfoProto vi : p.getInputList()) {
      Value v = g.value(vi.getName());
      if (v == null || !(v.isInitializer() || v.isSparseInitializer())) {
        v = define(g, vi.getName(), where, "graph input");
      }
      applyInfo(v, vi);
      g.addInputValue(v);
      decl.inputs().add(new Declared(vi, v, false));
    }
    // Pass 1: create nodes and define their outputs, so subgraphs and unsorted files resolve.
    List<Node> nodes = new ArrayList<>(p.getNodeCount());
    for (NodeProto np : p.getNodeList()) {
      Node n = g.newParsedNode(np.hasName() ? np.getName() : null, np.getOpType(), np.hasDomain() ? np.getDomain() : null);
      for (String out : np.getOutputList()) {
        n.attachOutput(out.isEmpty() ? null : define(g, out, where, "output of " + n.describe()));
      }
      nodes.add(n);
      g.appendParsedNode(n);
    }
    // Pass 2: attributes (subgraphs see every outer value) and input edges.
    for (int i = 0; i < nodes.size(); i++) {
      NodeProto np = p.getNode(i);
      Node n = nodes.get(i);
      if (np.hasDocString()) {
        n.setDocString(np.getDocString());
      }
      for (AttributeProto ap : np.getAttributeList()) {
        n.setAttribute(toAttribute(ap, n));
      }
      for (String in : np.getInputList()) {
        if (in.isEmpty()) {
          n.addInput(null);
          continue;
        }
        Value v = g.lookup(in);
        if (v == null) {
          throw new ModelFormatException(file, where + ": " + n.describe() + " reads '" + in
              + "', which no graph input, initializer or node output defines");
        }
        n.addInput(v);
      }
      NodeProto rest = np.toBuilder().clearInput().clearOutput().clearName().clearOpType().clearDomain()
          .clearAttribute().clearDocString().build();
      n.protoRest = rest.equals(NodeProto.getDefaultInstance()) ? null : rest;
    }
    for (ValueInfoProto vi : p.getOutputList()) {
      Value v = g.lookup(vi.getName());
      if (v == null) {
        throw new ModelFormatException(file, where + ": graph output '" + vi.getName() + "' is not defined");
      }
      if (v.graph == g) {
        applyInfo(v, vi); // an outer value keeps its own declaration's info
      }
      g.addOutput(v);
      decl.outputs().add(new Declared(vi, v, false));
    }
    Set<Value> withValueInfo = Collections.newSetFromMap(new IdentityHashMap<>());
    for (ValueInfoProto vi : p.getValueInfoList()) {
      Value v = g.value(vi.getName());
      if (v == null) {
        decl.valueInfos().add(new Declared(vi, null, false)); // names nothing here: carried as read
      } else if (!withValueInfo.add(v)) {
        decl.valueInfos().add(new Declared(vi, v, true));
      } else {
        applyInfo(v, vi);
        g.addValueInfo(v);
        decl.valueInfos().add(new Declared(vi, v, false));
      }
    }
    GraphProto r = p.toBuilder().clearNode().clearName().clearInitializer().clearSparseInitializer()
        .clearDocString().clearInput().clearOutput().clearValueInfo().build();
    g.protoRest = r.equals(GraphProto.getDefaultInstance()) ? null : r;
    return g;
  }

  private Value define(Graph g, String name, String where, String what) throws ModelFormatException {
    if (g.value(name) != null) {
      throw new ModelFormatException(file, where + ": value '" + name + "' is defined twice (again as " + what + ")");
    }
    return g.defineValue(name);
  }

  /**
   * Takes a value's type, doc string and other fields from its first declaration; a later one
   * (value_info for a graph input, a repeated entry) only supplies a type the value lacks.
   */
  private void applyInfo(Value v, ValueInfoProto vi) {
    if (!declared.add(v)) {
      if (v.type() == null && vi.hasType()) {
        ValueType t = toType(vi.getType());
        v.setType(t);
        v.typeOrigin = vi.getType();
        v.typeRead = t;
      }
      return;
    }
    if (vi.hasType()) {
      ValueType t = toType(vi.getType());
      v.setType(t);
      v.typeOrigin = vi.getType();
      v.typeRead = t;
    }
    if (vi.hasDocString()) {
      v.setDocString(vi.getDocString());
    }
    ValueInfoProto rest = vi.toBuilder().clearName().clearType().clearDocString().build();
    v.infoRest = rest.equals(ValueInfoProto.getDefaultInstance()) ? null : rest;
  }

  static ValueType toType(TypeProto t) {
    if (t.hasTensorType()) {
      TypeProto.Tensor tt = t.getTensorType();
      DataType dt = DataType.fromCode(tt.getElemType());
      Shape shape = tt.hasShape() ? toShape(tt.getShape()) : null;
      if (dt != null) {
        return new ValueType.TensorType(dt, shape, t.hasDenotation() ? t.getDenotation() : null);
      }
    }
    return new ValueType.OtherType(t.toByteString(), t.getValueCase().name().toLowerCase());
  }

  private static Shape toShape(TensorShapeProto s) {
    List<Dim> dims = new ArrayList<>(s.getDimCount());
    for (TensorShapeProto.Dimension d : s.getDimList()) {
      String den = d.hasDenotation() ? d.getDenotation() : null;
      if (d.hasDimValue()) {
        dims.add(new Dim(d.getDimValue(), null, den));
      } else if (d.hasDimParam()) {
        dims.add(new Dim(null, d.getDimParam(), den));
      } else {
        dims.add(new Dim(null, null, den));
      }
    }
    return Shape.of(dims);
  }

  private Attribute toAttribute(AttributeProto a, Node owner) throws ModelFormatException {
    AttributeType type = a.hasType() ? AttributeType.fromCode(a.getType().getNumber()) : inferType(a);
    if (type == null) {
      type = AttributeType.UNDEFINED;
    }
    Object value;
    Object origin = a;
    switch (type) {
      case FLOAT -> value = a.getF();
      case INT -> value = a.getI();
      case STRING -> value = a.getS();
      case TENSOR -> value = toTensor(a.getT());
      case GRAPH -> {
        value = toGraph(a.getG(), owner);
        origin = a.toBuilder().clearG().build();
      }
      case FLOATS -> {
        float[] f = new float[a.getFloatsCount()];
        for (int i = 0; i < f.length; i++) {
          f[i] = a.getFloats(i);
        }
        value = f;
      }
      case INTS -> {
        long[] l = new long[a.getIntsCount()];
        for (int i = 0; i < l.length; i++) {
          l[i] = a.getInts(i);
        }
        value = l;
      }
      case STRINGS -> value = List.copyOf(a.getStringsList());
      case TENSORS -> {
        List<Tensor> ts = new ArrayList<>();
        for (TensorProto t : a.getTensorsList()) {
          ts.add(toTensor(t));
        }
        value = List.copyOf(ts);
      }
      case GRAPHS -> {
        List<Graph> gs = new ArrayList<>();
        for (GraphProto gp : a.getGraphsList()) {
          gs.add(toGraph(gp, owner));
        }
        value = List.copyOf(gs);
        origin = a.toBuilder().clearGraphs().build();
      }
      default -> value = null; // sparse tensors, type protos, references: carried in origin
    }
    return new Attribute(a.getName(), type, value, origin);
  }

  private static AttributeType inferType(AttributeProto a) {
    if (a.hasF()) {
      return AttributeType.FLOAT;
    } else if (a.hasI()) {
      return AttributeType.INT;
    } else if (a.hasS()) {
      return AttributeType.STRING;
    } else if (a.hasT()) {
      return AttributeType.TENSOR;
    } else if (a.hasG()) {
      return AttributeType.GRAPH;
    } else if (a.getFloatsCount() > 0) {
      return AttributeType.FLOATS;
    } else if (a.getIntsCount() > 0) {
      return AttributeType.INTS;
    } else if (a.getStringsCount() > 0) {
      return AttributeType.STRINGS;
    } else if (a.getTensorsCount() > 0) {
      return AttributeType.TENSORS;
    } else if (a.getGraphsCount() > 0) {
      return AttributeType.GRAPHS;
    }
    return AttributeType.UNDEFINED;
  }

  Tensor toTensor(TensorProto t) throws ModelFormatException {
    DataType dt = DataType.fromCode(t.getDataType());
    if (dt == null) {
      dt = DataType.UNDEFINED;
    }
    long[] dims = new long[t.getDimsCount()];
    long count = 1;
    for (int i = 0; i < dims.length; i++) {
      dims[i] = t.getDims(i);
      if (dims[i] < 0) {
        throw new ModelFormatException(file, "tensor '" + t.getName() + "' has a negative dimension " + dims[i]);
      }
      try {
        count = Math.multiplyExact(count, dims[i]);
        Math.multiplyExact(count, 16L); // byteSize must not overflow either
      } catch (ArithmeticException e) {
        throw new ModelFormatException(file, "tensor '" + t.getName() + "' has dims "
            + java.util.Arrays.toString(t.getDimsList().toArray()) + ", too many elements");
      }
    }
    String name = t.hasName() ? t.getName() : null;
    String doc = t.hasDocString() ? t.getDocString() : null;
    long expected = dt.byteSize(count);
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      Tensor.ExternalLocation loc = externalLocation(t, expected);
      // Opened now, not on first use: a data file replaced after reading must not change this model.
      return Tensor.external(name, dt, dims, doc, openExternal(t, loc), loc, t);
    }
    if (t.hasRawData()) {
      if (dt != DataType.STRING && dt != DataType.UNDEFINED && !t.hasSegment() && t.getRawData().size() != expected) {
        throw new ModelFormatException(file, "tensor '" + t.getName() + "' " + dt + java.util.Arrays.toString(dims)
            + " needs " + expected + " bytes of raw_data, the file has " + t.getRawData().size());
      }
      return new Tensor(name, dt, dims, doc, t.getRawData(), null, null, t);
    }
    if (!t.hasSegment()) {
      String problem = typedDataProblem(t, dt, count);
      if (problem != null) {
        throw new ModelFormatException(file, "tensor '" + t.getName() + "' " + dt + java.util.Arrays.toString(dims)
            + " " + problem);
      }
    }
    final DataType type = dt;
    final long elements = count;
    return new Tensor(name, dt, dims, doc, null, () -> decodeTyped(t, type, elements), null, t);
  }

  /**
   * Null when the typed field that ONNX assigns to {@code dt} holds exactly the elements the
   * dims need (checked here so a corrupt file fails at read, not when the data is first used).
   */
  private static String typedDataProblem(TensorProto t, DataType dt, long count) {
    String field;
    int have;
    long want = count;
    switch (dt) {
      case FLOAT, COMPLEX64 -> {
        field = "float_data";
        have = t.getFloatDataCount();
        want = dt == DataType.COMPLEX64 ? 2 * count : count;
      }
      case DOUBLE, COMPLEX128 -> {
        field = "double_data";
        have = t.getDoubleDataCount();
        want = dt == DataType.COMPLEX128 ? 2 * count : count;
      }
      case INT64 -> {
        field = "int64_data";
        have = t.getInt64DataCount();
      }
      case UINT64, UINT32 -> {
        field = "uint64_data";
        have = t.getUint64DataCount();
      }
      case STRING -> {
        field = "string_data";
        have = t.getStringDataCount();
      }
      case UNDEFINED -> {
        return null;
      }
      case INT4, UINT4, FLOAT4E2M1, INT2, UINT2 -> {
        field = "int32_data (packed bytes)";
        have = t.getInt32DataCount();
        want = dt.byteSize(count);
      }
      default -> {
        field = "int32_data";
        have = t.getInt32DataCount();
      }
    }
    return have == want ? null : "has " + have + " values in " + field + ", its dims need " + want;
  }

  private Tensor.ExternalLocation externalLocation(TensorProto t, long expected) throws ModelFormatException {
    String location = null;
    long offset = 0;
    long length = -1;
    for (StringStringEntryProto e : t.getExternalDataList()) {
      try {
        switch (e.getKey()) {
          case "location" -> location = e.getValue();
          case "offset" -> offset = Long.parseLong(e.getValue());
          case "length" -> length = Long.parseLong(e.getValue());
          default -> { }
        }
      } catch (NumberFormatException ex) {
        throw new ModelFormatException(file, "tensor '" + t.getName() + "': external_data " + e.getKey()
            + " is not a number: '" + e.getValue() + "'");
      }
    }
    if (location == null || location.isEmpty()) {
      throw new ModelFormatException(file, "tensor '" + t.getName() + "' is EXTERNAL but has no location");
    }
    if (length < 0) {
      length = expected;
    }
    Path real = dataFile(t, location);
    Path dataFile = namedDataFile(location);
    long size;
    try {
      size = Files.size(real);
    } catch (IOException e) {
      throw unreadable(t, dataFile, e);
    }
    if (offset < 0 || offset > size || length > size - offset) { // no offset + length: it may overflow
      throw new ModelFormatException(file, "tensor '" + t.getName() + "': external data file " + dataFile
          + " has " + size + " bytes, the tensor needs " + (length >= 0 && offset <= Long.MAX_VALUE - length
              ? "bytes [" + offset + ", " + (offset + length) + ")" : length + " bytes from offset " + offset));
    }
    if (length != expected && t.getDataType() != TensorProto.DataType.STRING_VALUE) {
      throw new ModelFormatException(file, "tensor '" + t.getName() + "': external data length " + length
          + " does not match its " + expected + " bytes");
    }
    return new Tensor.ExternalLocation(location, offset, length);
  }

  /** The external data files opened by this read, by real path; the model's tensors keep them open. */
  private final Map<Path, ExternalDataFile> externalFiles = new HashMap<>();

  /** Real paths of the external data files by location, checked once each. */
  private final Map<String, Path> dataFiles = new HashMap<>();
  private Path realBaseDir;

  /**
   * The real path of the external data file at {@code location}: inside the model's folder, also
   * after symbolic links are followed (ONNX Runtime refuses the same: "External data path escapes
   * model directory"), so a link in the model's folder cannot make any file on the machine a weight.
   * Data is read from this path, not through the links again.
   */
  private Path dataFile(TensorProto t, String location) throws ModelFormatException {
    Path known = dataFiles.get(location);
    if (known != null) {
      return known;
    }
    Path relative;
    try {
      relative = Path.of(location);
    } catch (java.nio.file.InvalidPathException e) {
      throw new ModelFormatException(file, "tensor '" + t.getName() + "': external data location '" + location
          + "' is not a path (" + e.getReason() + ")");
    }
    if (relative.isAbsolute() || relative.normalize().startsWith("..")) {
      throw new ModelFormatException(file, "tensor '" + t.getName() + "': external data location '" + location
          + "' must be a path relative to the model's folder and inside it (ONNX forbids absolute and '..' paths)");
    }
    Path dataFile = namedDataFile(location);
    Path real;
    try {
      if (realBaseDir == null) {
        realBaseDir = folder().toRealPath();
      }
      real = dataFile.toRealPath();
    } catch (IOException e) {
      throw unreadable(t, dataFile, e);
    }
    if (!real.startsWith(realBaseDir)) {
      throw new ModelFormatException(file, "tensor '" + t.getName() + "': external data location '" + location
          + "' leads to " + real + ", outside the model's folder " + realBaseDir + " (through a symbolic link);"
          + " external data must stay inside the model's folder (ONNX Runtime refuses it too)");
    }
    dataFiles.put(location, real);
    return real;
  }

  private ModelFormatException unreadable(TensorProto t, Path dataFile, IOException e) {
    return e instanceof NoSuchFileException
        ? new ModelFormatException(file, "tensor '" + t.getName() + "': external data file " + dataFile
            + " does not exist", e)
        : new ModelFormatException(file, "tensor '" + t.getName() + "': cannot read external data file " + dataFile
            + ": " + e.getMessage(), e);
  }

  /** The folder external data locations are relative to: the model file's as named, as ONNX Runtime takes it. */
  private Path folder() {
    return baseDir == null ? Path.of("").toAbsolutePath() : baseDir;
  }

  /** The external data file at {@code location} as the model names it (for messages). */
  private Path namedDataFile(String location) {
    return folder().resolve(location);
  }

  private Tensor.FileSlice openExternal(TensorProto t, Tensor.ExternalLocation loc) throws ModelFormatException {
    Path real = dataFile(t, loc.location());
    ExternalDataFile f = externalFiles.get(real);
    if (f == null) {
      try {
        f = ExternalDataFile.open(real, realBaseDir);
      } catch (IOException e) {
        throw unreadable(t, namedDataFile(loc.location()), e);
      }
      externalFiles.put(real, f);
    }
    return new Tensor.FileSlice(f, loc.offset(), loc.length());
  }

  /** The files stay open for the model's tensors; this read only forgets them. */
  private void closeExternalFiles() {
    externalFiles.clear();
  }

  /** Typed fields (float_data, int32_data, ...) to little-endian raw bytes. */
  private static ByteString decodeTyped(TensorProto t, DataType dt, long count) {
    int n = Math.toIntExact(count);
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(dt.byteSize(count))).order(ByteOrder.LITTLE_ENDIAN);
    switch (dt) {
      case FLOAT -> {
        check(t, t.getFloatDataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putFloat(t.getFloatData(i));
        }
      }
      case COMPLEX64 -> {
        check(t, t.getFloatDataCount(), 2 * n);
        for (int i = 0; i < 2 * n; i++) {
          b.putFloat(t.getFloatData(i));
        }
      }
      case DOUBLE -> {
        check(t, t.getDoubleDataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putDouble(t.getDoubleData(i));
        }
      }
      case COMPLEX128 -> {
        check(t, t.getDoubleDataCount(), 2 * n);
        for (int i = 0; i < 2 * n; i++) {
          b.putDouble(t.getDoubleData(i));
        }
      }
      case INT64 -> {
        check(t, t.getInt64DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putLong(t.getInt64Data(i));
        }
      }
      case UINT64 -> {
        check(t, t.getUint64DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putLong(t.getUint64Data(i));
        }
      }
      case UINT32 -> {
        check(t, t.getUint64DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putInt((int) t.getUint64Data(i));
        }
      }
      case INT32 -> {
        check(t, t.getInt32DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putInt(t.getInt32Data(i));
        }
      }
      case INT16, UINT16, FLOAT16, BFLOAT16 -> {
        check(t, t.getInt32DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.putShort((short) t.getInt32Data(i));
        }
      }
      case INT8, UINT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0 -> {
        check(t, t.getInt32DataCount(), n);
        for (int i = 0; i < n; i++) {
          b.put((byte) t.getInt32Data(i));
        }
      }
      case INT4, UINT4, FLOAT4E2M1, INT2, UINT2 -> {
        // Packed sub-byte types keep whole packed bytes in int32_data.
        int bytes = b.capacity();
        check(t, t.getInt32DataCount(), bytes);
        for (int i = 0; i < bytes; i++) {
          b.put((byte) t.getInt32Data(i));
        }
      }
      default -> throw new IllegalStateException("tensor '" + t.getName() + "' of " + dt + " has no numeric data");
    }
    return UnsafeByteOperations.unsafeWrap(b.array());
  }

  private static void check(TensorProto t, int have, int want) {
    if (have != want) {
      throw new IllegalStateException("tensor '" + t.getName() + "' has " + have + " typed elements, its dims need "
          + want);
    }
  }
}
