package dev.onnxprune.prune;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.internal.HeldData;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;

/**
 * SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned
 * in One-Shot", Algorithm 1): unstructured or N:M masks of the Conv/Gemm/MatMul weights chosen and
 * compensated by optimal-brain-surgeon updates of the weights still unmasked, from the Hessian of
 * each layer's reconstruction error {@code H = X X^T} on calibration data.
 *
 * <ol>
 *   <li>Layers in graph order: Conv with {@code group = 1}, Gemm ({@code transA = 0, alpha = beta =
 *       1}) and MatMul with a 2-D constant weight used by that layer alone. A layer's H is summed
 *       in ONNX Runtime on the input of the model masked so far (sec. 3.5: sequential), with its
 *       input unfolded into patches for a Conv.
 *   <li>H is damped by 1% of its mean diagonal; a dead input (zero diagonal) gets 1 and its
 *       weights 0. {@code U}, the upper Cholesky factor of {@code H^-1} (EJML), holds every
 *       column's inverse-Hessian row for the updates.
 *   <li>Columns in blocks of {@link #BLOCK}: per block, the mask is the entries of smallest {@code
 *       w^2 / U[c,c]^2} (unstructured: {@code floor(sparsity * size)} of the block; N:M: the M - N
 *       smallest of every M consecutive input channels of a row, chosen when the run begins), then
 *       each column's error {@code (w - q) / U[c,c]} is spread over the later columns by {@code
 *       U[c, c:]} (eq. 3 with lazy batch updates).
 * </ol>
 * N:M runs of M follow MagnitudeMasking's: consecutive input channels at one kernel position; a
 * layer whose input axis is not a multiple of M stays dense. The bias is not changed.
 */
public final class SparseGpt {
  /** Columns per lazy-update block (the paper's B = 128). */
  static final int BLOCK = 128;
  /** Damping of H, a fraction of its mean diagonal (the paper's 1%). */
  static final double DAMP = 0.01;

  /**
   * One layer's mask.
   *
   * @param weight the weight's name
   * @param node its node
   * @param elements weights
   * @param zeros weights zero after masking
   * @param error relative reconstruction error of the layer's output on its calibration input,
   *     {@code |(W - W0) X|^2 / |W0 X|^2}
   * @param magnitudeError the same for magnitude masking at the same sparsity (or N:M) from the same
   *     input
   * @param note why a layer stayed dense, or empty
   */
  public record Layer(String weight, String node, long elements, long zeros, double error, double magnitudeError,
      String note) {}

  /**
   * The masked model.
   *
   * @param model the masked model (a new model)
   * @param layers every candidate layer, in graph order
   * @param elements weights of the layers masked
   * @param zeros of them zero
   * @param samples calibration samples
   * @param seconds wall time
   */
  public record Result(Model model, List<Layer> layers, long elements, long zeros, int samples, double seconds) {
    public double sparsity() {
      return elements == 0 ? 0 : (double) zeros / elements;
    }
  }

  private final double sparsity;
  private final int n;
  private final int m;

  private SparseGpt(double sparsity, int n, int m) {
    this.sparsity = sparsity;
    this.n = n;
    this.m = m;
  }

  /**
   * Unstructured: each layer loses about {@code sparsity} of its weights.
   *
   * @throws InvalidOptionException (key {@code masking.sparsity}) unless in [0, 1)
   */
  public static SparseGpt unstructured(double sparsity) {
    if (!(sparsity >= 0 && sparsity < 1)) {
      throw new InvalidOptionException("masking.sparsity", sparsity, "must be in [0, 1)");
    }
    return new SparseGpt(sparsity, 0, 0);
  }

  /**
   * N of every M consecutive weights along the input axis stay.
   *
   * @throws InvalidOptionException (key {@code masking.nm}) unless 0 < n < m
   */
  public static SparseGpt nm(int n, int m) {
    if (n <= 0 || m <= n) {
      throw new InvalidOptionException("masking.nm", n + ":" + m, "needs 0 < N < M");
    }
    return new SparseGpt(1 - (double) n / m, n, m);
  }

  /**
   * Masks {@code model}'s layers (not changed) on {@code samples} samples of {@code data} (0: all;
   * labels not needed), in batches of {@code batchSize}.
   */
  public Result run(Model model, Dataset data, int batchSize, int samples, Sessions sessions, DoubleConsumer progress) {
    long t0 = System.nanoTime();
    Model out = model.copy();
    HeldData held = HeldData.of(data, batchSize, samples);
    if (held.size() == 0) {
      throw new IllegalArgumentException("the calibration data has no samples");
    }
    List<Integer> candidates = new ArrayList<>();
    List<Node> nodes = out.graph().nodes();
    for (int i = 0; i < nodes.size(); i++) {
      if (nodes.get(i).is("Conv") || nodes.get(i).is("Gemm") || nodes.get(i).is("MatMul")) {
        candidates.add(i);
      }
    }
    List<Layer> layers = new ArrayList<>();
    long elements = 0;
    long zeros = 0;
    int done = 0;
    for (int index : candidates) {
      Node node = out.graph().nodes().get(index);
      LeastSquaresRefit.Spec s = LeastSquaresRefit.Spec.of(node, node, null, true);
      if (s.skip == null && n > 0 && (s.channels % m != 0)) {
        s.skip = "input axis of " + s.channels + " is not a multiple of " + m;
        s.silent = false;
      }
      if (s.skip != null) {
        if (!s.silent) {
          Value w = node.input(1);
          layers.add(new Layer(w.name(), node.name(), w.initializer().elementCount(), 0, 0, 0, "dense: " + s.skip));
        }
      } else {
        Layer l = mask(s, index, out, held, sessions);
        layers.add(l);
        elements += l.elements();
        zeros += l.zeros();
      }
      if (progress != null) {
        progress.accept(++done / (double) candidates.size());
      }
    }
    return new Result(out, List.copyOf(layers), elements, zeros, held.size(), (System.nanoTime() - t0) / 1e9);
  }

  /** The layer's H on the input of {@code out} as masked so far; then its mask, written into {@code out}. */
  private Layer mask(LeastSquaresRefit.Spec s, int index, Model out, HeldData held, Sessions sessions) {
    Model pm = out.copy();
    InputBinding inputs = InputBinding.of(pm);
    Node pn = pm.graph().nodes().get(index);
    String[] g = LeastSquaresRefit.stats(pm.graph(), pn, s, null);
    LeastSquaresRefit.truncate(pm.graph(), List.of(g));
    double[] h = new double[s.d * s.d];
    try (OrtSession session = sessions.open(pm)) {
      for (Batch b : held.batches()) {
        LeastSquaresRefit.add(h, Ort.run(session, Map.of(), inputs.feeds(b), new LinkedHashSet<>(List.of(g)))
            .get(g[0]).data());
      }
    } catch (OrtException e) {
      throw Ort.failure("sparsegpt on " + s.node, e);
    }
    Node node = out.graph().nodes().get(index);
    Value wv = node.input(1);
    float[] dense = wv.initializer().toFloatArray();
    // W [O, D] with columns so that an N:M run is M consecutive columns: kernel position major
    int[] perm = columnOrder(s);
    double[] w = new double[s.outputs * s.d];
    DMatrixRMaj wt = LeastSquaresRefit.weightsT(dense, s);
    for (int o = 0; o < s.outputs; o++) {
      for (int c = 0; c < s.d; c++) {
        w[o * s.d + c] = wt.get(perm[c], o);
      }
    }
    double[] hp = new double[s.d * s.d];
    for (int i = 0; i < s.d; i++) {
      for (int j = 0; j < s.d; j++) {
        hp[i * s.d + j] = h[perm[i] * s.d + perm[j]];
      }
    }
    double[] w0 = w.clone();
    double[] q = prune(w, hp.clone(), s.outputs, s.d);
    double[] mag = magnitude(w0, s.outputs, s.d);
    double base = quad(w0, null, hp, s.outputs, s.d);
    double err = quad(q, w0, hp, s.outputs, s.d) / Math.max(base, Double.MIN_VALUE);
    double magErr = quad(mag, w0, hp, s.outputs, s.d) / Math.max(base, Double.MIN_VALUE);
    DMatrixRMaj back = new DMatrixRMaj(s.d, s.outputs);
    long z = 0;
    for (int o = 0; o < s.outputs; o++) {
      for (int c = 0; c < s.d; c++) {
        back.set(perm[c], o, q[o * s.d + c]);
      }
    }
    float[] nw = LeastSquaresRefit.weights(back, s);
    for (float v : nw) {
      z += v == 0f ? 1 : 0;
    }
    wv.setInitializer(Tensor.ofFloats(wv.initializer().dims(), nw));
    return new Layer(wv.name(), node.name(), nw.length, z, err, magErr, "");
  }

  /** Column {@code i} of the working order is column {@code perm[i]} of the layer's [D] layout (c * K + k). */
  private static int[] columnOrder(LeastSquaresRefit.Spec s) {
    int[] perm = new int[s.d];
    for (int k = 0; k < s.kernel; k++) {
      for (int c = 0; c < s.channels; c++) {
        perm[k * s.channels + c] = c * s.kernel + k;
      }
    }
    return perm;
  }

  /**
   * SparseGPT Algorithm 1 on {@code w [rows, cols]} (row-major) with Hessian {@code h [cols, cols]}
   * (changed: damped); returns the masked, updated weights.
   */
  double[] prune(double[] w, double[] h, int rows, int cols) {
    double mean = 0;
    for (int i = 0; i < cols; i++) {
      mean += h[i * cols + i];
    }
    mean /= cols;
    for (int i = 0; i < cols; i++) {
      if (h[i * cols + i] == 0) { // a dead input: nothing to reconstruct through it
        h[i * cols + i] = 1;
        for (int r = 0; r < rows; r++) {
          w[r * cols + i] = 0;
        }
      }
      h[i * cols + i] += DAMP * (mean > 0 ? mean : 1);
    }
    DMatrixRMaj hm = DMatrixRMaj.wrap(cols, cols, h);
    DMatrixRMaj inv = new DMatrixRMaj(cols, cols);
    if (!CommonOps_DDRM.invert(hm, inv)) {
      throw new IllegalStateException("the damped Hessian is singular");
    }
    CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(cols, false);
    if (!chol.decompose(inv)) {
      throw new IllegalStateException("the inverse Hessian is not positive definite");
    }
    DMatrixRMaj u = chol.getT(null); // H^-1 = U^T U, U upper
    boolean[] masked = new boolean[rows * cols];
    double[] q = w.clone();
    for (int i1 = 0; i1 < cols; i1 += BLOCK) {
      int i2 = Math.min(i1 + BLOCK, cols);
      int count = i2 - i1;
      double[] errs = new double[rows * count];
      if (n == 0) {
        chooseUnstructured(w, u, masked, rows, cols, i1, i2);
      }
      for (int i = i1; i < i2; i++) {
        if (n > 0 && (i - i1) % m == 0) {
          chooseNm(w, u, masked, rows, cols, i);
        }
        double d = u.get(i, i);
        for (int r = 0; r < rows; r++) {
          double wi = w[r * cols + i];
          double qi = masked[r * cols + i] ? 0 : wi;
          q[r * cols + i] = qi;
          double e = (wi - qi) / d;
          errs[r * count + (i - i1)] = e;
          if (e != 0) {
            for (int j = i + 1; j < i2; j++) {
              w[r * cols + j] -= e * u.get(i, j);
            }
          }
        }
      }
      // lazy update of the columns after the block
      for (int r = 0; r < rows; r++) {
        for (int i = i1; i < i2; i++) {
          double e = errs[r * count + (i - i1)];
          if (e != 0) {
            for (int j = i2; j < cols; j++) {
              w[r * cols + j] -= e * u.get(i, j);
            }
          }
        }
      }
    }
    for (int i = 0; i < q.length; i++) {
      if (masked[i]) {
        q[i] = 0;
      }
    }
    return q;
  }

  /** The block's {@code floor(sparsity * rows * count)} entries of smallest {@code w^2 / U[c,c]^2}. */
  private void chooseUnstructured(double[] w, DMatrixRMaj u, boolean[] masked, int rows, int cols, int i1, int i2) {
    int count = i2 - i1;
    int k = (int) Math.floor(sparsity * rows * count);
    if (k == 0) {
      return;
    }
    double[] score = new double[rows * count];
    Integer[] order = new Integer[rows * count];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < count; c++) {
        double d = u.get(i1 + c, i1 + c);
        double v = w[r * cols + i1 + c];
        score[r * count + c] = v * v / (d * d);
        order[r * count + c] = r * count + c;
      }
    }
    Arrays.sort(order, (a, b) -> {
      int x = Double.compare(score[a], score[b]);
      return x != 0 ? x : Integer.compare(a, b);
    });
    for (int i = 0; i < k; i++) {
      int p = order[i];
      masked[(p / count) * cols + i1 + p % count] = true;
    }
  }

  /** In each row, the M - N of columns {@code [i, i + M)} of smallest {@code w^2 / U[c,c]^2}. */
  private void chooseNm(double[] w, DMatrixRMaj u, boolean[] masked, int rows, int cols, int i) {
    for (int r = 0; r < rows; r++) {
      Integer[] order = new Integer[m];
      double[] score = new double[m];
      for (int c = 0; c < m; c++) {
        double d = u.get(i + c, i + c);
        double v = w[r * cols + i + c];
        score[c] = v * v / (d * d);
        order[c] = c;
      }
      Arrays.sort(order, (a, b) -> {
        int x = Double.compare(score[a], score[b]);
        return x != 0 ? x : Integer.compare(a, b);
      });
      for (int c = 0; c < m - n; c++) {
        masked[r * cols + i + order[c]] = true;
      }
    }
  }

  /** Magnitude masking of {@code w} at this mask's sparsity (per layer) or N:M, no update. */
  private double[] magnitude(double[] w, int rows, int cols) {
    float[] f = new float[w.length];
    for (int i = 0; i < w.length; i++) {
      f[i] = (float) w[i];
    }
    if (n > 0) {
      for (int r = 0; r < rows; r++) {
        for (int c0 = 0; c0 < cols; c0 += m) {
          float[] run = Arrays.copyOfRange(f, r * cols + c0, r * cols + c0 + m);
          Integer[] order = new Integer[m];
          for (int c = 0; c < m; c++) {
            order[c] = c;
          }
          Arrays.sort(order, (a, b) -> {
            int x = Float.compare(Math.abs(run[a]), Math.abs(run[b]));
            return x != 0 ? x : Integer.compare(a, b);
          });
          for (int c = 0; c < m - n; c++) {
            f[r * cols + c0 + order[c]] = 0;
          }
        }
      }
    } else {
      int k = (int) Math.floor(sparsity * f.length); // MagnitudeMasking's per-layer rule, ties by position
      Integer[] order = new Integer[f.length];
      for (int i = 0; i < f.length; i++) {
        order[i] = i;
      }
      Arrays.sort(order, (a, b) -> {
        int x = Float.compare(Math.abs(f[a]), Math.abs(f[b]));
        return x != 0 ? x : Integer.compare(a, b);
      });
      for (int i = 0; i < k; i++) {
        f[order[i]] = 0;
      }
    }
    double[] out = new double[w.length];
    for (int i = 0; i < w.length; i++) {
      out[i] = f[i];
    }
    return out;
  }

  /** {@code tr((W - W0) H (W - W0)^T)} ({@code W0} null: {@code tr(W H W^T)}). */
  static double quad(double[] w, double[] w0, double[] h, int rows, int cols) {
    double total = 0;
    double[] d = new double[cols];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        d[c] = w[r * cols + c] - (w0 == null ? 0 : w0[r * cols + c]);
      }
      for (int i = 0; i < cols; i++) {
        if (d[i] == 0) {
          continue;
        }
        double s = 0;
        for (int j = 0; j < cols; j++) {
          s += h[i * cols + j] * d[j];
        }
        total += d[i] * s;
      }
    }
    return total;
  }
}
