package dev.onnxprune.surgery;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.BitSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Inserts {@code Mul} by a 0/1 channel mask where a plan's removed channels enter the ops that
 * contract over them (Conv input channels, Gemm/MatMul input features). The masked model
 * computes what the pruned model computes: the equivalence oracle of channel surgery.
 */
public final class MaskInsertion {
  private final PrunePlan plan;

  public MaskInsertion(PrunePlan plan) {
    this.plan = plan;
  }

  /**
   * Masks {@code plan.analysis().model()} in place.
   *
   * @return the number of masks inserted
   */
  public int run() {
    ChannelAnalysis analysis = plan.analysis();
    BitSet removed = analysis.removedIds(plan.removals());
    Applier p = new Applier(analysis, removed);
    int inserted = 0;
    // Consumers reading the same value share one masked copy of it.
    Map<Value, Value> masked = new IdentityHashMap<>();
    for (Analyzer.ConsumerEnd end : analysis.state.consumerEnds) {
      Node n = end.node();
      Value v = n.input(end.inputIndex());
      if (masked.containsKey(v)) {
        n.replaceInput(end.inputIndex(), masked.get(v));
        continue;
      }
      boolean[] rm = p.removedPositions(v);
      if (rm == null) {
        continue;
      }
      ChannelMap m = p.map(v);
      ValueType.TensorType type = v.tensorType();
      if (type == null || type.shape() == null) {
        throw new GraphException("cannot mask '" + v.name() + "': its shape is unknown");
      }
      if (type.elemType() != DataType.FLOAT) {
        throw new GraphException("cannot mask '" + v.name() + "' of " + type.elemType() + ": only FLOAT is masked");
      }
      int rank = type.shape().rank();
      long[] dims = new long[rank];
      java.util.Arrays.fill(dims, 1);
      dims[m.axis()] = rm.length;
      float[] mask = new float[rm.length];
      for (int i = 0; i < mask.length; i++) {
        mask[i] = rm[i] ? 0f : 1f;
      }
      Graph g = n.graph();
      Value maskValue = g.addInitializer(g.uniqueName(v.name() + "_mask"), Tensor.ofFloats(dims, mask));
      Node mul = g.addNodeBefore(n, "Mul", g.uniqueNodeName(v.name() + "_masking"), List.of(v, maskValue),
          List.of(g.uniqueName(v.name() + "_masked")));
      mul.output(0).setType(type);
      n.replaceInput(end.inputIndex(), mul.output(0));
      masked.put(v, mul.output(0));
      inserted++;
    }
    return inserted;
  }
}
