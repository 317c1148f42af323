package dev.onnxprune.cli;

import dev.onnxprune.cli.TextTable.Align;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** The human-readable form of a {@link ModelSummary}. */
final class InspectText {
  private InspectText() {}

  /** Prints the header, inputs/outputs, op histogram and totals; then the per-layer table if asked. */
  static void print(ModelSummary s, boolean layers, boolean verbose, PrintWriter out) {
    TextTable head = new TextTable("", Align.LEFT, Align.LEFT);
    head.row("file", s.file());
    head.row("size", ModelFiles.describeSize(s.fileBytes(), s.externalDataBytes()) + " ("
        + Units.grouped(s.fileBytes() + s.externalDataBytes()) + " bytes)");
    head.row("ir version", s.irVersion() == null ? "?" : s.irVersion().toString());
    head.row("producer", producer(s));
    head.row("opsets", opsets(s));
    head.row("graph", (s.graphName() == null || s.graphName().isEmpty() ? "<unnamed>" : s.graphName()) + " ("
        + s.totals().nodes() + " nodes, " + s.totals().initializers() + " initializers)");
    head.print(out);

    out.println();
    TextTable io = new TextTable("  ", Align.LEFT, Align.LEFT, Align.LEFT, Align.LEFT);
    for (ModelSummary.Io v : s.inputs()) {
      io.row("input", v.name(), v.elemType() == null ? "?" : v.elemType(), shape(v.shape()));
    }
    for (ModelSummary.Io v : s.outputs()) {
      io.row("output", v.name(), v.elemType() == null ? "?" : v.elemType(), shape(v.shape()));
    }
    out.println("inputs and outputs");
    io.print(out);

    out.println();
    out.println("ops (" + s.opHistogram().size() + " kinds, " + s.totals().nodes() + " nodes)");
    TextTable ops = new TextTable("  ", Align.LEFT, Align.RIGHT);
    for (ModelSummary.OpCount c : s.opHistogram()) {
      ops.row(c.op(), Integer.toString(c.count()));
    }
    ops.print(out);

    out.println();
    ModelSummary.Totals t = s.totals();
    out.println("totals");
    TextTable tot = new TextTable("  ", Align.LEFT, Align.RIGHT, Align.LEFT);
    tot.row("parameters", Units.count(t.parameters()), "(" + Units.grouped(t.parameters()) + "; initializers "
        + Units.bytes(t.initializerBytes()) + ")");
    boolean partial = t.costUnknownNodes() > 0;
    String bound = partial ? "; lower bound)" : ")";
    tot.row("MACs", (partial ? ">= " : "") + Units.count(t.macs()), "(" + Units.grouped(t.macs()) + bound);
    tot.row("FLOPs", (partial ? ">= " : "") + Units.count(t.flops()), "(" + Units.grouped(t.flops()) + bound);
    tot.row("activations", (partial ? ">= " : "") + Units.bytes(t.activationBytes()), "(output bytes of all nodes"
        + bound);
    tot.print(out);
    if (partial) {
      out.println("  " + t.costUnknownNodes() + " node(s) with unknown shapes are not in MACs/FLOPs (shown as ?):"
          + " the totals are lower bounds");
    }
    if (!s.shapeUnknown().isEmpty()) {
      int shown = verbose ? s.shapeUnknown().size() : Math.min(3, s.shapeUnknown().size());
      out.println("  shape inference left " + s.shapeUnknown().size() + " node(s) unknown:");
      for (ModelSummary.ShapeGap g : s.shapeUnknown().subList(0, shown)) {
        out.println("    " + name(g.node()) + " (" + g.op() + "): " + g.reason());
      }
      if (shown < s.shapeUnknown().size()) {
        out.println("    ... " + (s.shapeUnknown().size() - shown) + " more (--verbose lists them all)");
      }
    }

    if (layers) {
      out.println();
      out.println("layers");
      TextTable table = new TextTable("  ", Align.RIGHT, Align.LEFT, Align.LEFT, Align.LEFT, Align.RIGHT, Align.RIGHT,
          Align.RIGHT).row("#", "name", "op", "output shape", "params", "MACs", "FLOPs");
      for (ModelSummary.Layer l : s.nodes()) {
        List<String> shapes = new ArrayList<>();
        for (List<Object> sh : l.outputShapes()) {
          shapes.add(shape(sh));
        }
        table.row(Integer.toString(l.index()), name(l.name()), l.op(), String.join(" ", shapes),
            Units.count(l.params()), l.macs() == null ? "?" : Units.count(l.macs()),
            l.flops() == null ? "?" : Units.count(l.flops()));
      }
      table.print(out);
    }

    if (s.groups() != null) {
      printGroups(s.groups().stream().filter(g -> !g.kind().equals("block")).toList(), verbose, out);
      printBlocks(s.groups().stream().filter(g -> g.kind().equals("block")).toList(), verbose, out);
    }
  }

  private static void printGroups(List<ModelSummary.Group> groups, boolean verbose, PrintWriter out) {
    long prunable = groups.stream().filter(ModelSummary.Group::prunable).count();
    out.println();
    out.println("channel groups (" + groups.size() + "; " + prunable + " prunable)");
    TextTable t = new TextTable("  ", Align.RIGHT, Align.RIGHT, Align.LEFT, Align.LEFT, Align.RIGHT, Align.LEFT)
        .row("id", "channels", "kind", "prunable", "members", "producers");
    for (ModelSummary.Group g : groups) {
      t.row(Integer.toString(g.id()), Integer.toString(g.channels()), g.kind(), g.prunable() ? "yes" : "no",
          Integer.toString(g.members().size()),
          verbose ? String.join(", ", g.producers()) : abbreviate(g.producers(), 2));
    }
    t.print(out);
    if (prunable < groups.size()) {
      out.println();
      out.println("why groups cannot be pruned");
      for (ModelSummary.Group g : groups) {
        for (String reason : g.reasons()) {
          out.println("  group " + g.id() + ": " + reason);
        }
      }
    }
  }

  /** The residual blocks (kind block): whole blocks {@code prune --blocks} can replace by the identity. */
  private static void printBlocks(List<ModelSummary.Group> blocks, boolean verbose, PrintWriter out) {
    long removable = blocks.stream().filter(ModelSummary.Group::prunable).count();
    out.println();
    out.println("residual blocks (" + blocks.size() + "; " + removable + " removable by prune --blocks)");
    if (blocks.isEmpty()) {
      return;
    }
    TextTable t = new TextTable("  ", Align.RIGHT, Align.LEFT, Align.LEFT, Align.RIGHT, Align.LEFT)
        .row("id", "kind", "removable", "nodes", "add");
    for (ModelSummary.Group g : blocks) {
      t.row(Integer.toString(g.id()), g.kind(), g.prunable() ? "yes" : "no", Integer.toString(g.members().size()),
          verbose ? String.join(", ", g.producers()) : abbreviate(g.producers(), 2));
    }
    t.print(out);
    if (removable < blocks.size()) {
      out.println();
      out.println("why blocks cannot be removed");
      for (ModelSummary.Group g : blocks) {
        for (String reason : g.reasons()) {
          out.println("  block " + g.id() + ": " + reason);
        }
      }
    }
  }

  /** "a, b", or "a, b (+3 more)" past {@code shown} items; "-" when empty. */
  static String abbreviate(List<String> items, int shown) {
    if (items.isEmpty()) {
      return "-";
    }
    if (items.size() <= shown) {
      return String.join(", ", items);
    }
    return String.join(", ", items.subList(0, shown)) + " (+" + (items.size() - shown) + " more)";
  }

  /** "[batch, 1, 28, 28]", "?" for an unknown dimension or an unknown rank. */
  static String shape(List<Object> dims) {
    if (dims == null) {
      return "?";
    }
    List<String> parts = new ArrayList<>(dims.size());
    for (Object d : dims) {
      parts.add(d == null ? "?" : d.toString());
    }
    return "[" + String.join(", ", parts) + "]";
  }

  private static String name(String nodeName) {
    return nodeName == null || nodeName.isEmpty() ? "<unnamed>" : nodeName;
  }

  private static String producer(ModelSummary s) {
    String name = s.producerName() == null || s.producerName().isEmpty() ? "?" : s.producerName();
    return s.producerVersion() == null || s.producerVersion().isEmpty() ? name : name + " " + s.producerVersion();
  }

  private static String opsets(ModelSummary s) {
    if (s.opsets().isEmpty()) {
      return "none imported";
    }
    List<String> parts = new ArrayList<>();
    for (ModelSummary.Opset o : s.opsets()) {
      parts.add((o.domain().isEmpty() ? "ai.onnx" : o.domain()) + " " + o.version());
    }
    return String.join(", ", parts);
  }
}
