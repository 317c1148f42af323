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
 * Gemm or MatMul with a constant 2-D weight (and of a 2-D Conv, below) is scored {@code S_ij = |W_ij| * ||X_j||_2}, input
 * feature j's norm over every calibration token, and the scores are compared per output i (eq. 2,
 * "per output" comparison group): each output keeps all but the {@code floor(sparsity * in)}
 * lowest-scoring of its {@code in} weights, or, for N:M, the N highest of every M consecutive
 * inputs. Ties are broken by position. Layers whose input count is not a multiple of M stay dense
 * and say so. A Conv's weight {@code [O, C/G, KH, KW]} is the matrix of its im2col form: output o
 * against the columns {@code (channel, kh, kw)} of its group, each column's norm taken over the
 * positions the kernel offset visits (padding counts as zero), computed exactly in ONNX Runtime by a
 * depthwise Conv with one-hot kernels; its N:M runs go along the input channels at each offset, as
 * {@link MagnitudeMasking}'s do.
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
    // Conv: the norms of its im2col columns, computed in the graph (im2colNorms)
    Map<String, Value> convNorms = new LinkedHashMap<>();
    for (Node node : new ArrayList<>(observed.graph().nodes())) {
      if (!node.is("Conv") || node.inputCount() < 2) {
        continue;
      }
      Value w = node.input(1);
      Tensor t = w.initializer();
      if (t == null || t.dataType() != DataType.FLOAT || t.rank() != 4 || layers.containsKey(w.name())) {
        continue;
      }
      Value norms = im2colNorms(observed, node, t);
      int cols = (int) (t.dim(1) * node.attrLong("group", 1) * t.dim(2) * t.dim(3));
      layers.put(w.name(), node);
      convNorms.put(w.name(), norms);
      layouts.add(new ConsumerInput(node, 0, norms, 1, 1, new int[cols], new int[cols]));
    }
    Calibration cal = Calibration.of(calibration, options.batchSize(), options.limit());
    Map<Value, double[]> sq = WandaCriterion.sumSquares(observed, layouts, cal, sessions);
    List<MagnitudeMasking.Layer> result = new ArrayList<>();
    long elements = 0;
    long zeros = 0;
    for (Map.Entry<String, Node> e : layers.entrySet()) {
      Node node = e.getValue();
      Value w = out.graph().lookup(e.getKey());
      Tensor t = w.initializer();
      if (node.is("Conv")) {
        MagnitudeMasking.Layer l = maskConv(w, node, sq.get(convNorms.get(e.getKey())), sparsity, n, m);
        result.add(l);
        elements += l.elements();
        zeros += l.zeros();
        continue;
      }
      double[] s2 = sq.get(node.input(0));
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

  /**
   * Adds to {@code g}, before nothing, the norm of each im2col column of {@code conv}'s input over
   * one batch: a depthwise Conv by one-hot kernels (one output per input channel and kernel offset,
   * the conv's own strides, pads, dilations and auto_pad) lays out the columns, {@code
   * ReduceSumSquare} over the samples and output positions and {@code Sqrt} give {@code [1, C*KH*KW,
   * 1, 1]}, column {@code (c * KH + kh) * KW + kw}. Squared and summed over batches by {@link
   * WandaCriterion#sumSquares}.
   */
  private static Value im2colNorms(Model model, Node conv, Tensor w) {
    dev.onnxprune.graph.Graph g = model.graph();
    long groups = conv.attrLong("group", 1);
    int c = (int) (w.dim(1) * groups);
    int kh = (int) w.dim(2);
    int kw = (int) w.dim(3);
    float[] onehot = new float[c * kh * kw * kh * kw];
    for (int ch = 0; ch < c; ch++) {
      for (int i = 0; i < kh * kw; i++) {
        int out = ch * kh * kw + i;
        onehot[out * kh * kw + i] = 1f;
      }
    }
    String base = g.uniqueName(conv.name() + "_wanda");
    Value e = g.addInitializer(base + "_onehot", Tensor.ofFloats(new long[] {(long) c * kh * kw, 1, kh, kw}, onehot));
    List<dev.onnxprune.graph.Attribute> attrs = new ArrayList<>();
    for (String a : List.of("strides", "pads", "dilations")) {
      if (conv.attrLongs(a) != null) {
        attrs.add(dev.onnxprune.graph.Attribute.of(a, conv.attrLongs(a)));
      }
    }
    String autoPad = conv.attrString("auto_pad", "NOTSET");
    if (!autoPad.equals("NOTSET")) {
      attrs.add(dev.onnxprune.graph.Attribute.of("auto_pad", autoPad));
    }
    attrs.add(dev.onnxprune.graph.Attribute.of("group", (long) c));
    attrs.add(dev.onnxprune.graph.Attribute.of("kernel_shape", new long[] {kh, kw}));
    Value cols = g.addNode("Conv", base + "_im2col", List.of(conv.input(0), e), List.of(base + "_cols"),
        attrs.toArray(new dev.onnxprune.graph.Attribute[0])).output(0);
    Value sq;
    if (model.defaultOpsetVersion() >= 18) {
      Value axes = g.addInitializer(base + "_axes", Tensor.vector(0, 2, 3));
      sq = g.addNode("ReduceSumSquare", base + "_sumsq", List.of(cols, axes), List.of(base + "_sumsq")).output(0);
    } else {
      sq = g.addNode("ReduceSumSquare", base + "_sumsq", List.of(cols), List.of(base + "_sumsq"),
          dev.onnxprune.graph.Attribute.of("axes", new long[] {0, 2, 3})).output(0);
    }
    Value norm = g.addNode("Sqrt", base + "_norm", List.of(sq), List.of(base + "_norm")).output(0);
    norm.setType(new dev.onnxprune.graph.ValueType.TensorType(DataType.FLOAT, Shape.of(1, (long) c * kh * kw, 1, 1)));
    return norm;
  }

  /**
   * Wanda on a Conv's weight {@code [O, C/G, KH, KW]}: output o compares the weights of its group's
   * columns, {@code |W[o, j, kh, kw]| * ||X_(g*C/G + j, kh, kw)||}; N:M runs along the input
   * channels at each kernel offset (dense when C/G is not a multiple of M).
   */
  private static MagnitudeMasking.Layer maskConv(Value w, Node node, double[] colSq, double sparsity, int n, int m) {
    Tensor t = w.initializer();
    int o = (int) t.dim(0);
    int cpg = (int) t.dim(1);
    int kk = (int) (t.dim(2) * t.dim(3));
    int groups = (int) node.attrLong("group", 1);
    int perGroup = o / groups;
    float[] f = t.toFloatArray();
    String note = n > 0 && cpg % m != 0 ? "dense: " + cpg + " input channels per group are not a multiple of " + m : "";
    if (note.isEmpty()) {
      int row = cpg * kk;
      double[] score = new double[row];
      int[] idx = new int[row];
      for (int out = 0; out < o; out++) {
        int g = out / perGroup;
        for (int j = 0; j < cpg; j++) {
          for (int k = 0; k < kk; k++) {
            // runs of M along j at a fixed offset k: order the row by (k, j)
            int r = k * cpg + j;
            idx[r] = (out * cpg + j) * kk + k;
            score[r] = Math.abs(f[idx[r]]) * Math.sqrt(colSq[(g * cpg + j) * kk + k]);
          }
        }
        if (n > 0) {
          for (int start = 0; start < row; start += m) {
            zeroLowest(f, idx, score, start, m, m - n);
          }
        } else {
          zeroLowest(f, idx, score, 0, row, (int) Math.floor(sparsity * row));
        }
      }
    }
    long z = 0;
    for (float v : f) {
      z += v == 0f ? 1 : 0;
    }
    w.setInitializer(Tensor.ofFloats(t.dims(), f));
    return new MagnitudeMasking.Layer(w.name(), node.name() == null || node.name().isEmpty() ? node.opType()
        : node.name(), f.length, z, note);
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
