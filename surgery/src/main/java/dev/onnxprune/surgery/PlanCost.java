package dev.onnxprune.surgery;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.cost.NodeCost;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The cost a model would have after a set of removals, without applying them: each node's
 * MACs, FLOPs and parameters from {@link CostModel} scale with the fraction of channels it keeps
 * (input and output channels for Conv/ConvTranspose/Gemm/MatMul, output channels for depthwise
 * and grouped convs and channel-wise ops). The cost model is linear in channel counts, so this
 * is what the cost model gives on the pruned model.
 *
 * <p>Parameters are counted per initializer, as the pruned model will hold them: the weight of a
 * Conv/ConvTranspose/Gemm/MatMul (input 1, or a MatMul weight stored transposed) keeps the node's fraction, any other constant (bias,
 * BatchNormalization parameters, per-channel constants) its output's. An initializer several nodes
 * read (exporters merge equal tensors, reached through Identity) is copied for each reader that
 * slices it, and stays whole while any reader keeps all of it.
 */
public final class PlanCost {
  /** MACs, FLOPs and parameters. */
  public record Costs(long macs, long flops, long params) {}

  private final ChannelAnalysis analysis;
  private final CostReport baseline;
  /** Each main-graph initializer read by a node: its size and its readers (Identity chains skipped). */
  private final List<Param> params = new ArrayList<>();

  /** A reader of an initializer; {@code weight}: it keeps the node's fraction, else its output's. */
  private record Reader(Node node, boolean weight) {}

  private record Param(long size, List<Reader> readers) {}

  private PlanCost(ChannelAnalysis analysis) {
    this.analysis = analysis;
    this.baseline = CostModel.analyze(analysis.model());
    Map<Value, List<Reader>> readers = new LinkedHashMap<>();
    for (Node n : analysis.model().graph().nodes()) {
      if (n.is("Identity")) {
        continue;
      }
      for (int i = 0; i < n.inputs().size(); i++) {
        Value v = n.input(i);
        for (int hops = 0; v != null && !v.isInitializer() && hops < 16; hops++) {
          Node p = v.producer();
          v = p != null && p.is("Identity") ? p.input(0) : null;
        }
        if (v != null && v.isInitializer()) {
          boolean weight = v.initializer().rank() >= 2 && (i == 1 && (n.is("Conv") || n.is("ConvTranspose")
              || n.is("Gemm") || n.is("MatMul")) || n.is("Transpose"));
          List<Reader> rs = readers.computeIfAbsent(v, k -> new ArrayList<>());
          if (rs.stream().noneMatch(r -> r.node() == n)) {
            rs.add(new Reader(n, weight));
          }
        }
      }
    }
    readers.forEach((v, rs) -> params.add(new Param(v.initializer().elementCount(), rs)));
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
    for (NodeCost c : baseline.nodes()) {
      double scale = scale(c.node(), removed);
      macs += c.macs() * scale;
      flops += c.flops() * scale;
    }
    double params = baseline.totalParams();
    for (Param p : this.params) {
      double left = 0;
      boolean whole = false;
      for (Reader r : p.readers()) {
        double f = r.weight() ? scale(r.node(), removed) : kept(r.node().output(0), removed);
        if (f >= 1) {
          whole = true;
        } else {
          left += f;
        }
      }
      params -= p.size() * (1 - (whole ? 1 + left : left));
    }
    return new Costs(Math.round(macs), Math.round(flops), Math.round(params));
  }

  private double scale(Node n, BitSet removed) {
    if (n.is("Transpose") && n.output(0).uses().size() == 1) {
      // a MatMul weight stored transposed: its parameters are counted at the Transpose
      Node mm = n.output(0).uses().get(0).node();
      Analyzer.MatMulWeight w = mm.is("MatMul") ? Analyzer.matMulWeight(mm) : null;
      if (w != null && w.holder() == n) {
        return kept(mm.input(0), removed) * kept(mm.output(0), removed);
      }
    }
    double out = kept(n.output(0), removed);
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
