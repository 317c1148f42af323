package dev.onnxprune.prune;

import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.methods.PruneNet;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.ChannelPruningPass;
import dev.onnxprune.surgery.PrunePlan;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * What each channel of each group costs in latency on one execution provider, measured (PruneNet
 * GCP-latency: per-channel costs c_i for the latency objective).
 *
 * <p><b>Measurement.</b> The timer times the whole model; for each prunable group of C >= 2
 * channels, copies of the model with only that group really pruned to the widths
 * {@code round(f * C)} (f in {@code fractions}, default 3/4, 1/2, 1/4) are timed, together
 * with the unpruned model (width C). A least-squares line {@code t(w) = a + b * w} through
 * these points gives the group's cost per channel b (seconds; clamped at 0 where noise makes the
 * slope negative). The prediction for a plan is {@code t0 - sum_g b_g * removed_g}, with t0 the
 * unpruned model's time: a first-order model that ignores how groups interact (one layer's
 * input and output widths both change when two neighbouring groups shrink). Kernels step at SIMD
 * widths, so {@link Pruner} times each group at the widths it may keep ({@link Rounding}: multiples
 * of the hardware's unit), the widths the allocator then chooses from; {@link #measure(ChannelAnalysis,
 * Timer)} times exact fractions.
 *
 * <p><b>Cost.</b> {@code 1 + groups x fractions} timings; with {@link #ort} each is a session
 * creation plus warm-up and timed runs.
 */
public final class LatencyModel {
  /** Times one forward pass of a model, in seconds. */
  @FunctionalInterface
  public interface Timer {
    double seconds(Model model) throws IOException;
  }

  /**
   * A group's fit.
   *
   * @param group group id
   * @param widths channel counts timed
   * @param seconds their times
   * @param intercept a of {@code t = a + b * w}
   * @param perChannel b, seconds per channel (>= 0)
   */
  public record Fit(int group, int[] widths, double[] seconds, double intercept, double perChannel) {}

  private final double baseline;
  private final Map<Integer, Fit> fits;

  private LatencyModel(double baseline, Map<Integer, Fit> fits) {
    this.baseline = baseline;
    this.fits = fits;
  }

  /** Measures with the default fractions 3/4, 1/2, 1/4. */
  public static LatencyModel measure(ChannelAnalysis analysis, Timer timer) throws IOException {
    return measure(analysis, timer, new double[] {0.75, 0.5, 0.25});
  }

  /**
   * Measures every prunable group of {@code analysis} (its model is not changed).
   *
   * @param fractions widths to time, as fractions of each group's channels
   */
  public static LatencyModel measure(ChannelAnalysis analysis, Timer timer, double[] fractions) throws IOException {
    return measure(analysis, timer, fractions, GroupWidths.exact());
  }

  /**
   * Measures with the widths a group may keep: each fraction's width is rounded to the nearest
   * step of {@code widths} (so the fit sees the kernels the pruned model will run), and groups no
   * wider than one step, which are kept whole, are not measured.
   */
  static LatencyModel measure(ChannelAnalysis analysis, Timer timer, double[] fractions, GroupWidths steps)
      throws IOException {
    Model model = analysis.model();
    double t0 = timer.seconds(model.copy());
    Map<Integer, Fit> fits = new HashMap<>();
    for (ChannelGroup g : analysis.prunableGroups()) {
      if (g.size() < 2) {
        continue;
      }
      List<Integer> widths = new ArrayList<>(List.of(g.size()));
      int step = steps.step(g.id());
      for (double f : fractions) {
        int w = step == 1 ? Math.max(1, Math.min(g.size() - 1, (int) Math.round(f * g.size())))
            : Math.max(step, (int) Math.round(f * g.size() / step) * step);
        if (w < g.size() && !widths.contains(w)) {
          widths.add(w);
        }
      }
      if (widths.size() < 2) {
        continue;
      }
      double[] secs = new double[widths.size()];
      secs[0] = t0;
      for (int i = 1; i < widths.size(); i++) {
        Model copy = model.copy();
        ChannelAnalysis ca = ChannelAnalysis.analyze(copy);
        int w = widths.get(i);
        int[] units = java.util.stream.IntStream.range(w, g.size()).toArray();
        PassManager.run(copy, new ChannelPruningPass(PrunePlan.builder(ca).remove(ca.groups().get(g.id()), units)
            .build()));
        secs[i] = timer.seconds(copy);
      }
      fits.put(g.id(), fit(g.id(), widths.stream().mapToInt(Integer::intValue).toArray(), secs));
    }
    return new LatencyModel(t0, fits);
  }

  /** Least-squares line through (widths, seconds); slope clamped at 0. */
  static Fit fit(int group, int[] widths, double[] seconds) {
    double mw = Arrays.stream(widths).average().orElse(0);
    double mt = Arrays.stream(seconds).average().orElse(0);
    double sww = 0;
    double swt = 0;
    for (int i = 0; i < widths.length; i++) {
      sww += (widths[i] - mw) * (widths[i] - mw);
      swt += (widths[i] - mw) * (seconds[i] - mt);
    }
    double b = sww > 0 ? swt / sww : 0;
    double a = mt - b * mw;
    return new Fit(group, widths, seconds, a, Math.max(0, b));
  }

  /**
   * A timer running the model in ONNX Runtime on random inputs with batch {@code batch} (for a
   * symbolic first dimension): {@code warmup} untimed runs, then the median of {@code runs}.
   */
  public static Timer ort(Sessions sessions, int batch, int warmup, int runs) {
    if (batch < 1 || runs < 1 || warmup < 0) {
      throw new IllegalArgumentException("latency timing needs batch >= 1, runs >= 1, warmup >= 0: " + batch + ", "
          + runs + ", " + warmup);
    }
    return model -> {
      Value in = Ort.singleInput(model);
      Shape s = in.shape();
      if (s == null) {
        throw new IOException("input '" + in.name() + "' has no known shape; cannot time the model");
      }
      long[] dims = new long[s.rank()];
      int n = 1;
      for (int i = 0; i < dims.length; i++) {
        Dim d = s.dim(i);
        dims[i] = d.isKnown() ? d.get() : (i == 0 ? batch : 1);
        n = Math.multiplyExact(n, (int) dims[i]);
      }
      float[] x = new float[n];
      Random r = new Random(1);
      for (int i = 0; i < n; i++) {
        x[i] = (float) r.nextGaussian();
      }
      Map<String, Ort.Tensor> feeds = Map.of(in.name(), Ort.Tensor.of(x, dims));
      try (OrtSession session = sessions.open(model)) {
        for (int i = 0; i < warmup; i++) {
          Ort.run(session, feeds, java.util.Set.of());
        }
        double[] t = new double[runs];
        for (int i = 0; i < runs; i++) {
          long start = System.nanoTime();
          Ort.run(session, feeds, java.util.Set.of());
          t[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(t);
        return t[runs / 2];
      } catch (OrtException e) {
        throw new IOException("timing the model in ONNX Runtime: " + e.getMessage(), e);
      }
    };
  }

  /** Time of the unpruned model, seconds. */
  public double baselineSeconds() {
    return baseline;
  }

  /** Fitted seconds per channel of group {@code groupId} (0 for a group not measured). */
  public double perChannelSeconds(int groupId) {
    Fit f = fits.get(groupId);
    return f == null ? 0 : f.perChannel();
  }

  /** Every group's fit, by group id. */
  public Map<Integer, Fit> fits() {
    return java.util.Collections.unmodifiableMap(fits);
  }

  /** Predicted seconds after {@code removals} (group id -> units). */
  public double predictSeconds(Map<Integer, int[]> removals) {
    return baseline * (1 - reduction(removals));
  }

  /** Predicted fraction of the latency removed by {@code removals}. */
  public double reduction(Map<Integer, int[]> removals) {
    double saved = 0;
    for (Map.Entry<Integer, int[]> e : removals.entrySet()) {
      saved += perChannelSeconds(e.getKey()) * e.getValue().length;
    }
    return baseline > 0 ? saved / baseline : 0;
  }
}
