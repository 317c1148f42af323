package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** If; its branches are inferred before it. Loop and Scan are left to the file's value_info. */
final class ControlFlowRules {
  private ControlFlowRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "If", ControlFlowRules::ifNode);
  }

  /** Output i: the branches' output i where they agree; dims on which they differ are unknown. */
  static void ifNode(InferenceContext c) {
    Graph then = c.node().attribute("then_branch").asGraph();
    Graph other = c.node().attribute("else_branch").asGraph();
    for (int i = 0; i < c.node().outputCount(); i++) {
      TensorType a = branchOutput(c, then, i);
      TensorType b = branchOutput(c, other, i);
      if (a.elemType() != b.elemType()) {
        throw c.fail("branches give output " + i + " types " + a + " and " + b);
      }
      Shape sa = a.shape();
      Shape sb = b.shape();
      Shape merged = null;
      if (sa != null && sb != null && sa.rank() == sb.rank()) {
        List<Dim> dims = new ArrayList<>();
        for (int k = 0; k < sa.rank(); k++) {
          dims.add(sa.dim(k).equals(sb.dim(k)) ? ShapeMath.plain(sa.dim(k)) : Dim.unknown());
        }
        merged = Shape.of(dims);
      }
      c.set(i, a.elemType(), merged);
    }
  }

  private static TensorType branchOutput(InferenceContext c, Graph g, int i) {
    if (i >= g.outputs().size()) {
      throw c.fail("branch '" + g.name() + "' has " + g.outputs().size() + " outputs, the node " + c.node().outputCount());
    }
    Value v = g.outputs().get(i);
    if (v.tensorType() == null) {
      throw c.fail("branch '" + g.name() + "' output '" + v.name() + "' has no known tensor type");
    }
    return v.tensorType();
  }
}
