package dev.onnxprune.training;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.List;

/** The opset the generated graphs use. */
final class Models {
  /** The default-domain opset of generated graphs (ScatterElements reduction needs 16). */
  static final long MIN_OPSET = 17;

  private Models() {}

  /**
   * Raises the default-domain opset to at least {@link #MIN_OPSET}. Between opsets 13 and 17 the
   * ops a CNN uses keep their meaning (versions 14-17 added types, training_mode outputs and
   * reductions of Scatter), so the graph computes the same thing.
   *
   * @throws GradientException for opsets below 13 (Split/Squeeze/Unsqueeze/ReduceSum changed then)
   *     or for graphs with subgraphs (If/Loop/Scan are not differentiated)
   */
  static void prepare(Model model) {
    long v = model.defaultOpsetVersion();
    if (v < 13) {
      throw new GradientException("the model imports ONNX opset " + v + "; the training artifact needs opset 13"
          + " or newer (re-export it, e.g. torch.onnx.export(..., opset_version=13))");
    }
    for (Node n : model.graph().nodes()) {
      if (!n.subgraphs().isEmpty()) {
        throw new GradientException("node " + n.describe() + " has a subgraph; control flow is not differentiated");
      }
    }
    if (v < MIN_OPSET) {
      List<OpsetId> ops = model.opsets();
      for (int i = 0; i < ops.size(); i++) {
        if (ops.get(i).isDefaultDomain()) {
          ops.set(i, new OpsetId(ops.get(i).domain(), MIN_OPSET));
        }
      }
    }
    if (model.irVersion() == null || model.irVersion() < 8) {
      model.setIrVersion(8L);
    }
  }

  /** Removes every graph output. */
  static void clearOutputs(Graph g) {
    while (!g.outputs().isEmpty()) {
      g.removeOutput(g.outputs().size() - 1);
    }
  }

  /**
   * Adds {@code v} as a graph output named {@code name}: a value this module generated is
   * renamed; any other (a forward value, an input, an output already) gets an Identity.
   */
  static Value exposeAs(GradContext ctx, Value v, String name, ValueType type) {
    Graph g = ctx.g;
    Value out = v;
    boolean generated = v.producer() != null && (v.name().startsWith("grad/") || v.name().startsWith("optimizer/"));
    if (!v.name().equals(name) && generated && !v.isGraphOutput() && g.lookup(name) == null) {
      v.rename(name);
    } else if (!v.name().equals(name) || v.isGraphOutput() || v.isGraphInput() || v.isInitializer()) {
      if (g.lookup(name) != null) {
        throw new GradientException("cannot name an output '" + name + "': the graph already has a value of that"
            + " name");
      }
      Node id = g.addNode("Identity", g.uniqueNodeName(name), List.of(v), List.of(name));
      out = id.output(0);
    }
    if (out.type() == null || out.shape() == null) {
      out.setType(type);
    }
    g.addOutput(out);
    return out;
  }

  static List<String> names(List<Value> values) {
    List<String> out = new ArrayList<>();
    for (Value v : values) {
      out.add(v.name());
    }
    return out;
  }
}
