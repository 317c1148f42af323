package dev.onnxprune.surgery;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.cost.NodeCost;
import java.util.BitSet;
import java.util.Map;

/**
 * The cost a model would have after a set of removals, without applying them: each node's
 * MACs, FLOPs and parameters from {@link CostModel} scale with the fraction of channels it keeps
 * (input and output channels for Conv/ConvTranspose/Gemm and MatMul by a weight, output channels
 * for depthwise and grouped convs, channel-wise ops and MatMuls of two activations such as
 * attention's, whose work follows the heads; input channels for ops that output none, such as a
 * norm's statistic). The cost model is linear in channel counts, so this
 * is what the cost model gives on the pruned model, up to parameters shared between nodes.
 */
public final class PlanCost {
  /** MACs, FLOPs and parameters. */
  public record Costs(long macs, long flops, long params) {}

  private final ChannelAnalysis analysis;
  private final CostReport baseline;

  private PlanCost(ChannelAnalysis analysis) {
    this.analysis = analysis;
    this.baseline = CostModel.analyze(analysis.model());
  }

  /** Cost evaluator for {@code analysis}'s model (computes its baseline costs once). */
  public static PlanCost of(ChannelAnalysis analysis) {
    return new PlanCost(analysis);
  }

  /** The unpruned model's costs. */
  public Costs baseline() {
    return new Costs(baseline.totalMacs(), baseline.totalFlops(), baseline.totalParams());
  }

  /** The per-node baseline report. */
  public CostReport baselineReport() {
    return baseline;
  }

  /** Costs after removing {@code removals} (group id -> unit indices). */
  public Costs evaluate(Map<Integer, int[]> removals) {
    return evaluate(analysis.removedIds(removals));
  }

  /** Costs after removing the channel ids {@code removed}. */
  Costs evaluate(BitSet removed) {
    keptCache.clear();
    double macs = 0;
    double flops = 0;
    double params = baseline.totalParams();
    for (NodeCost c : baseline.nodes()) {
      Node n = c.node();
      double scale = scale(n, removed);
      macs += c.macs() * scale;
      flops += c.flops() * scale;
      params -= c.params() * (1 - scale);
    }
    return new Costs(Math.round(macs), Math.round(flops), Math.round(params));
  }

  private double scale(Node n, BitSet removed) {
    if (analysis.state.map(n.output(0)) == null) {
      // no channels out (a norm's statistic, a Shape): its work follows the channels read
      return kept(n.input(0), removed);
    }
    double out = kept(n.output(0), removed);
    if (n.is("MatMul") && Analyzer.matMulWeight(n) == null) {
      return out; // two activations: attention's work scales with the heads kept
    }
    if (n.is("Conv") || n.is("ConvTranspose") || n.is("Gemm") || n.is("MatMul")) {
      Tensor w = Analyzer.constant(n.input(1));
      if (n.is("Conv") && w != null && w.rank() >= 3 && ProducerRules.Conv.kind(n, w) != ProducerRules.Conv.Kind.DENSE) {
        return out;
      }
      return kept(n.input(0), removed) * out;
    }
    return out;
  }

  /** Kept fraction per channel map within one evaluation (channel-wise ops share their maps). */
  private final java.util.IdentityHashMap<ChannelMap, Double> keptCache = new java.util.IdentityHashMap<>();

  private double kept(Value v, BitSet removed) {
    ChannelMap m = analysis.state.map(v);
    if (m == null) {
      return 1;
    }
    Double cached = keptCache.get(m);
    if (cached != null) {
      return cached;
    }
    double k = keptFraction(m, removed);
    keptCache.put(m, k);
    return k;
  }

  private static double keptFraction(ChannelMap m, BitSet removed) {
    int gone = 0;
    for (int id : m.ids()) {
      if (removed.get(id)) {
        gone++;
      }
    }
    return (double) (m.length() - gone) / m.length();
  }
}
