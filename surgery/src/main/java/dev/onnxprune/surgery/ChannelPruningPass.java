package dev.onnxprune.surgery;

import dev.onnxprune.graph.pass.GraphPass;
import dev.onnxprune.graph.pass.PassResult;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.shape.ShapeInference;
import java.util.ArrayList;
import java.util.BitSet;

/**
 * Applies a {@link PrunePlan} to the model it was made for, in place:
 * <ol>
 *   <li>each node's rule slices what it owns (producer filters and biases, consumer input
 *       slices, channel-wise parameters, per-channel constants), copying parameters that are
 *       shared with other nodes first, and rewrites attributes and shape constants (group
 *       counts, split sizes, slice bounds, reshape targets, resize sizes); shape operands
 *       computed at run time from sizes that change are rebuilt for the pruned shapes, and sizes
 *       read from pruned channel axes that are used as values (an attention's scale) keep the
 *       values the original computes ({@link ShapeTargets});
 *   <li>constants nothing uses any more are removed;
 *   <li>value types of the changed values are inferred again and the graph is verified.
 * </ol>
 */
public final class ChannelPruningPass implements GraphPass {
  private final PrunePlan plan;

  /** What the pass removed: {@code units} channels over all groups. */
  public record Result(int units) implements PassResult {
    @Override
    public boolean changed() {
      return units > 0;
    }

    @Override
    public String summary() {
      return "removed " + units + " channel(s)";
    }
  }

  public ChannelPruningPass(PrunePlan plan) {
    this.plan = plan;
  }

  @Override
  public String name() {
    return "channel-pruning";
  }

  /**
   * Prunes {@code model}, the model of {@code plan.analysis()}.
   *
   * @throws IllegalArgumentException when {@code model} is not the plan's model
   * @throws dev.onnxprune.graph.GraphException when the plan cannot be applied (e.g. a split
   *     output would lose all its channels) or the result fails verification
   */
  @Override
  public Result run(Model model) {
    ChannelAnalysis analysis = plan.analysis();
    if (model != analysis.model()) {
      throw new IllegalArgumentException("the plan was made on another model; analyse this one and make its plan");
    }
    if (plan.removals().isEmpty()) {
      return new Result(0);
    }
    BitSet removed = analysis.removedIds(plan.removals());
    Applier p = new Applier(analysis, removed);
    Graph g = model.graph();
    ShapeTargets.freezeSizesUsedAsValues(g, p);
    for (Node n : new ArrayList<>(g.nodes())) {
      ChannelRules.forNode(n).apply(n, p);
    }
    p.flush();
    g.removeDeadCode();
    // Types of values whose channels changed are stale, and so are those computed from them (a
    // ConstantOfShape of an attention mask's shape once heads are gone): forget their shapes and
    // infer again.
    java.util.ArrayDeque<Value> stale = new java.util.ArrayDeque<>();
    for (Value v : analysis.state.maps.keySet()) {
      if (v.graph() == g && p.removedPositions(v) != null) {
        stale.add(v);
      }
    }
    java.util.Set<Value> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    while (!stale.isEmpty()) {
      Value v = stale.poll();
      if (!seen.add(v)) {
        continue;
      }
      boolean declared = v.isGraphOutput() && p.removedPositions(v) == null; // keeps its declared type
      if (!v.isInitializer() && !v.isGraphInput() && !declared && v.tensorType() != null) {
        v.setType(new ValueType.TensorType(v.tensorType().elemType(), null));
      }
      for (Node c : v.consumers()) {
        for (Value out : c.outputs()) {
          if (out != null) {
            stale.add(out);
          }
        }
      }
    }
    ChannelRules.checkDynamicSlices(p.dynamicChecks, ShapeInference.infer(model));
    GraphVerifier.verify(model);
    return new Result(plan.removedCount());
  }
}
