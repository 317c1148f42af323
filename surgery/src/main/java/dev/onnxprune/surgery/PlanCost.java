package dev.onnxprune.surgery;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.cost.NodeCost;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The cost a model would have after a set of removals, without applying them: each node's
 * MACs, FLOPs and parameters from {@link CostModel} scale with the fraction of channels it keeps
 * (input and output channels for Conv/ConvTranspose/Gemm, MatMul by a weight and the input
 * features of an LSTM/GRU/RNN, whose recurrent product R by h scales with its hidden units kept
 * squared; output channels for depthwise and grouped convs, channel-wise ops
 * and MatMuls of two activations such as attention's, whose work follows the heads; input
 * channels for ops that output none, such as a norm's statistic). The cost model is linear in
 * channel counts, so this is what the cost model gives on the pruned model.
 *
 * <p>Parameters are counted per initializer, as the pruned model will hold them: the weight of a
 * Conv/ConvTranspose/Gemm/MatMul (input 1, or a MatMul weight stored transposed) keeps the node's
 * fraction, any other constant (bias, BatchNormalization parameters, per-channel constants) its
 * output's. An initializer several nodes
 * read (exporters merge equal tensors, reached through Identity) is copied for each reader that
 * slices it, and stays whole while any reader keeps all of it.
 */
public final class PlanCost {
  /** MACs, FLOPs and parameters. */
  public record Costs(long macs, long flops, long params) {}

  private final ChannelAnalysis analysis;
  private final CostReport baseline;
  /** Every node of the cost report, with the channel maps its cost scales with. */
  private final List<Scaled> nodes = new ArrayList<>();
  /** Each distinct channel map those nodes read, once. */
  private final List<Layout> layouts = new ArrayList<>();
  /** Each main-graph initializer read by a node: its size and its readers (Identity chains skipped). */
  private final List<Param> params = new ArrayList<>();

  /**
   * A node's cost: it scales with the kept fraction of {@code out}, times that of {@code in} for a
   * contraction over the channels of {@code in} (dense Conv, ConvTranspose, Gemm, MatMul, and a MatMul
   * weight stored behind a Transpose, whose parameters are counted at the Transpose). Null layouts
   * keep everything.
   */
  private record Scaled(NodeCost cost, Layout out, Layout in) {}

  /**
   * A reader of an initializer (index into {@link #nodes}); {@code weight}: it keeps the node's
   * fraction, else its output's.
   */
  private record Reader(int node, boolean weight) {}

  private record Param(long size, List<Reader> readers) {}

  /**
   * The groups a channel map holds: {@code positions[k]} positions of group {@code groups[k]}, every
   * unit of it {@code perUnit[k]} times, or, when its units are there unevenly (a Split piece), 0 and
   * the unit of each of those positions in {@code units[k]}.
   */
  private record Layout(int index, int length, int[] groups, int[] perUnit, int[][] units) {}

  private PlanCost(ChannelAnalysis analysis, long sequenceLength) {
    this.analysis = analysis;
    this.baseline = CostModel.analyze(analysis.model(), sequenceLength);
    Map<ChannelMap, Layout> byMap = new IdentityHashMap<>();
    Map<Node, Integer> index = new IdentityHashMap<>();
    Map<Node, Integer> recurrentR = new IdentityHashMap<>();
    for (NodeCost c : baseline.nodes()) {
      Node n = c.node();
      index.put(n, nodes.size());
      Value in = null;
      Value out = n.output(0);
      Node mm = transposedWeightOf(n);
      if (recurrent(n)) {
        out = hiddenOutput(n); // Y, Y_h or Y_c, whichever is read
      }
      if (mm != null) {
        in = mm.input(0);
        out = mm.output(0);
      } else if (out == null || analysis.state.map(out) == null) {
        out = n.inputCount() > 0 ? n.input(0) : null; // no channels out (a norm's statistic, a Shape): its work follows the channels read
      } else if (n.is("MatMul") && Analyzer.matMulWeight(n) == null) {
        in = null; // two activations: attention's work scales with the heads kept
      } else if (recurrent(n) && c.known() && c.macs() > 0) {
        // W by x_t scales with hidden x input kept, R by h_{t-1} with hidden x hidden kept: two terms
        long inputs = Analyzer.constant(n.input(1)).dim(2);
        long hidden = n.attrLong("hidden_size", 1);
        long perColumn = c.macs() / (inputs + hidden);
        NodeCost w = new NodeCost(n, perColumn * inputs, 2 * perColumn * inputs, c.params(), c.outputBytes(), true);
        NodeCost r = new NodeCost(n, perColumn * hidden, 2 * perColumn * hidden, 0, 0, true);
        nodes.add(new Scaled(w, layout(out, byMap), layout(n.input(0), byMap)));
        recurrentR.put(n, nodes.size());
        nodes.add(new Scaled(r, layout(out, byMap), layout(out, byMap)));
        continue;
      } else if (recurrent(n)) {
        in = n.input(0); // W's columns read the input features
      } else if (n.is("Conv") || n.is("ConvTranspose") || n.is("Gemm") || n.is("MatMul")) {
        Tensor w = Analyzer.constant(n.input(1));
        boolean dense = !(n.is("Conv") && w != null && w.rank() >= 3
            && ProducerRules.Conv.kind(n, w) != ProducerRules.Conv.Kind.DENSE);
        in = dense ? n.input(0) : null;
      }
      nodes.add(new Scaled(c, layout(out, byMap), layout(in, byMap)));
    }
    Map<Value, List<Reader>> readers = new LinkedHashMap<>();
    for (Node n : analysis.model().graph().nodes()) {
      Integer at = index.get(n);
      if (n.is("Identity") || at == null) {
        continue;
      }
      for (int i = 0; i < n.inputs().size(); i++) {
        Value v = n.input(i) == null ? null : n.input(i).behindIdentity();
        if (v != null && v.isInitializer()) {
          boolean weight = v.initializer().rank() >= 2 && (i == 1 && (n.is("Conv") || n.is("ConvTranspose")
              || n.is("Gemm") || n.is("MatMul") || recurrent(n)) || n.is("Transpose"));
          List<Reader> rs = readers.computeIfAbsent(v, k -> new ArrayList<>());
          // R [directions, gates * hidden, hidden] keeps the hidden-by-hidden term's fraction
          int reader = i == 2 && recurrentR.containsKey(n) ? recurrentR.get(n) : at;
          if (rs.stream().noneMatch(r -> r.node() == reader)) {
            rs.add(new Reader(reader, weight || reader != at));
          }
        }
      }
    }
    readers.forEach((v, rs) -> params.add(new Param(v.initializer().elementCount(), rs)));
  }

  /** The first output of an RNN/GRU/LSTM that carries its hidden units, else Y. */
  private Value hiddenOutput(Node n) {
    for (Value v : n.outputs()) {
      if (v != null && analysis.state.map(v) != null) {
        return v;
      }
    }
    return n.output(0);
  }

  private static boolean recurrent(Node n) {
    return n.is("LSTM") || n.is("GRU") || n.is("RNN");
  }

  /** The MatMul whose weight {@code n} holds transposed, or null. */
  private static Node transposedWeightOf(Node n) {
    if (n.is("Transpose") && n.output(0).uses().size() == 1) {
      Node mm = n.output(0).uses().get(0).node();
      Analyzer.MatMulWeight w = mm.is("MatMul") ? Analyzer.matMulWeight(mm) : null;
      return w != null && w.holder() == n ? mm : null;
    }
    return null;
  }

  private Layout layout(Value v, Map<ChannelMap, Layout> byMap) {
    ChannelMap m = v == null ? null : analysis.state.map(v);
    if (m == null) {
      return null;
    }
    return byMap.computeIfAbsent(m, key -> {
      Map<Integer, int[]> counts = new LinkedHashMap<>();
      for (int id : m.ids()) {
        int g = analysis.groupOf(id);
        counts.computeIfAbsent(g, x -> new int[analysis.groups().get(x).size()])[analysis.unitOf(id)]++;
      }
      int n = counts.size();
      int[] groups = new int[n];
      int[] perUnit = new int[n];
      int[][] units = new int[n][];
      int k = 0;
      for (Map.Entry<Integer, int[]> e : counts.entrySet()) {
        groups[k] = e.getKey();
        int[] c = e.getValue();
        boolean even = Arrays.stream(c).allMatch(x -> x == c[0]);
        perUnit[k] = even ? c[0] : 0;
        if (!even) {
          units[k] = Arrays.stream(m.ids()).filter(id -> analysis.groupOf(id) == e.getKey()).map(analysis::unitOf)
              .toArray();
        }
        k++;
      }
      Layout l = new Layout(layouts.size(), m.length(), groups, perUnit, units);
      layouts.add(l);
      return l;
    });
  }

  /** Cost evaluator for {@code analysis}'s model (computes its baseline costs once). */
  public static PlanCost of(ChannelAnalysis analysis) {
    return new PlanCost(analysis, 0);
  }

  /**
   * Cost evaluator with the inputs' symbolic dims other than the batch bound to {@code
   * sequenceLength} ({@link CostModel#analyze(dev.onnxprune.graph.Model, long)}): an LSTM over a
   * sequence of unknown length, with no position table to bound it, is counted only so.
   *
   * @throws IllegalArgumentException when {@code sequenceLength} is negative
   */
  public static PlanCost of(ChannelAnalysis analysis, long sequenceLength) {
    return new PlanCost(analysis, sequenceLength);
  }

  /** The unpruned model's costs. */
  public Costs baseline() {
    return new Costs(baseline.totalMacs(), baseline.totalFlops(), baseline.totalParams());
  }

  /** The per-node baseline report. */
  public CostReport baselineReport() {
    return baseline;
  }

  /**
   * Costs after removing {@code removals} (group id -> unit indices). Linear in the number of
   * nodes and of the groups each channel map holds, not in channels.
   */
  public Costs evaluate(Map<Integer, int[]> removals) {
    int[] removedCount = new int[analysis.groups().size()];
    boolean[][] gone = new boolean[removedCount.length][];
    for (Map.Entry<Integer, int[]> e : removals.entrySet()) {
      boolean[] b = new boolean[analysis.groups().get(e.getKey()).size()];
      for (int u : e.getValue()) {
        if (!b[u]) {
          b[u] = true;
          removedCount[e.getKey()]++;
        }
      }
      gone[e.getKey()] = b;
    }
    double[] kept = new double[layouts.size()];
    Arrays.fill(kept, -1);
    double macs = 0;
    double flops = 0;
    double[] scale = new double[nodes.size()];
    double[] outKept = new double[nodes.size()];
    for (int i = 0; i < scale.length; i++) {
      Scaled n = nodes.get(i);
      outKept[i] = kept(n.out(), kept, removedCount, gone);
      scale[i] = outKept[i] * kept(n.in(), kept, removedCount, gone);
      macs += n.cost().macs() * scale[i];
      flops += n.cost().flops() * scale[i];
    }
    double params = baseline.totalParams();
    for (Param p : this.params) {
      double left = 0;
      boolean whole = false;
      for (Reader r : p.readers()) {
        double f = r.weight() ? scale[r.node()] : outKept[r.node()];
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

  /** The kept fraction of {@code l}'s positions (1 for null), computed once per evaluation. */
  private static double kept(Layout l, double[] cache, int[] removedCount, boolean[][] gone) {
    if (l == null) {
      return 1;
    }
    if (cache[l.index()] >= 0) {
      return cache[l.index()];
    }
    long lost = 0;
    for (int k = 0; k < l.groups().length; k++) {
      int g = l.groups()[k];
      if (removedCount[g] == 0) {
        continue;
      }
      if (l.perUnit()[k] > 0) {
        lost += (long) l.perUnit()[k] * removedCount[g];
      } else {
        for (int u : l.units()[k]) {
          if (gone[g][u]) {
            lost++;
          }
        }
      }
    }
    double f = (double) (l.length() - lost) / l.length();
    cache[l.index()] = f;
    return f;
  }
}
