package dev.onnxprune.surgery;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.pass.GraphPass;
import dev.onnxprune.graph.pass.PassResult;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Unstructured weight masking: zeroes the weights of smallest magnitude in the FLOAT weights of
 * Conv, ConvTranspose, Gemm and MatMul.
 * <ol>
 *   <li>per layer: each weight tensor loses {@code floor(sparsity * n)} of its n entries;
 *   <li>global: one magnitude threshold over all weights, so layers reach different sparsities;
 *   <li>N:M: in every run of M consecutive weights along the input axis (Conv axis 1, Gemm/MatMul
 *       contraction axis) only the N largest stay; layers whose input axis is not a multiple of M
 *       (e.g. a first conv on 3 channels, depthwise convs) are left dense and reported.
 * </ol>
 * Ties at the threshold are broken by position so the count is exact. The graph keeps its
 * shapes; the zeros are in the weights.
 */
public final class MagnitudeMasking implements GraphPass {
  /** Per-layer outcome. */
  public record Layer(String weight, String node, long elements, long zeros, String note) {
    public double sparsity() {
      return elements == 0 ? 0 : (double) zeros / elements;
    }
  }

  /** What the pass reached. */
  public record Result(List<Layer> layers, long elements, long zeros) implements PassResult {
    @Override
    public boolean changed() {
      return zeros > 0;
    }

    @Override
    public String summary() {
      return String.format(java.util.Locale.ROOT, "%d of %d weights zero (%.1f%%)", zeros, elements, 100 * sparsity());
    }

    public double sparsity() {
      return elements == 0 ? 0 : (double) zeros / elements;
    }
  }

  private final double sparsity;
  private final boolean global;
  private final int n;
  private final int m;

  private MagnitudeMasking(double sparsity, boolean global, int n, int m) {
    this.sparsity = sparsity;
    this.global = global;
    this.n = n;
    this.m = m;
  }

  /**
   * Magnitude masking to {@code sparsity} in (0, 1), per layer or with one global threshold.
   *
   * @throws InvalidOptionException (key {@code masking.sparsity}) when sparsity is outside (0, 1)
   */
  public static MagnitudeMasking magnitude(double sparsity, boolean global) {
    if (!(sparsity > 0 && sparsity < 1)) {
      throw new InvalidOptionException("masking.sparsity", sparsity, "must be in (0, 1)");
    }
    return new MagnitudeMasking(sparsity, global, 0, 0);
  }

  /**
   * N:M masking (e.g. 2:4): N of every M consecutive weights along the input axis stay.
   *
   * @throws InvalidOptionException (key {@code masking.nm}) unless 0 < n < m
   */
  public static MagnitudeMasking nm(int n, int m) {
    if (n <= 0 || m <= n) {
      throw new InvalidOptionException("masking.nm", n + ":" + m, "needs 0 < N < M");
    }
    return new MagnitudeMasking(0, false, n, m);
  }

  /** The weights this pass masks: value -> (node, input axis), shared weights once. */
  static Map<Value, Object[]> weights(Graph g) {
    Map<Value, Object[]> out = new LinkedHashMap<>();
    for (Node node : g.nodes()) {
      int axis;
      if (node.is("Conv") || node.is("ConvTranspose")) {
        axis = node.is("Conv") ? 1 : 0;
      } else if (node.is("Gemm")) {
        axis = node.attrLong("transB", 0) != 0 ? 1 : 0;
      } else if (node.is("MatMul")) {
        axis = 0;
      } else {
        continue;
      }
      Value w = node.input(1);
      Tensor t = w == null ? null : w.initializer();
      if (t == null || t.dataType() != DataType.FLOAT || (node.is("MatMul") && t.rank() != 2)) {
        continue;
      }
      out.putIfAbsent(w, new Object[] {node, axis});
    }
    return out;
  }

  /** Masks the weights of {@code model} in place and reports the sparsity reached. */
  @Override
  public String name() {
    return "magnitude-masking";
  }

  @Override
  public Result run(Model model) {
    Map<Value, Object[]> ws = weights(model.graph());
    Map<Value, float[]> data = new IdentityHashMap<>();
    for (Value w : ws.keySet()) {
      data.put(w, w.initializer().toFloatArray());
    }
    List<Layer> layers = new ArrayList<>();
    float threshold = Float.NaN;
    if (global && n == 0) {
      long total = 0;
      for (float[] f : data.values()) {
        total += f.length;
      }
      float[] all = new float[Math.toIntExact(total)];
      int p = 0;
      for (float[] f : data.values()) {
        for (float v : f) {
          all[p++] = Math.abs(v);
        }
      }
      Arrays.sort(all);
      int k = (int) Math.floor(sparsity * all.length);
      threshold = k == 0 ? -1f : all[k - 1];
    }
    long elements = 0;
    long zeros = 0;
    for (Map.Entry<Value, Object[]> e : ws.entrySet()) {
      Value w = e.getKey();
      Node node = (Node) e.getValue()[0];
      int axis = (int) e.getValue()[1];
      float[] f = data.get(w);
      String note = "";
      if (n > 0) {
        note = maskNm(f, w.initializer().dims(), axis);
      } else if (global) {
        zeroAtOrBelow(f, threshold);
      } else {
        zeroSmallest(f, (int) Math.floor(sparsity * f.length));
      }
      long z = 0;
      for (float v : f) {
        if (v == 0f) {
          z++;
        }
      }
      w.setInitializer(Tensor.ofFloats(w.initializer().dims(), f));
      layers.add(new Layer(w.name(), ChannelAnalysis.name(node), f.length, z, note));
      elements += f.length;
      zeros += z;
    }
    return new Result(layers, elements, zeros);
  }

  private static void zeroAtOrBelow(float[] f, float threshold) {
    for (int i = 0; i < f.length; i++) {
      if (Math.abs(f[i]) <= threshold) {
        f[i] = 0f;
      }
    }
  }

  /** Zeroes exactly {@code k} entries of smallest magnitude (ties by position). */
  static void zeroSmallest(float[] f, int k) {
    if (k <= 0) {
      return;
    }
    Integer[] order = new Integer[f.length];
    for (int i = 0; i < f.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> {
      int c = Float.compare(Math.abs(f[a]), Math.abs(f[b]));
      return c != 0 ? c : Integer.compare(a, b);
    });
    for (int i = 0; i < k; i++) {
      f[order[i]] = 0f;
    }
  }

  /** Keeps the N largest of every M consecutive entries along {@code axis}; returns a note when skipped. */
  private String maskNm(float[] f, long[] dims, int axis) {
    long len = dims[axis];
    if (len % m != 0) {
      return "dense: input axis of " + len + " is not a multiple of " + m;
    }
    long outer = 1;
    for (int d = 0; d < axis; d++) {
      outer *= dims[d];
    }
    long inner = 1;
    for (int d = axis + 1; d < dims.length; d++) {
      inner *= dims[d];
    }
    float[] run = new float[m];
    int[] idx = new int[m];
    for (long o = 0; o < outer; o++) {
      for (long r = 0; r < inner; r++) {
        for (long start = 0; start < len; start += m) {
          for (int j = 0; j < m; j++) {
            idx[j] = (int) ((o * len + start + j) * inner + r);
            run[j] = f[idx[j]];
          }
          zeroSmallest(run, m - n);
          for (int j = 0; j < m; j++) {
            f[idx[j]] = run[j];
          }
        }
      }
    }
    return "";
  }
}
