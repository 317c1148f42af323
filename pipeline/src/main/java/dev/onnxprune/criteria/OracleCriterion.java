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
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.Shard;
import dev.onnxprune.exec.Sums;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Labels;
import java.util.LinkedHashMap;
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
import dev.onnxprune.runtime.Progress;

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
 * whole batch: their ablations run unpacked on the full model, in this process whatever the
 * backend, and are not re-scored.
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
 * {@code sum_{r=0..R} (1 - s)^r} times one round. Before the first ablation the estimate of the
 * whole scoring, in forward passes and seconds at the forward rate measured here on the
 * calibration data, goes to {@link Progress#note} (the pipeline prints it); with
 * {@link DataCriteria.Options#timeBudget} no re-scoring round starts once it is spent.
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
    byte[] maskedBytes = OnnxModels.toBytes(masked);

    // Suffix models first: the base model must output every value they are cut at.
    JobModels models = JobModels.of();
    Map<Integer, Suffix> suffixes = new HashMap<>();
    Set<String> cutValues = new LinkedHashSet<>();
    if (options.suffix()) {
      for (ChannelGroup g : scored) {
        SuffixModel s = SuffixModel.of(maskedBytes, mi.maskInputs().get(g.id()), inputs.names());
        if (s != null) {
          suffixes.put(g.id(), new Suffix(new LinkedHashMap<>(s.cut()), s.flopsShare()));
          models.with("suffix." + g.id(), s.model());
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
    models.with("base", masked);
    boolean[][] removed = new boolean[a.groups().size()][];
    int[] sizes = new int[a.groups().size()];
    for (ChannelGroup g : a.prunableGroups()) {
      removed[g.id()] = new boolean[g.size()];
      sizes[g.id()] = g.size();
    }
    double[][] lastScore = new double[a.groups().size()][];
    int[][] roundRemoved = new int[a.groups().size()][];
    for (ChannelGroup g : scored) {
      lastScore[g.id()] = new double[g.size()];
      roundRemoved[g.id()] = new int[g.size()];
      Arrays.fill(roundRemoved[g.id()], -1);
    }
    int[] scoredIds = scored.stream().mapToInt(ChannelGroup::id).toArray();
    long[][] labels = cal.labelled() ? null : new long[cal.batches.size()][];
    long runs = 0;
    long forwards = 0;
    long ablations = 0;
    double equivalents = 0;
    long deadline = options.timeBudget() == null ? Long.MAX_VALUE : t0 + options.timeBudget().toNanos();
    Progress.note(estimate(scored, suffixes, cal.samples, passSeconds(masked, mi.maskInputs(), a, inputs, logits,
        cal)));
    for (int round = 0; round <= options.rescoreRounds(); round++) {
      if (round > 0 && System.nanoTime() >= deadline) {
        Progress.note(String.format(java.util.Locale.ROOT, "oracle: time budget (criterion.maxSeconds) spent"
            + " after %d of %d re-scoring rounds; the rest keep their last scores", round - 1,
            options.rescoreRounds()));
        break;
      }
      Round job = new Round(round, options.rescoreRounds(), scoredIds, sizes, copy(removed),
          new LinkedHashMap<>(mi.maskInputs()), suffixes, logits, inputs.dataInput(), options.runSamples(),
          round == 0 ? null : labels);
      Sums r = options.backend().sum("oracle ablations", job, models, cal.sharded(data, options), sessions);
      if (labels != null && round == 0) {
        for (int bi = 0; bi < labels.length; bi++) {
          double[] y = r.get("labels." + bi);
          labels[bi] = new long[y.length];
          for (int k = 0; k < y.length; k++) {
            labels[bi][k] = (long) y[k];
          }
        }
      }
      double baseLoss = r.value("base");
      for (ChannelGroup g : scored) {
        int[] units = remaining(removed[g.id()]);
        if (units.length < 2 && round > 0) {
          continue;
        }
        double[] loss = r.array("loss." + g.id(), units.length);
        for (int i = 0; i < units.length; i++) {
          lastScore[g.id()][units[i]] = (loss[i] - baseLoss) / cal.samples;
        }
        ablations += units.length;
      }
      runs += (long) r.value("runs");
      forwards += (long) r.value("forwards");
      equivalents += r.value("equivalents");
      if (round < options.rescoreRounds()) {
        for (ChannelGroup g : scored) {
          int[] units = remaining(removed[g.id()]);
          int n = Math.min(units.length - 1, (int) Math.ceil(options.rescoreStep() * g.size()));
          Integer[] byScore = Arrays.stream(units).boxed().toArray(Integer[]::new);
          double[] sc = lastScore[g.id()];
          Arrays.sort(byScore, (x, y) -> Double.compare(sc[x], sc[y]));
          for (int i = 0; i < n; i++) {
            removed[g.id()][byScore[i]] = true;
            roundRemoved[g.id()][byScore[i]] = round;
          }
        }
      }
    }
    double[][] scores = new double[analysis.groups().size()][];
    for (ChannelGroup g : scored) {
      scores[g.id()] = RemovalOrder.monotone(roundRemoved[g.id()], lastScore[g.id()]);
    }
    if (!mi.unmasked().isEmpty()) {
      long[][] y = new long[cal.batches.size()][];
      for (int bi = 0; bi < y.length; bi++) {
        y[bi] = labels != null ? labels[bi] : cal.batches.get(bi).labels();
      }
      double[] extra = wholeBatch(analysis, mi.unmasked().keySet(), cal, inputs, logits, y, scores);
      runs += (long) extra[0];
      forwards += (long) extra[1];
      ablations += (long) extra[2];
      equivalents += extra[3];
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, runs, forwards, ablations, equivalents);
    return scores;
  }

  /**
   * Scores the groups whose samples are merged with another axis where they are masked (PyTorch's
   * attention heads before the out-projection): one mask row for the whole batch broadcasts
   * there, so each ablation runs the whole batch with one mask, unpacked, on the full model. The
   * other groups are unmasked (round 0: nothing removed); these groups are scored once, not
   * re-scored. Uses the labels {@code y} the first base pass fixed; returns the session runs,
   * samples forwarded, ablations and forward equivalents it added.
   */
  private double[] wholeBatch(ChannelAnalysis analysis, Set<Integer> ids, Calibration cal, InputBinding inputs,
      String logits, long[][] y, double[][] scores) throws OrtException {
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
    double[] counts = new double[4];
    try (OrtSession session = sessions.open(masked)) {
      Set<String> names = session.getInputNames();
      java.util.function.BiFunction<Integer, Integer, Double> loss = (gid, unit) -> {
        double sum = 0;
        for (int bi = 0; bi < cal.batches.size(); bi++) {
          Batch b = cal.batches.get(bi);
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
          float[] z = Ort.unchecked("oracle scoring", () -> Ort.run(session, feeds, inputs.feeds(b),
              Set.of(logits)).get(logits).data());
          counts[0]++;
          counts[1] += b.size();
          counts[3] += (double) b.size() / cal.samples;
          for (double l : Ort.crossEntropy(z, b.size(), y[bi])) {
            sum += l;
          }
        }
        return sum;
      };
      double base = loss.apply(-1, -1);
      for (ChannelGroup g : groups) {
        double[] sc = new double[g.size()];
        for (int u = 0; u < sc.length; u++) {
          sc[u] = (loss.apply(g.id(), u) - base) / cal.samples;
          counts[2]++;
        }
        scores[g.id()] = sc;
      }
    }
    return counts;
  }

  /**
   * Seconds of one forward pass of {@code masked} (nothing masked) over the calibration data, on
   * this machine's sessions, after a warm-up run: the rate {@link #estimate} prices passes at.
   */
  private double passSeconds(Model masked, Map<Integer, String> maskNames, ChannelAnalysis a, InputBinding inputs,
      String logits, Calibration cal) throws OrtException {
    try (OrtSession s = sessions.open(masked)) {
      Map<String, Ort.Tensor> feeds = new HashMap<>();
      for (Map.Entry<Integer, String> e : maskNames.entrySet()) {
        if (s.getInputNames().contains(e.getValue())) {
          float[] ones = new float[a.groups().get(e.getKey()).size()];
          Arrays.fill(ones, 1f);
          feeds.put(e.getValue(), Ort.Tensor.of(ones, 1, ones.length));
        }
      }
      Ort.run(s, feeds, inputs.feeds(cal.batches.get(0)), Set.of(logits));
      long t = System.nanoTime();
      for (Batch b : cal.batches) {
        Ort.run(s, feeds, inputs.feeds(b), Set.of(logits));
      }
      return (System.nanoTime() - t) / 1e9;
    }
  }

  /**
   * The one-line cost estimate noted before scoring: forward-pass equivalents of every round (the
   * class comment's cost model: per scored channel its suffix's share of the FLOPs, per group and
   * round one unablated pass to the suffix's cut, one unablated pass per round), times the
   * measured seconds of one forward pass over the {@code samples} calibration samples.
   */
  private String estimate(List<ChannelGroup> scored, Map<Integer, Suffix> suffixes, int samples,
      double passSeconds) {
    double passes = 0;
    int channels = 0;
    for (ChannelGroup g : scored) {
      Suffix sm = suffixes.get(g.id());
      double share = sm == null ? 1 : sm.share();
      int left = g.size();
      channels += left;
      for (int round = 0; round <= options.rescoreRounds(); round++) {
        if (left < 2 && round > 0) {
          break;
        }
        passes += left * share + (1 - share);
        left -= Math.min(left - 1, (int) Math.ceil(options.rescoreStep() * g.size()));
      }
    }
    passes += options.rescoreRounds() + 2; // the unablated pass of each round and the timing pass
    double seconds = passes * passSeconds;
    String rounds = options.rescoreRounds() == 0 ? "one-shot (oracle.rescore 0)"
        : String.format(java.util.Locale.ROOT, "1 + %d re-scoring rounds of %s (oracle.rescore; 0 is one-shot,"
            + " about %.1fx faster)", options.rescoreRounds(), java.math.BigDecimal.valueOf(options.rescoreStep())
            .stripTrailingZeros().toPlainString(), passes / oneShot(scored, suffixes));
    return String.format(java.util.Locale.ROOT, "oracle: %d channels in %d groups, %s: about %.0f forward passes over"
        + " %d samples, %s at the measured %.0f samples/s%s", channels, scored.size(), rounds, passes, samples,
        duration(seconds), samples / Math.max(1e-9, passSeconds), options.timeBudget() == null ? ""
            : "; criterion.maxSeconds " + java.math.BigDecimal.valueOf(options.timeBudget().toNanos(), 9)
                .stripTrailingZeros().toPlainString() + " stops re-scoring when spent");
  }

  private static double oneShot(List<ChannelGroup> scored, Map<Integer, Suffix> suffixes) {
    double passes = 2;
    for (ChannelGroup g : scored) {
      Suffix sm = suffixes.get(g.id());
      double share = sm == null ? 1 : sm.share();
      passes += g.size() * share + (1 - share);
    }
    return passes;
  }

  private static String duration(double seconds) {
    long s = Math.round(seconds);
    return s < 120 ? s + " s" : s < 7200 ? String.format(java.util.Locale.ROOT, "%d min %02d s", s / 60, s % 60)
        : String.format(java.util.Locale.ROOT, "%d h %02d min", s / 3600, s / 60 % 60);
  }

  private static boolean[][] copy(boolean[][] a) {
    boolean[][] out = new boolean[a.length][];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] == null ? null : a[i].clone();
    }
    return out;
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

  /** A group's suffix model (key "suffix.G"): the base values it is cut at, by its input, and its FLOPs share. */
  private record Suffix(Map<String, String> cut, double share) implements java.io.Serializable {}

  /**
   * One round of ablations over a shard: "base" (summed loss of the model with the removed channels
   * masked), "loss.G" (summed loss with each remaining unit of group G ablated in turn), "labels.B"
   * (round 0 on unlabelled data: the model's predictions for batch B), and the run counts.
   */
  private record Round(int round, int rounds, int[] scored, int[] sizes, boolean[][] removed,
      Map<Integer, String> maskNames, Map<Integer, Suffix> suffixes, String logits, String dataInput, int runSamples,
      long[][] labels) implements DataJob<Sums> {
    @Override
    public boolean rereads() {
      return true;
    }

    @Override
    public Sums merge(Sums earlier, Sums later) {
      return earlier.merge(later);
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

    @Override
    public Sums run(Shard shard) throws OrtException {
      Sums out = new Sums();
      InputBinding inputs = InputBinding.of(shard.model("base")).withDataInput(dataInput);
      long total = shard.totalSamples();
      List<Batch> batches = new ArrayList<>();
      shard.batches().forEach(batches::add);
      long[][] y = new long[batches.size()][];
      try (OrtSession base = shard.open("base")) {
        // the unablated model, which fixes the labels of unlabelled data in round 0
        double sum = 0;
        long first = shard.firstSample();
        for (int bi = 0; bi < batches.size(); bi++) {
          Batch b = batches.get(bi);
          Map<String, Ort.Tensor> feeds = baseMasks(base.getInputNames(), -1);
          float[] z = Ort.run(base, feeds, inputs.feeds(b), Set.of(logits)).get(logits).data();
          out.add("runs", 1);
          out.add("forwards", b.size());
          out.add("equivalents", (double) b.size() / total);
          if (b.labels() != null) {
            if (round == 0) {
              Labels.check(b.labels(), first, z.length / b.size(), "output '" + logits + "'");
            }
            y[bi] = b.labels();
          } else if (labels != null) {
            y[bi] = labels[shard.firstBatch() + bi];
          } else {
            y[bi] = Ort.argmax(z, b.size());
            double[] kept = out.array("labels." + (shard.firstBatch() + bi), b.size());
            for (int k = 0; k < kept.length; k++) {
              kept[k] = y[bi][k];
            }
          }
          for (double l : Ort.crossEntropy(z, b.size(), y[bi])) {
            sum += l;
          }
          first += b.size();
        }
        out.add("base", sum);
        for (int gi = 0; gi < scored.length; gi++) {
          int gid = scored[gi];
          shard.progress((double) (round * scored.length + gi) / ((long) scored.length * (rounds + 1)),
              "group " + (gi + 1) + " of " + scored.length);
          int[] units = remaining(removed[gid]);
          if (units.length < 2 && round > 0) {
            continue;
          }
          double[] loss = ablate(shard, out, base, inputs, batches, y, gid, units, total);
          System.arraycopy(loss, 0, out.array("loss." + gid, units.length), 0, units.length);
        }
      }
      return out;
    }

    /** Summed loss over the shard's batches with each of {@code units} of group {@code gid} ablated in turn. */
    private double[] ablate(Shard shard, Sums counts, OrtSession base, InputBinding binding, List<Batch> batches,
        long[][] y, int gid, int[] units, long total) throws OrtException {
      double[] loss = new double[units.length];
      Suffix suffix = suffixes.get(gid);
      OrtSession session = suffix == null ? base : shard.open("suffix." + gid);
      try {
        Set<String> inputs = session.getInputNames();
        double share = suffix == null ? 1 : suffix.share();
        for (int bi = 0; bi < batches.size(); bi++) {
          Batch b = batches.get(bi);
          int n = b.size();
          Map<String, HostTensor> data = binding.feeds(b);
          Map<String, HostTensor> live = new HashMap<>();
          if (suffix == null) {
            live.putAll(data);
          } else {
            Map<String, Ort.Tensor> feeds = baseMasks(base.getInputNames(), -1);
            Map<String, Ort.Tensor> out = Ort.run(base, feeds, data, suffix.cut().keySet());
            counts.add("runs", 1);
            counts.add("forwards", n);
            counts.add("equivalents", (1 - share) * n / total);
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
          int k = Math.max(1, runSamples / n);
          float[] row = baseMask(gid);
          for (int from = 0; from < units.length; from += k) {
            int kk = Math.min(k, units.length - from);
            Map<String, Ort.Tensor> feeds = baseMasks(inputs, gid);
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
            String maskName = maskNames.get(gid);
            if (inputs.contains(maskName)) {
              feeds.put(maskName, Ort.Tensor.of(mask, (long) kk * n, row.length));
            }
            float[] z = Ort.run(session, feeds, repeated, Set.of(logits)).get(logits).data();
            counts.add("runs", 1);
            counts.add("forwards", (long) kk * n);
            counts.add("equivalents", share * kk * n / total);
            double[] ce = Ort.crossEntropy(z, kk * n, Ort.repeatLabels(y[bi], kk));
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
}
