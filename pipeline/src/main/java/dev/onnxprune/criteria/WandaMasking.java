package dev.onnxprune.criteria;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.MagnitudeMasking;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wanda's unstructured and N:M weight masking (Sun et al. 2023, Section 3): each weight of a
 * Gemm or MatMul with a constant 2-D weight is scored {@code S_ij = |W_ij| * ||X_j||_2}, input
 * feature j's norm over every calibration token, and the scores are compared per output i (eq. 2,
 * "per output" comparison group): each output keeps all but the {@code floor(sparsity * in)}
 * lowest-scoring of its {@code in} weights, or, for N:M, the N highest of every M consecutive
 * inputs. Ties are broken by position. Layers whose input count is not a multiple of M stay dense
 * and say so. Convolutions are not masked here (their im2col columns are left to magnitude
 * masking, {@link MagnitudeMasking}).
 *
 * <p>The model passed in is not changed: the result holds a masked copy and the sparsity reached,
 * in {@link MagnitudeMasking}'s per-layer form. Cost: one forward pass over the calibration samples.
 */
public final class WandaMasking {
  /** The masked copy and what it reached. */
  public record Masked(Model model, MagnitudeMasking.Result result) {}

  private WandaMasking() {}

  /**
   * Unstructured: each output row of each layer loses {@code floor(sparsity * in)} weights.
   *
   * @throws InvalidOptionException (key {@code masking.sparsity}) when sparsity is outside (0, 1)
   */
  public static Masked unstructured(Model model, Dataset calibration, Sessions sessions, DataCriteria.Options options,
      double sparsity) {
    if (!(sparsity > 0 && sparsity < 1)) {
      throw new InvalidOptionException("masking.sparsity", sparsity, "must be in (0, 1)");
    }
    return run(model, calibration, sessions, options, sparsity, 0, 0);
  }

  /**
   * N:M: in every run of M consecutive inputs of each output row only the N highest-scoring weights stay.
   *
   * @throws InvalidOptionException (key {@code masking.nm}) unless 0 < n < m
   */
  public static Masked nm(Model model, Dataset calibration, Sessions sessions, DataCriteria.Options options, int n,
      int m) {
    if (n <= 0 || m <= n) {
      throw new InvalidOptionException("masking.nm", n + ":" + m, "needs 0 < N < M");
    }
    return run(model, calibration, sessions, options, 0, n, m);
  }

  private static Masked run(Model model, Dataset calibration, Sessions sessions, DataCriteria.Options options,
      double sparsity, int n, int m) {
    Model out = model.copy();
    Model observed = out.copy();
    dev.onnxprune.graph.shape.ShapeInference.infer(observed);
    // weight -> the node reading it in the observed copy (first use), features on the input's last axis
    Map<String, Node> layers = new LinkedHashMap<>();
    List<ConsumerInput> layouts = new ArrayList<>();
    for (Node node : observed.graph().nodes()) {
      boolean gemm = node.is("Gemm") && node.attrLong("transA", 0) == 0;
      if (!(gemm || node.is("MatMul")) || node.inputCount() < 2) {
        continue;
      }
      Value w = node.input(1);
      Tensor t = w.initializer();
      Value x = node.input(0);
      Shape xs = x.shape();
      if (t == null || t.dataType() != DataType.FLOAT || t.rank() != 2 || layers.containsKey(w.name()) || xs == null
          || xs.rank() < 2) {
        continue;
      }
      int in = (int) (gemm && node.attrLong("transB", 0) != 0 ? t.dim(1) : t.dim(0));
      layers.put(w.name(), node);
      layouts.add(new ConsumerInput(node, 0, x, xs.rank() - 1, 1, new int[in], new int[in]));
    }
    Calibration cal = Calibration.of(calibration, options.batchSize(), options.limit());
    Map<Value, double[]> sq = WandaCriterion.sumSquares(observed, layouts, cal, sessions);
    List<MagnitudeMasking.Layer> result = new ArrayList<>();
    long elements = 0;
    long zeros = 0;
    for (Map.Entry<String, Node> e : layers.entrySet()) {
      Node node = e.getValue();
      double[] s2 = sq.get(node.input(0));
      Value w = out.graph().lookup(e.getKey());
      Tensor t = w.initializer();
      boolean outFirst = node.is("Gemm") && node.attrLong("transB", 0) != 0;
      int rows = (int) (outFirst ? t.dim(0) : t.dim(1));
      int in = (int) (outFirst ? t.dim(1) : t.dim(0));
      float[] f = t.toFloatArray();
      String note = n > 0 && in % m != 0 ? "dense: " + in + " inputs are not a multiple of " + m : "";
      if (note.isEmpty()) {
        double[] score = new double[in];
        int[] idx = new int[in];
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < in; j++) {
            idx[j] = outFirst ? i * in + j : j * rows + i;
            score[j] = Math.abs(f[idx[j]]) * Math.sqrt(s2[j]);
          }
          if (n > 0) {
            for (int start = 0; start < in; start += m) {
              zeroLowest(f, idx, score, start, m, m - n);
            }
          } else {
            zeroLowest(f, idx, score, 0, in, (int) Math.floor(sparsity * in));
          }
        }
      }
      long z = 0;
      for (float v : f) {
        z += v == 0f ? 1 : 0;
      }
      w.setInitializer(Tensor.ofFloats(t.dims(), f));
      result.add(new MagnitudeMasking.Layer(w.name(), node.name() == null || node.name().isEmpty() ? node.opType()
          : node.name(), f.length, z, note));
      elements += f.length;
      zeros += z;
    }
    return new Masked(out, new MagnitudeMasking.Result(result, elements, zeros));
  }

  /** Zeroes the {@code k} lowest-scoring of {@code f[idx[from .. from+len)]} (ties by position). */
  static void zeroLowest(float[] f, int[] idx, double[] score, int from, int len, int k) {
    Integer[] order = new Integer[len];
    for (int i = 0; i < len; i++) {
      order[i] = from + i;
    }
    Arrays.sort(order, (a, b) -> {
      int c = Double.compare(score[a], score[b]);
      return c != 0 ? c : Integer.compare(a, b);
    });
    for (int i = 0; i < k; i++) {
      f[idx[order[i]]] = 0f;
    }
  }
}
