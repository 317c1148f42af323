package dev.onnxprune.criteria;

import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.internal.SuffixModel;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.internal.RemovalOrder;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Oracle pruning's score (AOFP paper eq. 5): the increase of the mean cross-entropy over the
 * calibration samples when a channel is ablated, {@code T(F) = mean(L(x, y, F - F_j) - L(x, y, F))}.
 * Labels come from the data, or, when it has none, from the unablated model's own predictions.
 * Scores can be negative (ablating the channel lowered the loss).
 *
 * <p><b>How ablations run.</b> A copy of the model gets a mask input per group
 * ({@link MaskInsertion#inputs}); one session serves every ablation. A run packs {@code k =
 * max(1, runSamples / batchSize)} ablations of one group along the batch axis: the batch is
 * repeated k times and block i of the group's mask zeroes channel i. With
 * {@link DataCriteria.Options#suffix}, an ablation of group g runs only the {@link SuffixModel}
 * from g's first consumer on; one unablated run per batch provides the values live there.
 *
 * <p>Groups whose samples are merged with another axis where they are masked (PyTorch's
 * attention heads, {@code [seq * batch, width]} before the out-projection) take one mask for the
 * whole batch: their ablations run unpacked on the full model, and are not re-scored.
 *
 * <p><b>Re-scoring</b> (Section 3.2: removing a filter changes the others' importance). With
 * {@code rescore(R, s)}, after each of R rounds the lowest {@code ceil(s * C)} remaining
 * channels of each group (C channels) count as removed: they stay masked, and the remaining
 * ones are scored again. The result ranks channels by round of removal, then by score (scores
 * are made increasing along that order); R = 0 is the one-shot ("degraded") oracle.
 *
 * <p><b>Cost.</b> With U scored channels and N calibration samples, one round pushes
 * {@code U * N} ablated samples through the model: one forward pass over the calibration data
 * per channel. Packing changes the number of session runs ({@code U * N / runSamples} instead
 * of {@code U * N / batchSize}), not the arithmetic; the suffix cuts the arithmetic of each
 * ablation to the share of FLOPs after the group's first consumer (about half on average over
 * a plain chain), plus one unablated pass per group and batch. R rounds of re-scoring cost about
 * {@code sum_{r=0..R} (1 - s)^r} times one round.
 */
final class OracleCriterion implements DataCriterion {
  private final Dataset data;
  private final Sessions sessions;
  private final DataCriteria.Options options;
  private ScoringStats stats;

  OracleCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.data = data;
    this.sessions = sessions;
    this.options = options.copy();
  }

  @Override
  public String name() {
    return "oracle";
  }

  @Override
  public ScoringStats lastStats() {
    return stats;
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    return Ort.unchecked(name() + " scoring", () -> run(analysis));
  }

  /** Mutable state of one scoring. */
  private final class Run {
    final ChannelAnalysis a;
    final Map<Integer, String> maskNames;
    final InputBinding inputs;
    final String logits;
    final Calibration cal;
    final boolean[][] removed;
    long[][] labels;
    long runs;
    long forwards;
    long ablations;
    double equivalents;

    Run(ChannelAnalysis a, Map<Integer, String> maskNames, InputBinding inputs, String logits, Calibration cal) {
      this.a = a;
      this.maskNames = maskNames;
      this.inputs = inputs;
      this.logits = logits;
      this.cal = cal;
      this.removed = new boolean[a.groups().size()][];
      for (ChannelGroup g : a.prunableGroups()) {
        removed[g.id()] = new boolean[g.size()];
      }
    }

    /** Masks of every group for one sample: 0 where removed. */
    float[] baseMask(int gid) {
      boolean[] r = removed[gid];
      float[] m = new float[r.length];
      for (int u = 0; u < m.length; u++) {
        m[u] = r[u] ? 0f : 1f;
      }
      return m;
    }

    /** Feeds of every mask except {@code except}'s, one row each, for the inputs {@code session} has. */
    Map<String, Ort.Tensor> baseMasks(Set<String> inputs, int except) {
      Map<String, Ort.Tensor> feeds = new HashMap<>();
      for (Map.Entry<Integer, String> e : maskNames.entrySet()) {
        if (e.getKey() != except && inputs.contains(e.getValue())) {
          float[] m = baseMask(e.getKey());
          feeds.put(e.getValue(), Ort.Tensor.of(m, 1, m.length));
        }
      }
      return feeds;
    }
  }

  private double[][] run(ChannelAnalysis analysis) throws OrtException {
    long t0 = System.nanoTime();
    Model masked = analysis.model().copy();
    InputBinding inputs = InputBinding.of(masked); // before the mask inputs join them
    String logits = masked.graph().outputs().get(0).name();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    MaskInsertion mi = MaskInsertion.inputs(a);
    PassManager.run(masked, mi);
    // groups whose channels cannot be masked per sample (mi.unmasked()) are scored by wholeBatch
    List<ChannelGroup> scored = a.prunableGroups().stream()
        .filter(g -> g.size() >= 2 && mi.maskInputs().containsKey(g.id())).toList();
    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    Run st = new Run(a, mi.maskInputs(), inputs, logits, cal);
    byte[] maskedBytes = OnnxModels.toBytes(masked);

    // Suffix models first: the base model must output every value they are cut at.
    Map<Integer, SuffixModel> suffixes = new HashMap<>();
    Set<String> cutValues = new LinkedHashSet<>();
    if (options.suffix()) {
      for (ChannelGroup g : scored) {
        SuffixModel s = SuffixModel.of(maskedBytes, st.maskNames.get(g.id()), inputs.names());
        if (s != null) {
          suffixes.put(g.id(), s);
          cutValues.addAll(s.cut().keySet());
        }
      }
      for (String v : cutValues) {
        Value val = masked.graph().value(v);
        if (!val.isGraphOutput()) {
          masked.graph().addOutput(val);
        }
      }
    }
    double[][] lastScore = new double[a.groups().size()][];
    int[][] roundRemoved = new int[a.groups().size()][];
    for (ChannelGroup g : scored) {
      lastScore[g.id()] = new double[g.size()];
      roundRemoved[g.id()] = new int[g.size()];
      Arrays.fill(roundRemoved[g.id()], -1);
    }
    try (OrtSession base = sessions.open(masked)) {
      int done = 0;
      for (int round = 0; round <= options.rescoreRounds(); round++) {
        double[] baseLoss = baseLosses(st, base);
        for (ChannelGroup g : scored) {
          Progress.report(done++, (long) scored.size() * (options.rescoreRounds() + 1));
          int[] units = remaining(st.removed[g.id()]);
          if (units.length < 2 && round > 0) {
            continue;
          }
          double[] loss = ablate(st, base, suffixes.get(g.id()), g, units);
          for (int i = 0; i < units.length; i++) {
            lastScore[g.id()][units[i]] = (loss[i] - baseLoss[0]) / cal.samples;
          }
          st.ablations += units.length;
        }
        if (round < options.rescoreRounds()) {
          for (ChannelGroup g : scored) {
            int[] units = remaining(st.removed[g.id()]);
            int n = Math.min(units.length - 1, (int) Math.ceil(options.rescoreStep() * g.size()));
            Integer[] byScore = Arrays.stream(units).boxed().toArray(Integer[]::new);
            double[] s = lastScore[g.id()];
            Arrays.sort(byScore, (x, y) -> Double.compare(s[x], s[y]));
            for (int i = 0; i < n; i++) {
              st.removed[g.id()][byScore[i]] = true;
              roundRemoved[g.id()][byScore[i]] = round;
            }
          }
        }
      }
    }
    double[][] scores = new double[analysis.groups().size()][];
    for (ChannelGroup g : scored) {
      scores[g.id()] = RemovalOrder.monotone(roundRemoved[g.id()], lastScore[g.id()]);
    }
    if (!mi.unmasked().isEmpty()) {
      wholeBatch(analysis, mi.unmasked().keySet(), st, scores);
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, st.runs, st.forwards, st.ablations,
        st.equivalents);
    return scores;
  }

  /**
   * Scores the groups whose samples are merged with another axis where they are masked (PyTorch's
   * attention heads before the out-projection): one mask row for the whole batch broadcasts
   * there, so each ablation runs the whole batch with one mask, unpacked, on the full model. The
   * other groups are unmasked (round 0: nothing removed); these groups are scored once, not
   * re-scored. Uses the labels the first base pass fixed.
   */
  private void wholeBatch(ChannelAnalysis analysis, Set<Integer> ids, Run st, double[][] scores) throws OrtException {
    Model masked = analysis.model().copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    List<ChannelGroup> groups = new ArrayList<>();
    for (int id : ids) {
      if (a.groups().get(id).size() >= 2) {
        groups.add(a.groups().get(id));
      }
    }
    MaskInsertion mi = MaskInsertion.inputs(a, groups).rows(1);
    PassManager.run(masked, mi);
    try (OrtSession session = sessions.open(masked)) {
      Set<String> names = session.getInputNames();
      java.util.function.BiFunction<Integer, Integer, Double> loss = (gid, unit) -> {
        double sum = 0;
        for (int bi = 0; bi < st.cal.batches.size(); bi++) {
          Batch b = st.cal.batches.get(bi);
          Map<String, Ort.Tensor> feeds = new HashMap<>();
          for (Map.Entry<Integer, String> e : mi.maskInputs().entrySet()) {
            float[] m = new float[a.groups().get(e.getKey()).size()];
            Arrays.fill(m, 1f);
            if (e.getKey().equals(gid) && unit >= 0) {
              m[unit] = 0f;
            }
            if (names.contains(e.getValue())) {
              feeds.put(e.getValue(), Ort.Tensor.of(m, 1, m.length));
            }
          }
          float[] y = Ort.unchecked("oracle scoring", () -> Ort.run(session, feeds, st.inputs.feeds(b),
              Set.of(st.logits)).get(st.logits).data());
          st.runs++;
          st.forwards += b.size();
          st.equivalents += (double) b.size() / st.cal.samples;
          for (double l : Ort.crossEntropy(y, b.size(), st.labels[bi])) {
            sum += l;
          }
        }
        return sum;
      };
      double base = loss.apply(-1, -1);
      for (ChannelGroup g : groups) {
        double[] sc = new double[g.size()];
        for (int u = 0; u < sc.length; u++) {
          sc[u] = (loss.apply(g.id(), u) - base) / st.cal.samples;
          st.ablations++;
        }
        scores[g.id()] = sc;
      }
    }
  }

  private static int[] remaining(boolean[] removed) {
    int[] out = new int[removed.length];
    int n = 0;
    for (int u = 0; u < removed.length; u++) {
      if (!removed[u]) {
        out[n++] = u;
      }
    }
    return Arrays.copyOf(out, n);
  }

  /** Summed loss of the unablated model (with removed channels masked) over all batches; fixes the labels. */
  private double[] baseLosses(Run st, OrtSession base) throws OrtException {
    double sum = 0;
    boolean fixLabels = st.labels == null;
    if (fixLabels) {
      st.labels = new long[st.cal.batches.size()][];
    }
    for (int bi = 0; bi < st.cal.batches.size(); bi++) {
      Batch b = st.cal.batches.get(bi);
      Map<String, Ort.Tensor> feeds = st.baseMasks(base.getInputNames(), -1);
      float[] y = Ort.run(base, feeds, st.inputs.feeds(b), Set.of(st.logits)).get(st.logits).data();
      st.runs++;
      st.forwards += b.size();
      st.equivalents += (double) b.size() / st.cal.samples;
      if (fixLabels) {
        if (bi == 0 && st.cal.labelled()) {
          st.cal.checkLabels(y.length / b.size(), "output '" + st.logits + "'");
        }
        st.labels[bi] = st.cal.labelled() ? b.labels() : Ort.argmax(y, b.size());
      }
      for (double l : Ort.crossEntropy(y, b.size(), st.labels[bi])) {
        sum += l;
      }
    }
    return new double[] {sum};
  }

  /** Summed loss over the calibration data with each of {@code units} of {@code g} ablated in turn. */
  private double[] ablate(Run st, OrtSession base, SuffixModel suffix, ChannelGroup g, int[] units)
      throws OrtException {
    double[] loss = new double[units.length];
    OrtSession session = suffix == null ? base : sessions.open(suffix.model());
    try {
      Set<String> inputs = session.getInputNames();
      double share = suffix == null ? 1 : suffix.flopsShare();
      for (int bi = 0; bi < st.cal.batches.size(); bi++) {
        Batch b = st.cal.batches.get(bi);
        int n = b.size();
        Map<String, HostTensor> data = st.inputs.feeds(b);
        Map<String, HostTensor> live = new HashMap<>();
        if (suffix == null) {
          live.putAll(data);
        } else {
          Map<String, Ort.Tensor> feeds = st.baseMasks(base.getInputNames(), -1);
          Map<String, Ort.Tensor> out = Ort.run(base, feeds, data, suffix.cut().keySet());
          st.runs++;
          st.forwards += n;
          st.equivalents += (1 - share) * n / st.cal.samples;
          for (Map.Entry<String, String> c : suffix.cut().entrySet()) {
            Ort.Tensor t = out.get(c.getKey());
            live.put(c.getValue(), HostTensor.floats(t.data(), t.shape()));
          }
          data.forEach((name, t) -> {
            if (inputs.contains(name)) {
              live.put(name, t);
            }
          });
        }
        int k = Math.max(1, options.runSamples() / n);
        float[] row = st.baseMask(g.id());
        for (int from = 0; from < units.length; from += k) {
          int kk = Math.min(k, units.length - from);
          Map<String, Ort.Tensor> feeds = st.baseMasks(inputs, g.id());
          Map<String, HostTensor> repeated = new HashMap<>();
          live.forEach((name, t) -> repeated.put(name, kk == 1 ? t : t.repeat(kk)));
          float[] mask = new float[kk * n * row.length];
          for (int i = 0; i < kk; i++) {
            for (int s = 0; s < n; s++) {
              int off = (i * n + s) * row.length;
              System.arraycopy(row, 0, mask, off, row.length);
              mask[off + units[from + i]] = 0f;
            }
          }
          String maskName = st.maskNames.get(g.id());
          if (inputs.contains(maskName)) {
            feeds.put(maskName, Ort.Tensor.of(mask, (long) kk * n, row.length));
          }
          float[] y = Ort.run(session, feeds, repeated, Set.of(st.logits)).get(st.logits).data();
          st.runs++;
          st.forwards += (long) kk * n;
          st.equivalents += share * kk * n / st.cal.samples;
          double[] ce = Ort.crossEntropy(y, kk * n, Ort.repeatLabels(st.labels[bi], kk));
          for (int i = 0; i < kk; i++) {
            double sum = 0;
            for (int s = 0; s < n; s++) {
              sum += ce[i * n + s];
            }
            loss[from + i] += sum;
          }
        }
      }
    } finally {
      if (session != base) {
        session.close();
      }
    }
    return loss;
  }
}
