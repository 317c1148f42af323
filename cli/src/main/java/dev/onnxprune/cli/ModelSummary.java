package dev.onnxprune.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.graph.shape.ShapeReport;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.GroupMember;
import dev.onnxprune.surgery.ResidualBlocks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code onnx-prune inspect} reports about a model; serialised as is by {@code --json}
 * (field names are part of the CLI's interface: see {@link InspectCommand}'s help footer).
 * Shapes are lists of dimensions, each a number, a symbolic name or null when unknown; a
 * shape is null when even its rank is unknown.
 */
@JsonPropertyOrder({"format", "file", "fileBytes", "externalDataBytes", "irVersion", "producerName",
    "producerVersion", "graphName", "opsets", "inputs", "outputs", "opHistogram", "totals", "shapeUnknown", "nodes",
    "groups"})
record ModelSummary(
    String format,
    String file,
    long fileBytes,
    long externalDataBytes,
    Long irVersion,
    String producerName,
    String producerVersion,
    String graphName,
    List<Opset> opsets,
    List<Io> inputs,
    List<Io> outputs,
    List<OpCount> opHistogram,
    Totals totals,
    List<ShapeGap> shapeUnknown,
    List<Layer> nodes,
    @JsonInclude(JsonInclude.Include.NON_NULL) List<Group> groups) {

  /** Version tag of this JSON layout; changes only when a field is renamed or removed. */
  static final String FORMAT = "onnx-prune.inspect/1";

  /** An operator set import; {@code domain} "" is the default ONNX domain. */
  record Opset(String domain, long version) {}

  /** A graph input or output: name, element type (e.g. FLOAT) and shape. */
  @JsonPropertyOrder({"name", "elemType", "shape"})
  record Io(String name, String elemType, List<Object> shape) {}

  /** How many nodes run {@code op} ("domain:Op" outside the default domain). */
  record OpCount(String op, int count) {}

  /**
   * Model totals from the cost model. {@code costUnknownNodes} nodes have no MACs/FLOPs (their
   * shapes are unknown) and are not counted in {@code macs} or {@code flops}.
   */
  @JsonPropertyOrder({"nodes", "initializers", "parameters", "initializerBytes", "macs", "flops",
      "activationBytes", "shapeUnknownNodes", "costUnknownNodes"})
  record Totals(int nodes, int initializers, long parameters, long initializerBytes, long macs, long flops,
      long activationBytes, int shapeUnknownNodes, int costUnknownNodes) {}

  /** A node whose output shapes shape inference could not work out, and why. */
  record ShapeGap(String node, String op, String reason) {}

  /**
   * One row of the per-layer table, in graph order. {@code macs} and {@code flops} are null
   * when the cost model could not work them out.
   */
  @JsonPropertyOrder({"index", "name", "op", "outputs", "outputShapes", "params", "macs", "flops", "outputBytes"})
  record Layer(int index, String name, String op, List<String> outputs, List<List<Object>> outputShapes,
      long params, Long macs, Long flops, long outputBytes) {}

  /**
   * A channel group of the channel-dependency analysis ({@code inspect --groups}): channels that
   * can only be removed together, the nodes whose output channels they are, every node they
   * touch, and why the group cannot be pruned when it cannot. {@code kind} says what its units
   * are: channels, attention heads ("heads") or a transformer's hidden width ("hidden"); a residual
   * block ("block", {@link ResidualBlocks}) is one unit, removable or why not, its producer the
   * residual Add, its members the branch's nodes.
   */
  @JsonPropertyOrder({"id", "channels", "kind", "prunable", "producers", "members", "reasons"})
  record Group(int id, int channels, String kind, boolean prunable, List<String> producers, List<Member> members,
      List<String> reasons) {}

  /** A node a group touches, what it does with the channels (producer, channelwise, merge, ...) and on which value. */
  @JsonPropertyOrder({"node", "op", "role", "tensor"})
  record Member(String node, String op, String role, String tensor) {}

  /** This summary with the channel groups of {@code analysis}, then the residual blocks of {@code blocks}. */
  ModelSummary withGroups(ChannelAnalysis analysis, List<ResidualBlocks.Block> blocks) {
    List<Group> out = new ArrayList<>();
    for (ChannelGroup g : analysis.groups()) {
      List<Member> members = new ArrayList<>();
      for (GroupMember m : g.members()) {
        members.add(new Member(m.node(), m.opType(), m.role().name().toLowerCase(Locale.ROOT), m.tensor()));
      }
      out.add(new Group(g.id(), g.size(), g.kind().name().toLowerCase(Locale.ROOT), g.prunable(), g.producers(),
          members, g.blockReasons()));
    }
    Map<String, String> ops = new java.util.HashMap<>();
    analysis.model().graph().nodes().forEach(n -> ops.put(n.name(), n.opType()));
    for (ResidualBlocks.Block b : blocks) {
      out.add(new Group(b.id(), 1, "block", b.removable(), List.of(b.add()),
          b.nodes().stream().map(n -> new Member(n, ops.getOrDefault(n, "?"), "branch", null)).toList(),
          b.removable() ? List.of() : List.of(b.reason())));
    }
    return new ModelSummary(format, file, fileBytes, externalDataBytes, irVersion, producerName, producerVersion,
        graphName, opsets, inputs, outputs, opHistogram, totals, shapeUnknown, nodes, out);
  }

  /**
   * Inspects {@code model}, read from {@code file}: runs shape inference (which fills in the
   * model's value types) and the cost model.
   */
  static ModelSummary of(Path file, Model model) throws IOException {
    ShapeReport shapes = ShapeInference.infer(model);
    CostReport cost = CostModel.analyze(model);

    List<Opset> opsets = new ArrayList<>();
    for (OpsetId o : model.opsets()) {
      opsets.add(new Opset(o.domain(), o.version()));
    }
    List<Io> inputs = new ArrayList<>();
    for (Value v : model.graph().runtimeInputs()) {
      inputs.add(io(v));
    }
    List<Io> outputs = new ArrayList<>();
    for (Value v : model.graph().outputs()) {
      outputs.add(io(v));
    }

    Map<String, Integer> histogram = new LinkedHashMap<>();
    for (Node n : model.graph().nodes()) {
      histogram.merge(opName(n), 1, Integer::sum);
    }
    List<OpCount> ops = new ArrayList<>();
    histogram.forEach((op, count) -> ops.add(new OpCount(op, count)));
    ops.sort(Comparator.comparingInt(OpCount::count).reversed().thenComparing(OpCount::op));

    List<ShapeGap> gaps = new ArrayList<>();
    for (var u : shapes.unknown()) {
      gaps.add(new ShapeGap(u.node().name(), opName(u.node()), u.reason()));
    }

    List<Layer> layers = new ArrayList<>();
    int costUnknown = 0;
    for (var c : cost.nodes()) {
      Node n = c.node();
      List<String> outNames = new ArrayList<>();
      List<List<Object>> outShapes = new ArrayList<>();
      for (Value out : n.outputs()) {
        outNames.add(out == null ? null : out.name());
        outShapes.add(out == null ? null : dims(out.shape()));
      }
      if (!c.known()) {
        costUnknown++;
      }
      layers.add(new Layer(layers.size(), n.name(), opName(n), outNames, outShapes, c.params(),
          c.known() ? c.macs() : null, c.known() ? c.flops() : null, c.outputBytes()));
    }

    long initBytes = 0;
    for (Value v : model.graph().initializers()) {
      initBytes += v.initializer().byteSize();
    }
    Totals totals = new Totals(model.graph().nodes().size(), model.graph().initializers().size(),
        cost.totalParams(), initBytes, cost.totalMacs(), cost.totalFlops(), cost.totalActivationBytes(),
        gaps.size(), costUnknown);

    return new ModelSummary(FORMAT, file.toString(), Files.size(file), ModelFiles.externalDataBytes(model, file),
        model.irVersion(), model.producerName(), model.producerVersion(), model.graph().name(), opsets, inputs,
        outputs, ops, totals, gaps, layers, null);
  }

  /** "Conv", or "com.microsoft:FusedConv" outside the default domain. */
  static String opName(Node n) {
    return n.domain().isEmpty() || n.domain().equals("ai.onnx") ? n.opType() : n.domain() + ":" + n.opType();
  }

  private static Io io(Value v) {
    ValueType t = v.type();
    String elem;
    if (t instanceof ValueType.TensorType tt) {
      elem = tt.elemType().name();
    } else {
      elem = t == null ? null : t.toString();
    }
    return new Io(v.name(), elem, dims(v.shape()));
  }

  /** JSON form of a shape: numbers, symbolic names, null for unknown dims; null for an unknown rank. */
  static List<Object> dims(Shape shape) {
    if (shape == null) {
      return null;
    }
    List<Object> out = new ArrayList<>(shape.rank());
    for (Dim d : shape.dims()) {
      out.add(d.isKnown() ? (Object) d.get() : d.isSymbolic() ? d.param() : null);
    }
    return out;
  }
}
