package dev.onnxprune.criteria;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Wanda (Sun, Liu, Bair and Kolter 2023, "A Simple and Effective Pruning Approach for Large
 * Language Models", Section 3, eq. 1) as a structured criterion. Wanda scores weight {@code W_ij}
 * (output i, input feature j) by
 * <pre>
 *   S_ij = |W_ij| * ||X_j||_2
 * </pre>
 * where {@code ||X_j||_2} is the norm of input feature j over every calibration token (all samples
 * and positions). A channel (a unit of a group) enters its consumers as input features; its score is
 * the sum of {@code S_ij} over the weights that read it: every output i of every consumer, and every
 * feature position the unit carries there (a head's {@code head_dim} columns of the out-projection,
 * the hidden width's column in every projection that reads the residual stream). For a Conv the
 * feature is the input channel and the weights are its kernel's, {@code sum_{o,kh,kw} |W[o,j,kh,kw]|},
 * times the channel's norm over all positions (the im2col rows' norm, exactly so for a 1x1 stride-1
 * conv, a close approximation otherwise). Consumers without a constant weight (an attention's
 * {@code q k^T}) contribute nothing; a group with no consumer that has one is left unscored.
 *
 * <p>Labels are not used. Cost: one forward pass over the calibration samples. The unstructured and
 * N:M form (compared per output row) is {@link WandaMasking}.
 */
final class WandaCriterion implements DataCriterion {
  private final Dataset data;
  private final Sessions sessions;
  private final DataCriteria.Options options;
  private ScoringStats stats;

  WandaCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.data = data;
    this.sessions = sessions;
    this.options = options.copy();
  }

  @Override
  public String name() {
    return "wanda";
  }

  @Override
  public ScoringStats lastStats() {
    return stats;
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    long t0 = System.nanoTime();
    Model copy = analysis.model().copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(copy);
    List<ConsumerInput> scored = new ArrayList<>();
    List<double[]> columns = new ArrayList<>();
    for (ConsumerInput ci : a.consumerInputs()) {
      boolean prunable = false;
      for (int gid : ci.groups()) {
        prunable |= a.groups().get(gid).prunable();
      }
      double[] col = prunable ? columnSums(ci) : null;
      if (col != null) {
        scored.add(ci);
        columns.add(col);
      }
    }
    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    Map<Value, double[]> sq = sumSquares(copy, scored, cal, sessions);
    double[][] scores = new double[analysis.groups().size()][];
    for (int k = 0; k < scored.size(); k++) {
      ConsumerInput ci = scored.get(k);
      double[] col = columns.get(k);
      double[] s2 = sq.get(ci.value());
      for (int p = 0; p < ci.length(); p++) {
        ChannelGroup g = a.groups().get(ci.groups()[p]);
        if (!g.prunable()) {
          continue;
        }
        if (scores[g.id()] == null) {
          scores[g.id()] = new double[g.size()];
        }
        scores[g.id()][ci.units()[p]] += col[p] * Math.sqrt(s2[p]);
      }
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, cal.batches.size(), cal.samples, 0, 1);
    return scores;
  }

  /**
   * {@code sum_i |W_ij|} for each feature position j of {@code ci} (the positions its value carries
   * along its channel axes), or null when the consumer has no constant weight over those features.
   */
  static double[] columnSums(ConsumerInput ci) {
    Node n = ci.node();
    if (ci.input() != 0 || n.inputCount() < 2) {
      return null;
    }
    Tensor w = n.input(1).constantValue();
    if (w == null) {
      Value r = n.input(1);
      while (r.producer() != null && r.producer().is("Identity")) {
        r = r.producer().input(0);
      }
      w = r.constantValue();
    }
    if (w == null || !w.dataType().isFloatingPoint()) {
      return null;
    }
    long[] d = w.dims();
    double[] f = w.toDoubleArray();
    double[] col;
    if (n.is("Conv")) {
      long out = d[0];
      long cpg = d[1];
      long k = 1;
      for (int i = 2; i < d.length; i++) {
        k *= d[i];
      }
      long groups = n.attrLong("group", 1);
      col = new double[(int) (cpg * groups)];
      long outPerGroup = out / groups;
      for (long o = 0; o < out; o++) {
        long gi = o / outPerGroup;
        for (long j = 0; j < cpg; j++) {
          double s = 0;
          for (long r = 0; r < k; r++) {
            s += Math.abs(f[(int) ((o * cpg + j) * k + r)]);
          }
          col[(int) (gi * cpg + j)] += s;
        }
      }
    } else if ((n.is("Gemm") && n.attrLong("transA", 0) == 0) || (n.is("MatMul") && d.length == 2)) {
      boolean outFirst = n.is("Gemm") && n.attrLong("transB", 0) != 0;
      long in = outFirst ? d[1] : d[0];
      long out = outFirst ? d[0] : d[1];
      col = new double[(int) in];
      for (long i = 0; i < out; i++) {
        for (long j = 0; j < in; j++) {
          col[(int) j] += Math.abs(f[(int) (outFirst ? i * in + j : j * out + i)]);
        }
      }
    } else {
      return null;
    }
    return col.length == ci.length() ? col : null;
  }

  /**
   * {@code sum x^2} over the calibration samples of each feature position of each value of {@code
   * layouts} (the positions along the axes its consumer input spans, all other axes summed); the
   * values become outputs of {@code copy}.
   */
  static Map<Value, double[]> sumSquares(Model copy, List<ConsumerInput> layouts, Calibration cal,
      Sessions sessions) {
    Map<Value, ConsumerInput> layout = new IdentityHashMap<>();
    for (ConsumerInput ci : layouts) {
      layout.putIfAbsent(ci.value(), ci);
    }
    InputBinding inputs = InputBinding.of(copy);
    LinkedHashSet<String> names = new LinkedHashSet<>();
    for (Value v : layout.keySet()) {
      if (!v.isGraphInput() && !v.isGraphOutput()) {
        copy.graph().addOutput(v);
      }
      if (!v.isGraphInput()) {
        names.add(v.name());
      }
    }
    Map<Value, double[]> out = new IdentityHashMap<>();
    for (ConsumerInput ci : layout.values()) {
      out.put(ci.value(), new double[ci.length()]);
    }
    try (OrtSession s = sessions.open(copy)) {
      for (Batch b : cal.batches) {
        Map<String, HostTensor> feeds = inputs.feeds(b);
        Map<String, Ort.Tensor> got = names.isEmpty() ? Map.of() : Ort.run(s, Map.of(), feeds, names);
        for (ConsumerInput ci : layout.values()) {
          Value v = ci.value();
          float[] x;
          long[] shape;
          if (v.isGraphInput()) {
            HostTensor t = feeds.get(v.name());
            if (t == null || t.type() != DataType.FLOAT) {
              continue;
            }
            x = t.floats();
            shape = t.shape();
          } else {
            Ort.Tensor t = got.get(v.name());
            x = t.data();
            shape = t.shape();
          }
          accumulate(ci, x, shape, out.get(v));
        }
      }
    } catch (OrtException e) {
      throw Ort.failure("scoring wanda", e);
    }
    return out;
  }

  private static void accumulate(ConsumerInput ci, float[] x, long[] shape, double[] acc) {
    long outer = 1;
    for (int d = 0; d < ci.axis(); d++) {
      outer *= shape[d];
    }
    long inner = 1;
    for (int d = ci.axis() + ci.span(); d < shape.length; d++) {
      inner *= shape[d];
    }
    int len = ci.length();
    if (outer * len * inner != x.length) {
      throw new IllegalStateException("'" + ci.value().name() + "' has " + x.length + " values; its channel"
          + " layout expects " + outer + " x " + len + " x " + inner);
    }
    for (long o = 0; o < outer; o++) {
      for (int p = 0; p < len; p++) {
        int base = (int) ((o * len + p) * inner);
        double s = 0;
        for (int i = base; i < base + inner; i++) {
          s += (double) x[i] * x[i];
        }
        acc[p] += s;
      }
    }
  }
}
