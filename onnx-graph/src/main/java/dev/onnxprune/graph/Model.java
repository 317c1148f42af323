package dev.onnxprune.graph;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX model: its main graph, operator set imports and metadata. Functions and training
 * information are carried unchanged. Read and write through {@link OnnxModels}.
 */
public final class Model {
  private Long irVersion;
  private final List<OpsetId> opsets = new ArrayList<>();
  private String producerName;
  private String producerVersion;
  private String domain;
  private Long modelVersion;
  private String docString;
  private final Map<String, String> metadata = new LinkedHashMap<>();
  private Graph graph;
  private Path source;

  /** Serde: the ModelProto less the fields modeled here (functions, training info, unknown fields). */
  Object protoRest;
  /** Serde: the opset imports and metadata as read, written back verbatim while unchanged. */
  Object opsetOrigin;
  List<OpsetId> opsetsRead;
  Object metadataOrigin;
  Map<String, String> metadataRead;

  public Model(Graph graph) {
    this.graph = graph;
    graph.model = this;
  }

  public Graph graph() {
    return graph;
  }

  public void setGraph(Graph graph) {
    this.graph = graph;
    graph.model = this;
  }

  /** The file this model was read from, or null. */
  public Path source() {
    return source;
  }

  void setSource(Path source) {
    this.source = source;
  }

  public Long irVersion() {
    return irVersion;
  }

  public void setIrVersion(Long irVersion) {
    this.irVersion = irVersion;
  }

  /** Operator set imports in file order (mutable). */
  public List<OpsetId> opsets() {
    return opsets;
  }

  /** Version of the default ONNX domain, or -1 when not imported. */
  public long defaultOpsetVersion() {
    return opsetVersion("");
  }

  /** Imported version of {@code opsetDomain} ("" for default), or -1. */
  public long opsetVersion(String opsetDomain) {
    boolean dflt = opsetDomain.isEmpty() || opsetDomain.equals("ai.onnx");
    for (OpsetId o : opsets) {
      if (dflt ? o.isDefaultDomain() : o.domain().equals(opsetDomain)) {
        return o.version();
      }
    }
    return -1;
  }

  public String producerName() {
    return producerName;
  }

  public void setProducerName(String producerName) {
    this.producerName = producerName;
  }

  public String producerVersion() {
    return producerVersion;
  }

  public void setProducerVersion(String producerVersion) {
    this.producerVersion = producerVersion;
  }

  public String domain() {
    return domain;
  }

  public void setDomain(String domain) {
    this.domain = domain;
  }

  public Long modelVersion() {
    return modelVersion;
  }

  public void setModelVersion(Long modelVersion) {
    this.modelVersion = modelVersion;
  }

  public String docString() {
    return docString;
  }

  public void setDocString(String docString) {
    this.docString = docString;
  }

  /** metadata_props in file order (mutable). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * An independent deep copy of this model: every graph (the subgraphs of If, Loop and Scan
   * attributes included), node, attribute and value, with the values' producers and uses;
   * graph inputs, outputs, initializers, sparse initializers and value_info; opset imports,
   * metadata, doc strings, the {@link #source()} path, and what reading kept of the file, so
   * writing the copy unchanged gives exactly the bytes that writing this model gives. Edits to
   * the copy (replacing an initializer, removing a node, renaming a value, setting an attribute,
   * a type or a value_info) do not show in this model, nor edits to this model in the copy.
   *
   * <p>{@link Tensor}s are immutable, so the copy shares them: copying costs no weight bytes,
   * however large the model, and external-data tensors stay in their mappings. Only the graph
   * structure is new: copying ResNet-50 (102 MB, 269 nodes) allocates 0.4 MB, keeps 0.2 MB and
   * takes about 0.2 ms, where a round trip through {@link OnnxModels#toBytes} allocates 308 MB,
   * keeps 153 MB and takes about 57 ms ({@code bench/README.md}, {@code CopyBench}).
   *
   * <p>A use of a value by a node that is no longer in the model (a node of a subgraph that
   * {@link Node#setAttribute} replaced) is not copied.
   */
  public Model copy() {
    return ModelCopier.copy(this);
  }

  /** Every graph of the model: the main graph and all subgraphs. */
  public List<Graph> allGraphs() {
    return graph.allGraphs();
  }
}
