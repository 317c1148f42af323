package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Value;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every gradient rule against central finite differences in ONNX Runtime (see {@link GradCheck}),
 * on several shapes per rule: strided, padded, dilated, grouped, depthwise, broadcast. Cases run
 * in float64 where ONNX Runtime's CPU kernels take doubles, else in float32 (h = 1e-2). The
 * table of the worst error per rule is written to {@code target/gradient-check.txt}.
 */
class GradientCheckTest {
  /** float64: central differences with h = 1e-6 leave about 1e-9 of truncation and rounding. */
  static final double TOL_DOUBLE = 1e-6;
  /** float32: rounding of the loss (about 1e-7 relative) divided by h = 1e-2. */
  static final double TOL_FLOAT = 1e-2;

  private static final List<GradCheck.Result> RESULTS = new ArrayList<>();

  private static void check(String rule, String name, Function<DataType, OpModel> build, List<String> wrt,
      Map<String, Function<Random, double[]>> inputs) throws Exception {
    check(rule, name, build, wrt, inputs, BatchNormMode.INFERENCE);
  }

  private static void check(String rule, String name, Function<DataType, OpModel> build, List<String> wrt,
      Map<String, Function<Random, double[]>> inputs, BatchNormMode mode) throws Exception {
    GradCheck.Result r = GradCheck.run(rule, name, build, wrt, inputs, mode);
    synchronized (RESULTS) {
      RESULTS.add(r);
    }
    double tol = r.type() == DataType.DOUBLE ? TOL_DOUBLE : TOL_FLOAT;
    assertTrue(r.error() <= tol, name + " (" + r.type() + "): gradient error " + r.error() + " > " + tol);
  }

  private static Map<String, Function<Random, double[]>> none() {
    return Map.of();
  }

  private static Function<Random, double[]> spaced(int n, double gap) {
    return rnd -> GradCheck.spaced(rnd, n, gap);
  }

  private static Function<Random, double[]> positive(int n) {
    return rnd -> {
      double[] v = new double[n];
      for (int i = 0; i < n; i++) {
        v[i] = 0.5 + rnd.nextDouble();
      }
      return v;
    };
  }

  @AfterAll
  static void writeTable() throws IOException {
    Map<String, double[]> worst = new TreeMap<>();
    Map<String, String> types = new TreeMap<>();
    Map<String, Integer> cases = new TreeMap<>();
    for (GradCheck.Result r : RESULTS) {
      worst.merge(r.rule(), new double[] {r.error()}, (a, b) -> a[0] >= b[0] ? a : b);
      types.merge(r.rule(), r.type().name().toLowerCase(), (a, b) -> a.contains(b) ? a : a + "+" + b);
      cases.merge(r.rule(), 1, Integer::sum);
    }
    StringBuilder sb = new StringBuilder(String.format("%-22s %-14s %5s %12s%n", "rule", "dtype", "cases",
        "max rel err"));
    for (String rule : worst.keySet()) {
      sb.append(String.format("%-22s %-14s %5d %12.2e%n", rule, types.get(rule), cases.get(rule),
          worst.get(rule)[0]));
    }
    Path out = Path.of("target", "gradient-check.txt");
    Files.createDirectories(out.getParent());
    Files.writeString(out, sb.toString());
    System.out.print(sb);
  }

  // ------------------------------------------------------------------ Conv

  private static Function<DataType, OpModel> conv(long[] x, long[] w, boolean bias, Attribute... attrs) {
    return t -> {
      OpModel m = new OpModel(t);
      List<Value> in = new ArrayList<>(List.of(m.input("x", x), m.input("w", w)));
      if (bias) {
        in.add(m.input("b", w[0]));
      }
      return m.output(m.op("Conv", in, attrs));
    };
  }

  @Test
  void convStridedPaddedWithBias() throws Exception {
    check("Conv", "conv s2 p1 bias", conv(new long[] {2, 3, 7, 7}, new long[] {4, 3, 3, 3}, true,
        Attribute.of("strides", new long[] {2, 2}), Attribute.of("pads", new long[] {1, 1, 1, 1})),
        List.of("x", "w", "b"), none());
  }

  @Test
  void convDilatedAsymmetricPads() throws Exception {
    check("Conv", "conv d2 pads 1,0,2,1", conv(new long[] {2, 2, 8, 9}, new long[] {3, 2, 3, 2}, false,
        Attribute.of("dilations", new long[] {2, 2}), Attribute.of("pads", new long[] {1, 0, 2, 1})),
        List.of("x", "w"), none());
  }

  @Test
  void convGrouped() throws Exception {
    check("Conv", "conv group 2 s2", conv(new long[] {2, 4, 6, 6}, new long[] {6, 2, 3, 3}, true,
        Attribute.of("group", 2L), Attribute.of("strides", new long[] {2, 1}),
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w", "b"), none());
  }

  @Test
  void convDepthwiseStrided() throws Exception {
    check("Conv", "conv depthwise s2", conv(new long[] {2, 4, 7, 7}, new long[] {4, 1, 3, 3}, false,
        Attribute.of("group", 4L), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w"), none());
  }

  @Test
  void convStrideOneInputGradientIsAConvPerGroupShape() throws Exception {
    // dx as a Conv by the flipped weight: group 1, groups with Mg, Cg > 1 (transpose), Mg = 1 and
    // depthwise (reshape only), pads below the kernel's reach, 1-D with dilation
    check("Conv", "conv s1 p1", conv(new long[] {2, 3, 6, 5}, new long[] {4, 3, 3, 3}, false,
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w"), none());
    check("Conv", "conv group 2 s1", conv(new long[] {2, 4, 6, 6}, new long[] {6, 2, 3, 3}, true,
        Attribute.of("group", 2L), Attribute.of("pads", new long[] {1, 0, 1, 2})), List.of("x", "w", "b"), none());
    check("Conv", "conv group 4 Mg 1 s1", conv(new long[] {2, 8, 5, 5}, new long[] {4, 2, 3, 3}, false,
        Attribute.of("group", 4L), Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w"), none());
    check("Conv", "conv depthwise s1", conv(new long[] {2, 4, 7, 7}, new long[] {4, 1, 3, 3}, false,
        Attribute.of("group", 4L), Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w"), none());
    check("Conv", "conv 1-D s1 d3", conv(new long[] {2, 3, 12}, new long[] {2, 3, 3}, false,
        Attribute.of("dilations", new long[] {3}), Attribute.of("pads", new long[] {6, 0})), List.of("x", "w"),
        none());
  }

  @Test
  void convWeightGradientWithTheBatchFolded() throws Exception {
    // few output positions per sample (L <= Mg): the weight gradient contracts over N*L in one
    // product per kernel offset; group 1, grouped strided, 1-D, and ConvTranspose's weight gradient
    check("Conv", "conv L 9 <= M 10", conv(new long[] {2, 4, 3, 3}, new long[] {10, 4, 3, 3}, true,
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w", "b"), none());
    check("Conv", "conv group 2 s2 L 4 <= Mg 6", conv(new long[] {3, 4, 4, 3}, new long[] {12, 2, 3, 3}, false,
        Attribute.of("group", 2L), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x", "w"), none());
    check("Conv", "conv 1-D L 4 <= M 5", conv(new long[] {2, 3, 4}, new long[] {5, 3, 3}, false,
        Attribute.of("pads", new long[] {1, 1})), List.of("x", "w"), none());
    check("ConvTranspose", "convT L 4 <= M 4", convT(new long[] {2, 4, 2, 2}, new long[] {4, 3, 3, 3}, false,
        Attribute.of("strides", new long[] {2, 2})), List.of("x", "w"), none());
  }

  @Test
  void convPointwiseAndSamePadding() throws Exception {
    check("Conv", "conv 1x1", conv(new long[] {3, 5, 4, 4}, new long[] {2, 5, 1, 1}, true),
        List.of("x", "w", "b"), none());
    check("Conv", "conv auto_pad SAME_UPPER s2", conv(new long[] {1, 2, 6, 5}, new long[] {3, 2, 3, 3}, false,
        Attribute.of("auto_pad", "SAME_UPPER"), Attribute.of("strides", new long[] {2, 2})),
        List.of("x", "w"), none());
    check("Conv", "conv 1-D s2 d2", conv(new long[] {2, 3, 11}, new long[] {2, 3, 3}, true,
        Attribute.of("strides", new long[] {2}), Attribute.of("dilations", new long[] {2}),
        Attribute.of("pads", new long[] {2, 1})), List.of("x", "w", "b"), none());
  }

  private static Function<DataType, OpModel> convT(long[] x, long[] w, boolean bias, Attribute... attrs) {
    return t -> {
      OpModel m = new OpModel(t);
      List<Value> in = new ArrayList<>(List.of(m.input("x", x), m.input("w", w)));
      if (bias) {
        long groups = 1;
        for (Attribute a : attrs) {
          if (a.name().equals("group")) {
            groups = a.asLong();
          }
        }
        in.add(m.input("b", w[1] * groups));
      }
      return m.output(m.op("ConvTranspose", in, attrs));
    };
  }

  @Test
  void convTransposeStridedOutputPadding() throws Exception {
    check("ConvTranspose", "convT s2 p1 op1 bias", convT(new long[] {2, 3, 4, 4}, new long[] {3, 2, 3, 3}, true,
        Attribute.of("strides", new long[] {2, 2}), Attribute.of("pads", new long[] {1, 1, 1, 1}),
        Attribute.of("output_padding", new long[] {1, 1})), List.of("x", "w", "b"), none());
  }

  @Test
  void convTransposeGroupedDilatedAndDepthwise() throws Exception {
    check("ConvTranspose", "convT group 2 d2", convT(new long[] {2, 4, 3, 4}, new long[] {4, 3, 2, 3}, false,
        Attribute.of("group", 2L), Attribute.of("dilations", new long[] {2, 1}),
        Attribute.of("pads", new long[] {0, 1, 1, 0})), List.of("x", "w"), none());
    check("ConvTranspose", "convT depthwise s2", convT(new long[] {2, 3, 3, 3}, new long[] {3, 1, 2, 2}, true,
        Attribute.of("group", 3L), Attribute.of("strides", new long[] {2, 2})), List.of("x", "w", "b"), none());
  }

  // ------------------------------------------------------------------ Gemm, MatMul

  @Test
  void gemmTransposedWithBroadcastBias() throws Exception {
    check("Gemm", "gemm transB bias[M]", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Gemm", List.of(m.input("a", 3, 5), m.input("b", 4, 5), m.input("c", 4)),
          Attribute.of("transB", 1L)));
    }, List.of("a", "b", "c"), none());
    check("Gemm", "gemm transA alpha beta c[1,M]", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Gemm", List.of(m.input("a", 5, 3), m.input("b", 5, 4), m.input("c", 1, 4)),
          Attribute.of("transA", 1L), Attribute.of("alpha", 0.7f), Attribute.of("beta", 1.5f)));
    }, List.of("a", "b", "c"), none());
    check("Gemm", "gemm transA transB", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Gemm", List.of(m.input("a", 5, 3), m.input("b", 4, 5)),
          Attribute.of("transA", 1L), Attribute.of("transB", 1L)));
    }, List.of("a", "b"), none());
  }

  @Test
  void matMulBatchedAndBroadcast() throws Exception {
    check("MatMul", "matmul [2,3,4]x[4,5]", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("MatMul", List.of(m.input("a", 2, 3, 4), m.input("b", 4, 5))));
    }, List.of("a", "b"), none());
    check("MatMul", "matmul [2,1,3,4]x[3,4,2]", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("MatMul", List.of(m.input("a", 2, 1, 3, 4), m.input("b", 3, 4, 2))));
    }, List.of("a", "b"), none());
  }

  // ------------------------------------------------------------------ BatchNormalization

  private static Function<DataType, OpModel> bn(long n, long c, long h) {
    return t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("BatchNormalization", List.of(m.input("x", n, c, h, h), m.input("scale", c),
          m.input("bias", c), m.input("mean", c), m.input("var", c)), Attribute.of("epsilon", 1e-3f)));
    };
  }

  @Test
  void batchNormInference() throws Exception {
    check("BatchNormalization", "bn inference", bn(2, 3, 4), List.of("x", "scale", "bias", "mean", "var"),
        Map.of("var", positive(3)));
  }

  @Test
  void batchNormTraining() throws Exception {
    check("BatchNormalization(train)", "bn training 4d", bn(3, 4, 3), List.of("x", "scale", "bias"),
        Map.of("var", positive(4)), BatchNormMode.TRAINING);
    check("BatchNormalization(train)", "bn training 2d", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("BatchNormalization", List.of(m.input("x", 5, 3), m.input("scale", 3),
          m.input("bias", 3), m.input("mean", 3), m.input("var", 3))));
    }, List.of("x", "scale", "bias"), Map.of("var", positive(3)), BatchNormMode.TRAINING);
  }

  // ------------------------------------------------------------------ activations

  private static Function<DataType, OpModel> unary(String op, long[] shape, Attribute... attrs) {
    return t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op(op, List.of(m.input("x", shape)), attrs));
    };
  }

  @Test
  void activations() throws Exception {
    long[] s = {2, 3, 4, 5};
    Map<String, Function<Random, double[]>> x = Map.of("x", spaced(120, 0.1));
    check("Relu", "relu", unary("Relu", s), List.of("x"), x);
    check("LeakyRelu", "leaky relu 0.1", unary("LeakyRelu", s, Attribute.of("alpha", 0.1f)), List.of("x"), x);
    check("Sigmoid", "sigmoid", unary("Sigmoid", s), List.of("x"), x);
    check("HardSigmoid", "hard sigmoid", unary("HardSigmoid", s, Attribute.of("alpha", 0.25f)), List.of("x"), x);
    check("HardSwish", "hard swish", unary("HardSwish", s), List.of("x"), x);
    check("Tanh", "tanh", unary("Tanh", s), List.of("x"), x);
    check("Neg", "neg", unary("Neg", s), List.of("x"), none());
  }

  @Test
  void clipAsRelu6AndMinOnly() throws Exception {
    Map<String, Function<Random, double[]>> x = Map.of("x", rnd -> {
      double[] v = GradCheck.spaced(rnd, 120, 0.1);
      for (int i = 0; i < v.length; i++) {
        v[i] *= 1.3;
      }
      return v;
    });
    check("Clip", "clip 0..6 (relu6)", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Clip", List.of(m.input("x", 2, 3, 4, 5), m.scalar("lo", 0), m.scalar("hi", 6))));
    }, List.of("x"), x);
    check("Clip", "clip min only", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Clip", List.of(m.input("x", 2, 3, 4, 5), m.scalar("lo", -1))));
    }, List.of("x"), x);
  }

  // ------------------------------------------------------------------ arithmetic

  private static Function<DataType, OpModel> binary(String op, long[] a, long[] b) {
    return t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op(op, List.of(m.input("a", a), m.input("b", b))));
    };
  }

  @Test
  void arithmeticWithBroadcasting() throws Exception {
    long[] full = {2, 3, 4, 5};
    long[] channel = {3, 1, 1};
    long[] row = {1, 5};
    for (String op : List.of("Add", "Sub", "Mul", "Div")) {
      Map<String, Function<Random, double[]>> pos = op.equals("Div") ? Map.of("b", positive(3)) : none();
      check(op, op + " full x [3,1,1]", binary(op, full, channel), List.of("a", "b"), pos);
      Map<String, Function<Random, double[]>> posA = op.equals("Div") ? Map.of("b", positive(120)) : none();
      check(op, op + " [1,5] x full", binary(op, row, full), List.of("a", "b"), posA);
      Map<String, Function<Random, double[]>> posS = op.equals("Div") ? Map.of("b", positive(1)) : none();
      check(op, op + " full x scalar", binary(op, full, new long[0]), List.of("a", "b"), posS);
    }
  }

  // ------------------------------------------------------------------ pooling

  private static Function<DataType, OpModel> pool(String op, long[] x, Attribute... attrs) {
    return t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op(op, List.of(m.input("x", x)), attrs));
    };
  }

  @Test
  void maxPoolOverlappingPaddedDilatedCeil() throws Exception {
    Map<String, Function<Random, double[]>> x = Map.of("x", spaced(2 * 3 * 7 * 7, 0.05));
    long[] s = {2, 3, 7, 7};
    check("MaxPool", "maxpool k3 s2 p1", pool("MaxPool", s, Attribute.of("kernel_shape", new long[] {3, 3}),
        Attribute.of("strides", new long[] {2, 2}), Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x"), x);
    check("MaxPool", "maxpool k2 s2", pool("MaxPool", s, Attribute.of("kernel_shape", new long[] {2, 2}),
        Attribute.of("strides", new long[] {2, 2})), List.of("x"), x);
    check("MaxPool", "maxpool k2 d2 ceil", pool("MaxPool", s, Attribute.of("kernel_shape", new long[] {2, 2}),
        Attribute.of("dilations", new long[] {2, 2}), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("ceil_mode", 1L)), List.of("x"), x);
    check("MaxPool", "maxpool k3 s1 (overlap)", pool("MaxPool", s, Attribute.of("kernel_shape", new long[] {3, 3})),
        List.of("x"), x);
  }

  @Test
  void averagePoolPaddingModes() throws Exception {
    long[] s = {2, 3, 7, 7};
    check("AveragePool", "avgpool k3 s2 p1 exclude pad", pool("AveragePool", s,
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("pads", new long[] {1, 1, 1, 1})), List.of("x"), none());
    check("AveragePool", "avgpool k3 s2 p1 include pad", pool("AveragePool", s,
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("pads", new long[] {1, 1, 1, 1}), Attribute.of("count_include_pad", 1L)), List.of("x"), none());
    check("AveragePool", "avgpool k2 s2 ceil", pool("AveragePool", s,
        Attribute.of("kernel_shape", new long[] {2, 2}), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("ceil_mode", 1L)), List.of("x"), none());
    check("GlobalAveragePool", "global avgpool", pool("GlobalAveragePool", s), List.of("x"), none());
  }

  // ------------------------------------------------------------------ reductions

  @Test
  void reductions() throws Exception {
    check("ReduceMean", "reducemean [2,3] keepdims", pool("ReduceMean", new long[] {2, 3, 4, 5},
        Attribute.of("axes", new long[] {2, 3})), List.of("x"), none());
    check("ReduceMean", "reducemean [1] no keepdims", pool("ReduceMean", new long[] {2, 3, 4},
        Attribute.of("axes", new long[] {-2}), Attribute.of("keepdims", 0L)), List.of("x"), none());
    check("ReduceSum", "reducesum [0,2] no keepdims", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("ReduceSum", List.of(m.input("x", 2, 3, 4), m.ints("axes", 0, 2)),
          Attribute.of("keepdims", 0L)));
    }, List.of("x"), none());
  }

  // ------------------------------------------------------------------ layout

  @Test
  void concatAndSplit() throws Exception {
    check("Concat", "concat axis 1 of 3", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Concat", List.of(m.input("a", 2, 1, 3), m.input("b", 2, 4, 3), m.input("c", 2, 2, 3)),
          Attribute.of("axis", 1L)));
    }, List.of("a", "b", "c"), none());
    check("Split", "split uneven axis -1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.opN("Split", List.of(m.input("x", 2, 3, 7), m.ints("split", 2, 4, 1)), 3,
          Attribute.of("axis", -1L)));
    }, List.of("x"), none());
    check("Split", "split equal, one output unused", t -> {
      OpModel m = new OpModel(t);
      Value[] parts = m.opN("Split", List.of(m.input("x", 2, 6)), 2, Attribute.of("axis", 1L));
      return m.output(parts[1]);
    }, List.of("x"), none());
  }

  @Test
  void slices() throws Exception {
    check("Slice", "slice unit steps axes 2,3", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Slice", List.of(m.input("x", 2, 3, 6, 7), m.ints("starts", 1, -5),
          m.ints("ends", 5, 100), m.ints("axes", 2, 3))));
    }, List.of("x"), none());
    check("Slice", "slice step 2 and -1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Slice", List.of(m.input("x", 2, 3, 6, 7), m.ints("starts", 0, 5, 1),
          m.ints("ends", 6, 0, 3), m.ints("axes", 2, 3, 1), m.ints("steps", 2, -1, 1))));
    }, List.of("x"), none());
  }

  @Test
  void reshapes() throws Exception {
    check("Flatten", "flatten axis 2", pool("Flatten", new long[] {2, 3, 4, 5}, Attribute.of("axis", 2L)),
        List.of("x"), none());
    check("Reshape", "reshape", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Reshape", List.of(m.input("x", 2, 3, 4), m.ints("shape", 4, -1))));
    }, List.of("x"), none());
    check("Transpose", "transpose 0,2,3,1", pool("Transpose", new long[] {2, 3, 4, 5},
        Attribute.of("perm", new long[] {0, 2, 3, 1})), List.of("x"), none());
    check("Squeeze", "squeeze axis 1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Squeeze", List.of(m.input("x", 2, 1, 4), m.ints("axes", 1))));
    }, List.of("x"), none());
    check("Unsqueeze", "unsqueeze axes 0,3", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Unsqueeze", List.of(m.input("x", 2, 4), m.ints("axes", 0, 3))));
    }, List.of("x"), none());
  }

  @Test
  void padsPositiveAndNegative() throws Exception {
    check("Pad", "pad constant 1,2 / 0,1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Pad", List.of(m.input("x", 2, 3, 4, 4), m.ints("pads", 0, 0, 1, 2, 0, 0, 0, 1))));
    }, List.of("x"), none());
    check("Pad", "pad with crop -1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Pad", List.of(m.input("x", 2, 3, 4, 4), m.ints("pads", 0, 0, -1, 2, 0, 0, 1, -1))));
    }, List.of("x"), none());
  }

  @Test
  void identityDropoutSoftmax() throws Exception {
    check("Identity", "identity", pool("Identity", new long[] {3, 4}), List.of("x"), none());
    check("Dropout", "dropout inference", pool("Dropout", new long[] {3, 4}), List.of("x"), none());
    check("Softmax", "softmax axis 1", pool("Softmax", new long[] {2, 5, 3}, Attribute.of("axis", 1L)),
        List.of("x"), none());
    check("LogSoftmax", "logsoftmax axis -1", pool("LogSoftmax", new long[] {2, 3, 5}), List.of("x"), none());
  }

  @Test
  void dropoutInTrainingScalesByItsMask() throws Exception {
    // Random masks defeat finite differences; check dx = dy * mask / (1 - ratio) exactly instead.
    OpModel m = new OpModel(DataType.FLOAT);
    Value y = m.op("Dropout", List.of(m.input("x", 4, 50), m.scalar("ratio", 0.25)));
    m.output(y);
    dev.onnxprune.graph.Model work = m.model.copy();
    Models.prepare(work);
    dev.onnxprune.graph.shape.ShapeInference.infer(work);
    GradContext ctx = new GradContext(work);
    dev.onnxprune.graph.Node drop = work.graph().nodes().get(0);
    LayoutGrads.toTraining(ctx, drop);
    Value seed = work.graph().addInput("seed", drop.output(0).type());
    Value x = work.graph().lookup("x");
    Value dx = ctx.differentiate(Map.of(drop.output(0), seed), List.of(x)).get(x);
    work.graph().addOutput(drop.output(1));
    Models.exposeAs(ctx, dx, "x_grad", x.type());
    Random rnd = new Random(5);
    Map<String, Ort.Data> feed = Map.of("x", Ort.Data.of(DataType.FLOAT, new long[] {4, 50}, GradCheck.normal(rnd, 200)),
        "seed", Ort.Data.of(DataType.FLOAT, new long[] {4, 50}, GradCheck.normal(rnd, 200)));
    try (var s = Ort.open(work)) {
      Map<String, double[]> out = Ort.run(s, feed);
      double[] mask = out.get(drop.output(1).name());
      double[] g = out.get("x_grad");
      double err = 0;
      int kept = 0;
      for (int i = 0; i < g.length; i++) {
        err = Math.max(err, Math.abs(g[i] - (float) (feed.get("seed").values()[i] * mask[i] / 0.75)));
        kept += (int) mask[i];
      }
      assertTrue(kept > 100 && kept < 200, "about 3/4 kept: " + kept);
      RESULTS.add(new GradCheck.Result("Dropout(train)", "dropout training exact", DataType.FLOAT, err));
      assertTrue(err <= 1e-6, "dropout training: " + err);
    }
  }

  @Test
  void chainOfOpsSharingAValue() throws Exception {
    // x feeds two branches that meet again: the gradients of both uses must add up.
    check("(fan-out)", "relu(x) * sigmoid(x) + x", t -> {
      OpModel m = new OpModel(t);
      Value x = m.input("x", 3, 4);
      Value r = m.op("Relu", List.of(x));
      Value s = m.op("Sigmoid", List.of(x));
      return m.output(m.op("Add", List.of(m.op("Mul", List.of(r, s)), x)));
    }, List.of("x"), Map.of("x", spaced(12, 0.1)));
  }

  @Test
  void softmaxCrossEntropyWithLabelSmoothing() throws Exception {
    GradCheck.Result r;
    try {
      r = new GradCheck.Result("CrossEntropy loss", "ce eps 0.1", DataType.DOUBLE, crossEntropyError(DataType.DOUBLE, 0.1));
    } catch (ai.onnxruntime.OrtException e) {
      r = new GradCheck.Result("CrossEntropy loss", "ce eps 0.1", DataType.FLOAT, crossEntropyError(DataType.FLOAT, 0.1));
    }
    RESULTS.add(r);
    assertTrue(r.error() <= (r.type() == DataType.DOUBLE ? TOL_DOUBLE : TOL_FLOAT), "cross-entropy: " + r);
  }

  /** FD of the loss output of the gradient model itself against its logits gradient. */
  private static double crossEntropyError(DataType t, double eps) throws Exception {
    OpModel m = new OpModel(t);
    m.output(m.op("Identity", List.of(m.input("x", 4, 6))));
    String out = m.g.outputs().get(0).name();
    dev.onnxprune.graph.Model grad = Autodiff.gradients(m.model, new Loss.CrossEntropy(out, "labels", eps),
        List.of("x"));
    Random rnd = new Random(7);
    double[] x = GradCheck.normal(rnd, 24);
    Map<String, Ort.Data> feed = new LinkedHashMap<>();
    feed.put("labels", Ort.Data.of(DataType.INT64, new long[] {4}, new double[] {0, 5, 2, 2}));
    double h = t == DataType.DOUBLE ? 1e-6 : 1e-2;
    double num = 0;
    double den = 1e-12;
    try (var s = Ort.open(grad)) {
      feed.put("x", Ort.Data.of(t, new long[] {4, 6}, x));
      double[] ad = Ort.run(s, feed).get("x_grad");
      for (int i = 0; i < x.length; i++) {
        double[] p = x.clone();
        double[] q = x.clone();
        p[i] += h;
        q[i] -= h;
        feed.put("x", Ort.Data.of(t, new long[] {4, 6}, p));
        double lp = Ort.run(s, feed).get("loss")[0];
        feed.put("x", Ort.Data.of(t, new long[] {4, 6}, q));
        double lq = Ort.run(s, feed).get("loss")[0];
        double fd = (lp - lq) / (2 * h);
        num = Math.max(num, Math.abs(fd - ad[i]));
        den = Math.max(den, Math.abs(fd));
      }
    }
    return num / den;
  }


  // ------------------------------------------------------------------ transformer ops

  @Test
  void transformerPointwise() throws Exception {
    long[] s = {2, 3, 4};
    check("Erf", "erf", unary("Erf", s), List.of("x"), none());
    check("Sqrt", "sqrt", unary("Sqrt", s), List.of("x"), Map.of("x", positive(24)));
    check("Exp", "exp", unary("Exp", s), List.of("x"), none());
    check("Log", "log", unary("Log", s), List.of("x"), Map.of("x", positive(24)));
    check("Reciprocal", "reciprocal", unary("Reciprocal", s), List.of("x"), Map.of("x", positive(24)));
    check("Cast", "cast to its own type", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Cast", List.of(m.input("x", s)), Attribute.of("to", (long) t.code())));
    }, List.of("x"), none());
  }

  @Test
  void powConstantSquareAndBroadcastExponent() throws Exception {
    check("Pow", "pow x^2 (constant)", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Pow", List.of(m.input("x", 2, 3, 4), m.scalar("p", 2))));
    }, List.of("x"), none());
    check("Pow", "pow x^p p[4] input", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Pow", List.of(m.input("x", 2, 3, 4), m.input("p", 4))));
    }, List.of("x", "p"), Map.of("x", positive(24)));
  }

  @Test
  void whereWithBroadcastOperands() throws Exception {
    check("Where", "where cond[3,4] a[2,3,4] b[4]", t -> {
      OpModel m = new OpModel(t);
      Value c = m.op("Greater", List.of(m.input("c", 3, 4), m.scalar("zero", 0)));
      return m.output(m.op("Where", List.of(c, m.input("a", 2, 3, 4), m.input("b", 4))));
    }, List.of("a", "b"), none());
  }

  @Test
  void expandToBatchAndAlongOnes() throws Exception {
    check("Expand", "expand [1,1,4] to [3,2,4] (class token)", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Expand", List.of(m.input("x", 1, 1, 4), m.ints("shape", 3, 2, 4))));
    }, List.of("x"), none());
    check("Expand", "expand [3,1] to [2,3,5]", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("Expand", List.of(m.input("x", 3, 1), m.ints("shape", 2, 1, 5))));
    }, List.of("x"), none());
  }

  @Test
  void gatherEmbeddingRowsAndTokenSelection() throws Exception {
    // repeated and negative ids add up in the table's rows; a scalar index on axis 1 (x[:, 0]);
    // run-time indices (an INT64 input) on a middle axis
    check("Gather", "gather table[7,5] ids[2,3] repeated, negative", t -> {
      OpModel m = new OpModel(t);
      Value ids = m.g.addInitializer("ids", dev.onnxprune.graph.Tensor.ofLongs(new long[] {2, 3},
          new long[] {1, 4, 1, -1, 0, 4}));
      return m.output(m.op("Gather", List.of(m.input("x", 7, 5), ids)));
    }, List.of("x"), none());
    check("Gather", "gather axis 1 scalar index (class token)", t -> {
      OpModel m = new OpModel(t);
      Value i = m.g.addInitializer("i", dev.onnxprune.graph.Tensor.ofLongs(new long[0], new long[] {0}));
      return m.output(m.op("Gather", List.of(m.input("x", 2, 5, 3), i), Attribute.of("axis", 1L)));
    }, List.of("x"), none());
    check("Gather", "gather axis -2 run-time ids[2,2]", t -> {
      OpModel m = new OpModel(t);
      Value ids = m.g.addInput("ids", new dev.onnxprune.graph.ValueType.TensorType(DataType.INT64,
          dev.onnxprune.graph.Shape.of(2, 2)));
      return m.output(m.op("Gather", List.of(m.input("x", 2, 4, 3), ids), Attribute.of("axis", -2L)));
    }, List.of("x"), Map.of("ids", rnd -> new double[] {3, -1, 0, 3}));
  }

  @Test
  void layerNormalizationLastAxisAndLastTwo() throws Exception {
    check("LayerNormalization", "layernorm axis -1", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("LayerNormalization", List.of(m.input("x", 2, 3, 6), m.input("scale", 6),
          m.input("b", 6)), Attribute.of("epsilon", 1e-3f)));
    }, List.of("x", "scale", "b"), none());
    check("LayerNormalization", "layernorm axis 1 no bias", t -> {
      OpModel m = new OpModel(t);
      return m.output(m.op("LayerNormalization", List.of(m.input("x", 2, 3, 4), m.input("scale", 3, 4)),
          Attribute.of("axis", 1L)));
    }, List.of("x", "scale"), none());
  }
}
