package dev.onnxprune.prune;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.runtime.Sessions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * Times a pruned model against its original in ONNX Runtime: both sessions open in one process,
 * the same random input, warm-up runs, then pairs of runs in alternating order (original first,
 * then pruned first, ...) so that changes in machine load hit both sides alike. Reports the medians,
 * the best runs, and the median over pairs of original / pruned.
 *
 * <p>{@link Pruner.Builder#speedCheck} runs it after pruning: always for a latency target, and
 * with {@link Mode#IF_CHEAP} for models of at most {@link #CHEAP_FLOPS} per sample.
 */
public final class SpeedCheck {
  /** When {@link Pruner} times the result. */
  public enum Mode {
    /** Never. */
    NEVER,
    /** For a latency target, which times models anyway (the default). */
    LATENCY_TARGETS,
    /**
     * For a latency target, and for any target when the original costs at most {@link #CHEAP_FLOPS}
     * per sample and its weights are under {@link dev.onnxprune.runtime.Sessions#fileThreshold()}
     * (512 MiB): timing holds both models in ONNX Runtime at once, the original's weights prepacked.
     */
    IF_CHEAP,
    /** Always. */
    ALWAYS
  }

  /** Models up to this many FLOPs per sample (a few hundred milliseconds a run on two cores) are cheap to time. */
  public static final long CHEAP_FLOPS = 20_000_000_000L;

  /**
   * How to time.
   *
   * @param batch batch size (for a symbolic first dimension; other symbolic dimensions are 1)
   * @param warmup untimed runs of each model first
   * @param minPairs pairs always timed
   * @param maxPairs pairs timed at most
   * @param budget no pair starts after this much time spent on pairs (once {@code minPairs} are done)
   */
  public record Timing(int batch, int warmup, int minPairs, int maxPairs, Duration budget) {
    public Timing {
      InvalidOptionException.atLeast("speedCheck.batch", batch, 1);
      InvalidOptionException.atLeast("speedCheck.warmup", warmup, 0);
      InvalidOptionException.atLeast("speedCheck.minPairs", minPairs, 1);
      InvalidOptionException.atLeast("speedCheck.maxPairs", maxPairs, minPairs);
    }

    /** Batch {@code batch}, 2 warm-up runs each, 3 to 10 pairs within 2 seconds. */
    public static Timing quick(int batch) {
      return new Timing(batch, 2, 3, 10, Duration.ofSeconds(2));
    }
  }

  /**
   * The times of alternating pairs, in milliseconds, in the order run.
   *
   * @param provider the execution provider
   * @param batch the batch size timed
   * @param originalMs each pair's run of the original
   * @param prunedMs each pair's run of the pruned model
   * @param skipped null when timed; otherwise why not (no pairs then)
   */
  public record Pairs(String provider, int batch, double[] originalMs, double[] prunedMs, String skipped) {
    /** These pairs followed by {@code more} (the same two models at the same batch). */
    public Pairs plus(Pairs more) {
      if (skipped != null || more.skipped() != null) {
        return skipped != null ? this : more;
      }
      double[] o = Arrays.copyOf(originalMs, originalMs.length + more.originalMs().length);
      double[] p = Arrays.copyOf(prunedMs, prunedMs.length + more.prunedMs().length);
      System.arraycopy(more.originalMs(), 0, o, originalMs.length, more.originalMs().length);
      System.arraycopy(more.prunedMs(), 0, p, prunedMs.length, more.prunedMs().length);
      return new Pairs(provider, batch, o, p, null);
    }

    /** Medians, bests, the median over pairs of original / pruned, and best / best. */
    public PruneReport.Speed summary() {
      if (skipped != null) {
        return SpeedCheck.skipped(skipped);
      }
      double[] ratio = new double[originalMs.length];
      for (int i = 0; i < ratio.length; i++) {
        ratio[i] = originalMs[i] / prunedMs[i];
      }
      double bestO = Arrays.stream(originalMs).min().orElse(0);
      double bestP = Arrays.stream(prunedMs).min().orElse(0);
      return new PruneReport.Speed(provider, batch, ratio.length, median(originalMs), median(prunedMs), bestO, bestP,
          median(ratio), bestO / bestP, null);
    }
  }

  private SpeedCheck() {}

  /** Times serialized models (each under 2 GiB). */
  public static PruneReport.Speed measure(Sessions sessions, byte[] original, byte[] pruned, Timing timing)
      throws IOException {
    try (OrtSession o = sessions.open(original); OrtSession p = sessions.open(pruned)) {
      return pairs(o, p, sessions.provider(), timing).summary();
    } catch (OrtException e) {
      throw new IOException("timing the models in ONNX Runtime: " + e.getMessage(), e);
    }
  }

  /** Times model files. */
  public static PruneReport.Speed measure(Sessions sessions, Path original, Path pruned, Timing timing)
      throws IOException {
    return pairs(sessions, original, pruned, timing).summary();
  }

  /** Times model files, returning every pair (a benchmark adds up pairs taken at different times). */
  public static Pairs pairs(Sessions sessions, Path original, Path pruned, Timing timing) throws IOException {
    try (OrtSession o = sessions.open(original); OrtSession p = sessions.open(pruned)) {
      return pairs(o, p, sessions.provider(), timing);
    } catch (OrtException e) {
      throw new IOException("timing the models in ONNX Runtime: " + e.getMessage(), e);
    }
  }

  /** Whether {@code mode} times a prune to {@code target} of a model of {@code flops} per sample (small weights). */
  static boolean wanted(Mode mode, Target target, long flops) {
    return wanted(mode, target, flops, 0);
  }

  /**
   * Whether {@code mode} times a prune to {@code target} of a model of {@code flops} per sample
   * and {@code tensorBytes} of weights.
   */
  static boolean wanted(Mode mode, Target target, long flops, long tensorBytes) {
    return switch (mode) {
      case NEVER -> false;
      case LATENCY_TARGETS -> target.kind() == Target.Kind.LATENCY;
      case IF_CHEAP -> target.kind() == Target.Kind.LATENCY
          || (flops <= CHEAP_FLOPS && tensorBytes < dev.onnxprune.runtime.Sessions.fileThreshold());
      case ALWAYS -> true;
    };
  }

  /**
   * Why {@code mode} does not time a model of {@code flops} per sample when that is its cost (a
   * {@link #skipped} entry for the report); null otherwise.
   */
  static PruneReport.Speed notTimed(Mode mode, long flops) {
    return notTimed(mode, flops, 0);
  }

  /**
   * As {@link #notTimed(Mode, long)} for a model of {@code tensorBytes} of weights: a cheap check
   * does not time weights of {@link dev.onnxprune.runtime.Sessions#fileThreshold()} or more, which
   * ONNX Runtime would hold prepacked next to the pruned model's (1.6x a 2.4 GB model's size in
   * memory, against 1.3x for pruning and verifying it).
   */
  static PruneReport.Speed notTimed(Mode mode, long flops, long tensorBytes) {
    if (mode != Mode.IF_CHEAP) {
      return null;
    }
    if (flops > CHEAP_FLOPS) {
      return skipped(String.format(java.util.Locale.ROOT,
          "%.1f GFLOPs per sample is over the %.0f GFLOPs a cheap check times (speedCheck ALWAYS times it)", flops / 1e9,
          CHEAP_FLOPS / 1e9));
    }
    long limit = dev.onnxprune.runtime.Sessions.fileThreshold();
    return tensorBytes >= limit ? skipped(String.format(java.util.Locale.ROOT,
        "%.2f GB of weights is not under the %.2f GB a cheap check times: timing holds the original and the pruned"
            + " model in ONNX Runtime at once (speedCheck ALWAYS times it)", tensorBytes / 1e9, limit / 1e9)) : null;
  }

  /**
   * {@link Timing#quick} timing of {@code pruned} against {@code original} (models in memory,
   * opened by {@link Sessions#open(dev.onnxprune.graph.Model)}: bytes, or files with external data
   * when large); a failure to run them becomes a {@link #skipped} entry saying why.
   */
  static PruneReport.Speed ofResult(Sessions sessions, dev.onnxprune.graph.Model original,
      dev.onnxprune.graph.Model pruned, int batch) {
    try (OrtSession o = sessions.open(original); OrtSession p = sessions.open(pruned)) {
      return pairs(o, p, sessions.provider(), Timing.quick(batch)).summary();
    } catch (OrtException e) {
      return skipped("timing the models in ONNX Runtime: " + e.getMessage());
    }
  }

  /** A report entry saying why the models were not timed. */
  static PruneReport.Speed skipped(String why) {
    return new PruneReport.Speed(null, 0, 0, 0, 0, 0, 0, 0, 0, why);
  }

  private static Pairs pairs(OrtSession original, OrtSession pruned, String provider, Timing t)
      throws OrtException {
    if (original.getNumInputs() != 1) {
      return new Pairs(provider, t.batch(), null, null, "the model has " + original.getNumInputs()
          + " inputs; only one-input models are timed");
    }
    String name = original.getInputNames().iterator().next();
    NodeInfo info = original.getInputInfo().get(name);
    if (!(info.getInfo() instanceof TensorInfo ti) || ti.type != OnnxJavaType.FLOAT) {
      return new Pairs(provider, t.batch(), null, null, "input '" + name + "' is not a float tensor");
    }
    long[] shape = ti.getShape().clone();
    long n = 1;
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shape[i] >= 0 ? shape[i] : i == 0 ? t.batch() : 1;
      n = Math.multiplyExact(n, shape[i]);
    }
    FloatBuffer x = ByteBuffer.allocateDirect(Math.toIntExact(n * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
    Random r = new Random(1);
    while (x.hasRemaining()) {
      x.put((float) r.nextGaussian());
    }
    x.rewind();
    try (OnnxTensor in = OnnxTensor.createTensor(Sessions.environment(), x, shape)) {
      Map<String, OnnxTensor> feed = Map.of(name, in);
      for (int i = 0; i < t.warmup(); i++) {
        time(original, feed);
        time(pruned, feed);
      }
      double[] to = new double[t.maxPairs()];
      double[] tp = new double[t.maxPairs()];
      long start = System.nanoTime();
      int pairs = 0;
      while (pairs < t.maxPairs() && (pairs < t.minPairs() || System.nanoTime() - start < t.budget().toNanos())) {
        if (pairs % 2 == 0) {
          to[pairs] = time(original, feed);
          tp[pairs] = time(pruned, feed);
        } else {
          tp[pairs] = time(pruned, feed);
          to[pairs] = time(original, feed);
        }
        pairs++;
      }
      return new Pairs(provider, (int) shape[0], Arrays.copyOf(to, pairs), Arrays.copyOf(tp, pairs), null);
    }
  }

  /** One run, milliseconds. */
  private static double time(OrtSession s, Map<String, OnnxTensor> feed) throws OrtException {
    long t0 = System.nanoTime();
    s.run(feed).close();
    return (System.nanoTime() - t0) / 1e6;
  }

  static double median(double[] xs) {
    double[] a = xs.clone();
    Arrays.sort(a);
    int n = a.length;
    return n == 0 ? 0 : n % 2 == 1 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
  }
}
