package dev.onnxprune.criteria;

import dev.onnxprune.graph.Tensor;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ParameterSlice;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The data-free criteria. A unit's score aggregates every member of its group that has
 * per-channel parameters: the mean over producers (filter norms, FPGM distances) or over
 * BatchNormalizations (|gamma|) that cover the unit.
 */
public final class Criteria {
  private Criteria() {}

  /** L1 norm of each filter (Li et al., "Pruning Filters for Efficient ConvNets", eq. sum |F|). */
  public static Criterion l1() {
    return new FilterNorm("l1", 1);
  }

  /** L2 norm of each filter. */
  public static Criterion l2() {
    return new FilterNorm("l2", 2);
  }

  /** |gamma| of the BatchNormalization after each channel (Network Slimming, Liu et al. 2017). */
  public static Criterion bnGamma() {
    return new BnGamma();
  }

  /**
   * Filter Pruning via Geometric Median (He et al. 2019): a filter's score is the sum of its
   * Euclidean distances to the other filters of its layer; those nearest the geometric median
   * (smallest sum) are the most replaceable.
   */
  public static Criterion fpgm() {
    return new Fpgm();
  }

  /** Uniform random scores from {@code seed} (the baseline every criterion must beat). */
  public static Criterion random(long seed) {
    return new RandomScores(seed);
  }

  /**
   * The criterion called {@code name}: l1, l2, bn, fpgm or random.
   *
   * @throws dev.onnxprune.errors.InvalidOptionException naming {@code criterion}, the bad value and
   *     the choices
   */
  public static Criterion byName(String name, long seed) {
    return switch (name) {
      case "l1" -> l1();
      case "l2" -> l2();
      case "bn" -> bnGamma();
      case "fpgm" -> fpgm();
      case "random" -> random(seed);
      default -> throw new dev.onnxprune.errors.InvalidOptionException("criterion", name, "must be one of l1, l2, bn,"
          + " fpgm, random, " + String.join(", ", DataCriteria.NAMES));
    };
  }

  /** A slice's tensor seen as {@code [outer, n, inner]}: n channels along its axis. */
  private record Layout(int n, long outer, long inner) {
    static Layout of(ParameterSlice s) {
      long[] d = s.tensor().dims();
      int axis = s.axis();
      long outer = 1;
      for (int i = 0; i < axis; i++) {
        outer *= d[i];
      }
      long inner = 1;
      for (int i = axis + 1; i < d.length; i++) {
        inner *= d[i];
      }
      return new Layout((int) d[axis], outer, inner);
    }
  }

  /** Each filter of a parameter slice as a vector: [position along axis][values]. */
  static double[][] filters(ParameterSlice s) {
    Tensor t = s.tensor();
    Layout l = Layout.of(s);
    int n = l.n();
    long outer = l.outer();
    long inner = l.inner();
    float[] w = t.toFloatArray();
    double[][] f = new double[n][(int) (outer * inner)];
    for (long o = 0; o < outer; o++) {
      for (int c = 0; c < n; c++) {
        for (long r = 0; r < inner; r++) {
          f[c][(int) (o * inner + r)] = w[(int) ((o * n + c) * inner + r)];
        }
      }
    }
    return f;
  }

  /** The L{@code p} norm (p = 1 or 2) of each filter of a slice, read straight from the weights. */
  static double[] norms(ParameterSlice s, int p) {
    Tensor t = s.tensor();
    Layout l = Layout.of(s);
    int n = l.n();
    long outer = l.outer();
    long inner = l.inner();
    double[] acc = new double[n];
    if (t.dataType() == dev.onnxprune.graph.DataType.FLOAT) {
      Tensor.Reader w = t.reader(); // external data: a window at a time, not the whole tensor
      float[] block = new float[(int) inner];
      float[] row = new float[Math.toIntExact(n * inner)]; // one read per row, not per filter
      for (long o = 0; o < outer; o++) {
        w.get(row, 0, row.length);
        if (inner == 1) { // a MatMul weight: one element per filter and row (the same sums as below)
          for (int c = 0; c < n; c++) {
            acc[c] += p == 1 ? Math.abs(row[c]) : (double) row[c] * row[c];
          }
          continue;
        }
        for (int c = 0; c < n; c++) {
          System.arraycopy(row, (int) (c * inner), block, 0, block.length);
          acc[c] += p == 1 ? sumAbs(block) : sumSquares(block);
        }
      }
    } else {
      double[][] f = filters(s);
      for (int c = 0; c < n; c++) {
        for (double x : f[c]) {
          acc[c] += p == 1 ? Math.abs(x) : x * x;
        }
      }
    }
    if (p == 2) {
      for (int c = 0; c < n; c++) {
        acc[c] = Math.sqrt(acc[c]);
      }
    }
    return acc;
  }

  // Four independent accumulators let the CPU overlap the additions.
  private static double sumAbs(float[] x) {
    double a0 = 0;
    double a1 = 0;
    double a2 = 0;
    double a3 = 0;
    int i = 0;
    for (; i + 3 < x.length; i += 4) {
      a0 += Math.abs(x[i]);
      a1 += Math.abs(x[i + 1]);
      a2 += Math.abs(x[i + 2]);
      a3 += Math.abs(x[i + 3]);
    }
    for (; i < x.length; i++) {
      a0 += Math.abs(x[i]);
    }
    return (a0 + a1) + (a2 + a3);
  }

  private static double sumSquares(float[] x) {
    double a0 = 0;
    double a1 = 0;
    double a2 = 0;
    double a3 = 0;
    int i = 0;
    for (; i + 3 < x.length; i += 4) {
      a0 += (double) x[i] * x[i];
      a1 += (double) x[i + 1] * x[i + 1];
      a2 += (double) x[i + 2] * x[i + 2];
      a3 += (double) x[i + 3] * x[i + 3];
    }
    for (; i < x.length; i++) {
      a0 += (double) x[i] * x[i];
    }
    return (a0 + a1) + (a2 + a3);
  }

  /** Averages per-position values of several slices into per-unit scores of {@code g}. */
  static double[] meanPerUnit(ChannelGroup g, List<ParameterSlice> slices,
      Function<ParameterSlice, double[]> perPosition) {
    double[] sum = new double[g.size()];
    int[] count = new int[g.size()];
    for (ParameterSlice s : slices) {
      double[] v = perPosition.apply(s);
      for (int p = 0; p < v.length; p++) {
        int u = s.units()[p];
        if (u >= 0) {
          sum[u] += v[p];
          count[u]++;
        }
      }
    }
    for (int u = 0; u < sum.length; u++) {
      if (count[u] > 0) {
        sum[u] /= count[u];
      }
    }
    return sum;
  }

  /**
   * Scores each of {@code groups} that {@code slicesOf} gives slices for by {@link #meanPerUnit};
   * the others, and groups not in {@code groups}, get null.
   */
  static double[][] meanPerGroup(ChannelAnalysis analysis, Stream<ChannelGroup> groups,
      Function<ChannelGroup, List<ParameterSlice>> slicesOf, Function<ParameterSlice, double[]> perPosition) {
    double[][] out = new double[analysis.groups().size()][];
    groups.forEach(g -> {
      List<ParameterSlice> slices = slicesOf.apply(g);
      if (!slices.isEmpty()) {
        out[g.id()] = meanPerUnit(g, slices, perPosition);
      }
    });
    return out;
  }

  private record FilterNorm(String name, int p) implements Criterion {
    @Override
    public double[][] score(ChannelAnalysis analysis) {
      // Groups are independent: score them in parallel (each reads its own weights).
      return meanPerGroup(analysis, analysis.prunableGroups().parallelStream(), analysis::producerWeights,
          s -> norms(s, p));
    }
  }

  private static final class BnGamma implements Criterion {
    @Override
    public String name() {
      return "bn";
    }

    @Override
    public double[][] score(ChannelAnalysis analysis) {
      // Network Slimming scores only channels behind a BatchNormalization
      return meanPerGroup(analysis, analysis.prunableGroups().stream(), analysis::batchNormScales, s -> {
        float[] gamma = s.tensor().toFloatArray();
        double[] a = new double[gamma.length];
        for (int i = 0; i < a.length; i++) {
          a[i] = Math.abs(gamma[i]);
        }
        return a;
      });
    }
  }

  private static final class Fpgm implements Criterion {
    @Override
    public String name() {
      return "fpgm";
    }

    @Override
    public double[][] score(ChannelAnalysis analysis) {
      return meanPerGroup(analysis, analysis.prunableGroups().stream(), analysis::producerWeights, s -> {
        double[][] f = filters(s);
        double[] sum = new double[f.length];
        for (int i = 0; i < f.length; i++) {
          for (int j = i + 1; j < f.length; j++) {
            double d = 0;
            for (int k = 0; k < f[i].length; k++) {
              double x = f[i][k] - f[j][k];
              d += x * x;
            }
            d = Math.sqrt(d);
            sum[i] += d;
            sum[j] += d;
          }
        }
        return sum;
      });
    }
  }

  private record RandomScores(long seed) implements Criterion {
    @Override
    public String name() {
      return "random";
    }

    @Override
    public double[][] score(ChannelAnalysis analysis) {
      Random r = new Random(seed);
      double[][] out = new double[analysis.groups().size()][];
      for (ChannelGroup g : analysis.prunableGroups()) {
        out[g.id()] = new double[g.size()];
        for (int u = 0; u < g.size(); u++) {
          out[g.id()][u] = r.nextDouble();
        }
      }
      return out;
    }
  }
}
