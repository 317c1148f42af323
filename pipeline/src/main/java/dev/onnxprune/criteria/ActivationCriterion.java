package dev.onnxprune.criteria;

import dev.onnxprune.internal.Ort;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.Shard;
import dev.onnxprune.exec.Sums;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Activation statistics of each channel where it enters its consumers (the inputs of the convs
 * and linear layers that read it, i.e. after its activation, pooling and so on), over the
 * calibration data in one pass: every such value becomes an extra output of a copy of the model.
 * A channel read by several consumers pools its statistics over all of them.
 * <ul>
 *   <li>{@code apoz}: Average Percentage of Zeros (Hu et al. 2016, "Network Trimming"): the
 *       fraction of a channel's activations that are exactly 0 over samples and positions. A high
 *       APoZ means an unimportant channel, so the score is {@code 1 - APoZ}. Meaningful behind
 *       ReLU-like activations; a channel entering its consumer without one (a linear bottleneck)
 *       has APoZ ~0 and scores ~1.
 *   <li>{@code mean}: mean activation (Molchanov et al. 2017), the mean of |a| over samples and
 *       positions (the plain mean behind a ReLU).
 * </ul>
 * Cost: one forward pass over the calibration samples, plus copying the extra outputs out.
 */
final class ActivationCriterion implements DataCriterion {
  private final boolean apoz;
  private final Dataset data;
  private final Sessions sessions;
  private final DataCriteria.Options options;
  private ScoringStats stats;

  ActivationCriterion(boolean apoz, Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.apoz = apoz;
    this.data = data;
    this.sessions = sessions;
    this.options = options.copy();
  }

  @Override
  public String name() {
    return apoz ? "apoz" : "mean";
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
    InputBinding inputs = InputBinding.of(copy);
    // The values to observe, each once, with the consumer input describing its channel layout.
    Map<Value, ConsumerInput> observed = new IdentityHashMap<>();
    List<Value> order = new ArrayList<>();
    for (ConsumerInput ci : a.consumerInputs()) {
      boolean prunable = false;
      for (int gid : ci.groups()) {
        prunable |= a.groups().get(gid).prunable();
      }
      if (prunable && !ci.value().isGraphInput() && !observed.containsKey(ci.value())) {
        observed.put(ci.value(), ci);
        order.add(ci.value());
      }
    }
    LinkedHashSet<String> names = new LinkedHashSet<>();
    for (Value v : order) {
      if (!v.isGraphOutput()) {
        copy.graph().addOutput(v);
      }
      names.add(v.name());
    }
    int[] sizes = new int[a.groups().size()];
    for (ChannelGroup g : a.prunableGroups()) {
      sizes[g.id()] = g.size();
    }
    List<Positions> layout = order.stream().map(v -> Positions.of(observed.get(v))).toList();
    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    Sums sums = options.backend().sum(name() + " statistics", new Job(layout, sizes, List.copyOf(names)),
        JobModels.of("observed", copy), cal.sharded(data, options), sessions);
    double[][] scores = new double[analysis.groups().size()][];
    for (ChannelGroup g : a.prunableGroups()) {
      double[] zeros = sums.array("zeros." + g.id(), g.size());
      double[] abs = sums.array("abs." + g.id(), g.size());
      double[] count = sums.array("count." + g.id(), g.size());
      double[] s = new double[g.size()];
      for (int u = 0; u < s.length; u++) {
        double n = Math.max(1, count[u]);
        s[u] = apoz ? 1 - zeros[u] / n : abs[u] / n;
      }
      scores[g.id()] = s;
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, (long) sums.value("runs"), cal.samples, 0, 1);
    return scores;
  }

  /** Per shard: zeros, |a| and positions counted per channel ("zeros.G", "abs.G", "count.G" for group G). */
  private record Job(List<Positions> layout, int[] sizes, List<String> names) implements DataJob<Sums> {
    @Override
    public Sums run(Shard shard) {
      Model m = shard.model("observed");
      InputBinding inputs = InputBinding.of(m);
      double[][] zeros = new double[sizes.length][];
      double[][] abs = new double[sizes.length][];
      double[][] count = new double[sizes.length][];
      for (int g = 0; g < sizes.length; g++) {
        if (sizes[g] > 0) {
          zeros[g] = new double[sizes[g]];
          abs[g] = new double[sizes[g]];
          count[g] = new double[sizes[g]];
        }
      }
      long runs = 0;
      try (OrtSession s = shard.open("observed")) {
        for (Batch b : shard.batches()) {
          Map<String, Ort.Tensor> out = Ort.run(s, Map.of(), inputs.feeds(b), new LinkedHashSet<>(names));
          runs++;
          for (Positions p : layout) {
            accumulate(p, out.get(p.value()), zeros, abs, count);
          }
        }
      } catch (OrtException e) {
        throw Ort.failure("scoring activations", e);
      }
      Sums out = new Sums();
      for (int g = 0; g < sizes.length; g++) {
        if (zeros[g] != null) {
          System.arraycopy(zeros[g], 0, out.array("zeros." + g, sizes[g]), 0, sizes[g]);
          System.arraycopy(abs[g], 0, out.array("abs." + g, sizes[g]), 0, sizes[g]);
          System.arraycopy(count[g], 0, out.array("count." + g, sizes[g]), 0, sizes[g]);
        }
      }
      out.add("runs", runs);
      return out;
    }

    @Override
    public Sums merge(Sums earlier, Sums later) {
      return earlier.merge(later);
    }
  }

  private static void accumulate(Positions ci, Ort.Tensor t, double[][] zeros, double[][] abs,
      double[][] count) {
    long[] shape = t.shape();
    long outer = 1;
    for (int d = 0; d < ci.axis(); d++) {
      outer *= shape[d];
    }
    long inner = 1;
    for (int d = ci.axis() + ci.span(); d < shape.length; d++) {
      inner *= shape[d];
    }
    int len = ci.length();
    if (outer * len * inner != t.data().length) {
      throw new IllegalStateException("'" + ci.value() + "' has " + t.data().length + " values; its channel"
          + " layout expects " + outer + " x " + len + " x " + inner);
    }
    float[] x = t.data();
    int in = (int) inner;
    for (int p = 0; p < len; p++) {
      int gid = ci.groups()[p];
      if (zeros[gid] == null) {
        continue; // an unprunable group
      }
      int u = ci.units()[p];
      long z = 0;
      double s = 0;
      for (long o = 0; o < outer; o++) {
        int base = (int) ((o * len + p) * inner);
        for (int i = base; i < base + in; i++) {
          float v = x[i];
          if (v == 0f) {
            z++;
          }
          s += Math.abs(v);
        }
      }
      zeros[gid][u] += z;
      abs[gid][u] += s;
      count[gid][u] += outer * inner;
    }
  }
}
