package dev.onnxprune.criteria;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * ThiNet (Luo et al. 2017, "ThiNet: A Filter Level Pruning Method for Deep Neural Network
 * Compression", sec. 3.2-3.3): a channel is unimportant when the next layer's output can do
 * without it. Its contribution to an output element {@code y[n, o, h, w]} of a consumer Conv is
 * {@code x_c = sum_ij W[o, c, i, j] X[n, c, h + i, w + j]}; removing a set T of channels changes
 * the element by {@code sum_{c in T} x_c}, so the reconstruction error of T over the calibration
 * data is {@code 1_T^T M 1_T} with {@code M[c, c'] = sum over n, o, h, w of x_c x_c'}.
 *
 * <ol>
 *   <li>M per group: for every Conv (one group) that reads the group's channels, a grouped Conv of its
 *       input by its weights regrouped per input channel gives every {@code x_c} ({@code [N, C * O,
 *       H', W']}), whose Gram matrix over the other axes ONNX Runtime sums per batch; a group read by
 *       several convs (a residual stream) sums their M.
 *   <li>Greedy selection (ThiNet Algorithm 1): T grows by the channel that adds least error, until
 *       one channel is left.
 *   <li>Score of a channel: the largest error of T so far, relative to the error of removing every
 *       channel, just after it joined T (so scores rise in the order of removal, and a uniform
 *       allocation removing k channels of a group removes ThiNet's first k). The channel never
 *       removed scores above every other.
 * </ol>
 * A group that no plain Conv reads (a Gemm after Flatten, or depthwise convolutions only) is
 * scored by the L1 norm of its filters. The Gram matrices are summed in ONNX Runtime; the memory of
 * one batch is {@code N * C * O * H' * W'} floats per consumer.
 */
final class ThinetCriterion extends SampledCriterion {

  ThinetCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    super(data, sessions, options);
  }

  @Override
  public String name() {
    return "thinet";
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    long t0 = System.nanoTime();
    Model copy = analysis.model().copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(copy);
    Graph g = copy.graph();
    List<ConsumerInput> convs = new ArrayList<>();
    List<String> outs = new ArrayList<>();
    for (ConsumerInput ci : a.consumerInputs()) {
      Node n = ci.node();
      Value w = n.input(1);
      if (!n.is("Conv") || ci.input() != 0 || ci.axis() != 1 || ci.span() != 1 || n.attrLong("group", 1) != 1
          || w == null || w.constantValue() == null || ci.value().isGraphInput()) {
        continue;
      }
      boolean prunable = false;
      for (int gid : ci.groups()) {
        prunable |= a.groups().get(gid).prunable();
      }
      if (!prunable) {
        continue;
      }
      convs.add(ci);
      outs.add(gram(g, n, ci.value(), w.constantValue(), convs.size() - 1));
    }
    double[][][] m = new double[a.groups().size()][][];
    for (ChannelGroup grp : a.prunableGroups()) {
      m[grp.id()] = new double[grp.size()][grp.size()];
    }
    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    long runs = 0;
    if (!convs.isEmpty()) {
      while (!g.outputs().isEmpty()) {
        g.removeOutput(g.outputs().size() - 1);
      }
      for (String o : outs) {
        g.addOutput(g.lookup(o));
      }
      g.removeDeadCode();
      InputBinding inputs = InputBinding.of(copy);
      try (OrtSession s = sessions.open(copy)) {
        for (Batch b : cal.batches) {
          var r = Ort.run(s, java.util.Map.of(), inputs.feeds(b), new LinkedHashSet<>(outs));
          runs++;
          for (int i = 0; i < convs.size(); i++) {
            add(m, convs.get(i), r.get(outs.get(i)).data());
          }
        }
      } catch (OrtException e) {
        throw Ort.failure("scoring thinet", e);
      }
    }
    double[][] l1 = Criteria.l1().score(analysis);
    double[][] scores = new double[analysis.groups().size()][];
    for (ChannelGroup grp : a.prunableGroups()) {
      double[][] mg = m[grp.id()];
      double total = 0;
      for (double[] row : mg) {
        for (double v : row) {
          total += v;
        }
      }
      scores[grp.id()] = total > 0 ? greedy(mg, total) : l1[grp.id()];
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, runs, (long) cal.samples, 0, 1);
    return scores;
  }

  /**
   * Adds to {@code g} the Gram matrix {@code [C, C]} of the per-channel contributions to {@code
   * conv}'s output, summed over the batch; returns its name.
   */
  private static String gram(Graph g, Node conv, Value x, Tensor w, int i) {
    long[] d = w.dims();
    int o = (int) d[0];
    int c = (int) d[1];
    int k = 1;
    for (int j = 2; j < d.length; j++) {
      k *= (int) d[j];
    }
    float[] wv = w.toFloatArray();
    float[] regrouped = new float[wv.length];
    for (int ch = 0; ch < c; ch++) {
      for (int oo = 0; oo < o; oo++) {
        System.arraycopy(wv, (oo * c + ch) * k, regrouped, (ch * o + oo) * k, k);
      }
    }
    long[] rd = d.clone();
    rd[0] = (long) c * o;
    rd[1] = 1;
    String p = "thinet/" + i;
    Value wr = g.addInitializer(g.uniqueName(p + "/w"), Tensor.ofFloats(rd, regrouped));
    List<Attribute> attrs = new ArrayList<>();
    attrs.add(Attribute.of("group", (long) c));
    for (String a : List.of("strides", "pads", "dilations", "auto_pad", "kernel_shape")) {
      if (conv.attribute(a) != null) {
        attrs.add(conv.attribute(a));
      }
    }
    Value z = op(g, p + "/contrib", "Conv", List.of(x, wr), attrs.toArray(new Attribute[0]));
    // [N, C * O, H', W'] -> [C, N * O * H' * W'] -> its Gram matrix [C, C]
    Value rows = op(g, p + "/rows", "Reshape", List.of(z, g.addInitializer(g.uniqueName(p + "/shape"),
        Tensor.vector(0, c, -1))));
    Value perm = op(g, p + "/perm", "Transpose", List.of(rows), Attribute.of("perm", new long[] {1, 0, 2}));
    Value flat = op(g, p + "/flat", "Reshape", List.of(perm, g.addInitializer(g.uniqueName(p + "/shape2"),
        Tensor.vector(c, -1))));
    Value flatT = op(g, p + "/flatT", "Transpose", List.of(flat), Attribute.of("perm", new long[] {1, 0}));
    return op(g, p + "/gram", "MatMul", List.of(flat, flatT)).name();
  }

  private static Value op(Graph g, String name, String type, List<Value> in, Attribute... attrs) {
    String out = g.uniqueName(name);
    return g.addNode(type, g.uniqueNodeName(out), in, List.of(out), attrs).output(0);
  }

  /** Adds a consumer's Gram matrix into its groups' M (positions of one group pair up). */
  private static void add(double[][][] m, ConsumerInput ci, float[] gram) {
    int c = ci.length();
    for (int p = 0; p < c; p++) {
      int gp = ci.groups()[p];
      if (m[gp] == null) {
        continue;
      }
      for (int q = 0; q < c; q++) {
        if (ci.groups()[q] == gp) {
          m[gp][ci.units()[p]][ci.units()[q]] += gram[p * c + q];
        }
      }
    }
  }

  /** ThiNet's greedy selection on M; scores as in the class comment. */
  static double[] greedy(double[][] m, double total) {
    int n = m.length;
    double[] score = new double[n];
    boolean[] in = new boolean[n];
    double[] cross = new double[n]; // sum over t in T of M[t][c]
    double err = 0;
    double reached = 0;
    double last = 0;
    for (int step = 0; step < n - 1; step++) {
      int best = -1;
      double bestErr = Double.POSITIVE_INFINITY;
      for (int c = 0; c < n; c++) {
        if (!in[c]) {
          double e = err + 2 * cross[c] + m[c][c];
          if (e < bestErr) {
            bestErr = e;
            best = c;
          }
        }
      }
      in[best] = true;
      err = bestErr;
      // a later channel may cancel part of the error: keep the scores in the order of removal
      reached = Math.max(reached, Math.max(0, err));
      score[best] = Math.max(reached / total, Math.nextUp(last));
      last = score[best];
      for (int c = 0; c < n; c++) {
        cross[c] += m[best][c];
      }
    }
    for (int c = 0; c < n; c++) {
      if (!in[c]) {
        score[c] = Math.max(1 + reached / total, Math.nextUp(last));
      }
    }
    return score;
  }
}
