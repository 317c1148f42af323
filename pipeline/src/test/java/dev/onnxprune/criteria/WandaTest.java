package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MagnitudeMasking;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Wanda, {@code S_ij = |W_ij| * ||X_j||_2} (Sun et al. 2023, eq. 1), against a hand computation on
 * x[4 samples, 3] -> Gemm W1[4,3] + b1 -> Relu -> Gemm W2[2,4] -> y, and on the real vit_tiny.
 */
class WandaTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);
  static final float[] X = {1, 2, 0, -1, 1, 3, 2, 0, 1, 0.5f, -2, 1};
  static final float[] W1 = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0.05f, 0.05f, 0.05f};
  static final float[] B1 = {0, 0, 0, 0};
  // hidden 3 is tiny (0.1 * x sums) but has the largest outgoing weights: magnitude and Wanda disagree
  static final float[] W2 = {0.5f, -1, 2, 5, -0.2f, 3, 0.5f, -4};

  private static Model mlp() {
    Graph g = new Graph("mlp");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(3))));
    Value h = g.addNode("Gemm", "fc1", List.of(x, g.addInitializer("w1", Tensor.ofFloats(new long[] {4, 3}, W1)),
        g.addInitializer("b1", Tensor.ofFloats(new long[] {4}, B1))), List.of("h"), Attribute.of("transB", 1L))
        .output(0);
    Value r = g.addNode("Relu", "relu", List.of(h), List.of("r")).output(0);
    g.addOutput(g.addNode("Gemm", "fc2", List.of(r, g.addInitializer("w2", Tensor.ofFloats(new long[] {2, 4}, W2))),
        List.of("y"), Attribute.of("transB", 1L)).output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static ArrayDataset data() {
    return new ArrayDataset(X, new long[] {3}, null);
  }

  /** ||X_j||_2 over the 4 samples of the hidden activations relu(W1 x + b1), by hand. */
  private static double[] hiddenNorms() {
    double[] s = new double[4];
    for (int n = 0; n < 4; n++) {
      for (int j = 0; j < 4; j++) {
        double h = B1[j];
        for (int k = 0; k < 3; k++) {
          h += W1[j * 3 + k] * X[n * 3 + k];
        }
        h = Math.max(0, h);
        s[j] += h * h;
      }
    }
    for (int j = 0; j < 4; j++) {
      s[j] = Math.sqrt(s[j]);
    }
    return s;
  }

  @Test
  void structuredScoreIsTheSumOverOutputsOfWeightTimesFeatureNorm() {
    Model m = mlp();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    byte[] before = OnnxModels.toBytes(m);
    ChannelGroup hidden = a.prunableGroups().get(0);
    assertEquals(1, a.prunableGroups().size());
    DataCriterion c = DataCriteria.wanda(data(), CPU, new DataCriteria.Options().batchSize(3));
    double[] s = c.score(a)[hidden.id()];
    double[] norm = hiddenNorms();
    double[] expected = new double[4];
    for (int j = 0; j < 4; j++) {
      expected[j] = (Math.abs(W2[j]) + Math.abs(W2[4 + j])) * norm[j];
    }
    assertArrayEquals(expected, s, 1e-5);
    // by hand: norms 2.291, 2.236, 3.317, 0.260; hidden 3 has the largest outgoing weights (|w| sum 9) but
    // scores 2.34, below hidden 2 (8.29) and 1 (8.94); hidden 0: 0.7 * 2.291 = 1.60
    assertArrayEquals(new double[] {1.604, 8.944, 8.292, 2.338}, s, 1e-3);
    assertArrayEquals(before, OnnxModels.toBytes(m), "the scored model is unchanged");
  }

  @Test
  void unstructuredAndNmCompareWithinEachOutputRow() {
    Model m = mlp();
    DataCriteria.Options o = new DataCriteria.Options().batchSize(4);
    WandaMasking.Masked half = WandaMasking.unstructured(m, data(), CPU, o, 0.5);
    double[] norm = hiddenNorms();
    // fc2 row i keeps its 2 best of |W2[i,j]| * norm_j
    float[] w2 = half.model().graph().lookup("w2").initializer().toFloatArray();
    float[] expected = W2.clone();
    for (int i = 0; i < 2; i++) {
      double[] sc = new double[4];
      for (int j = 0; j < 4; j++) {
        sc[j] = Math.abs(W2[i * 4 + j]) * norm[j];
      }
      Integer[] order = {0, 1, 2, 3};
      java.util.Arrays.sort(order, (p, q) -> Double.compare(sc[p], sc[q]));
      expected[i * 4 + order[0]] = 0;
      expected[i * 4 + order[1]] = 0;
    }
    assertArrayEquals(expected, w2);
    // row 0 scores 1.15, 2.24, 6.63, 1.30: drops hidden 0 and 3, although |w| = 5 is the row's largest
    // (magnitude would drop hidden 0 and 1)
    assertArrayEquals(new float[] {0, -1, 2, 0, 0, 3, 0.5f, 0}, w2);
    // fc1 (3 inputs, the data's own norms ||x_j|| = 2.5, 3, 3.317) loses floor(1.5) = 1 per row: row 3 its
    // input 0 (0.125 < 0.15 < 0.166); rows 0-2 a weight that is 0 already
    float[] w1 = half.model().graph().lookup("w1").initializer().toFloatArray();
    assertArrayEquals(new float[] {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0.05f, 0.05f}, w1);
    MagnitudeMasking.Result r = half.result();
    assertEquals(7 + 4, r.zeros(), r.summary());
    assertArrayEquals(W2, m.graph().lookup("w2").initializer().toFloatArray(), "the input model is unchanged");

    WandaMasking.Masked nm = WandaMasking.nm(m, data(), CPU, o, 2, 4);
    assertArrayEquals(expected, nm.model().graph().lookup("w2").initializer().toFloatArray(), "2:4 of 4 inputs");
    MagnitudeMasking.Layer fc1 = nm.result().layers().get(0);
    assertEquals("dense: 3 inputs are not a multiple of 4", fc1.note());
  }

  @Test
  void scoresEveryGroupOfVitTiny() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vit_tiny.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    var calib = dev.onnxprune.runtime.IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"),
        new dev.onnxprune.runtime.Normalization(new float[] {0.2860f}, new float[] {0.3530f}), 64);
    double[][] s = DataCriteria.wanda(calib, CPU).score(a);
    for (ChannelGroup g : a.prunableGroups()) {
      assertTrue(s[g.id()] != null && s[g.id()].length == g.size(), "group " + g.id() + " " + g.kind());
      assertTrue(java.util.Arrays.stream(s[g.id()]).allMatch(v -> v > 0 && Double.isFinite(v)));
    }
  }

  /** x[N, 4, 5, 5] -> Conv W[O, 4/G, 3, 3], stride 2, pads 1,0,2,1, group G. */
  private static Model conv(float[] w, int out, int group) {
    Graph g = new Graph("conv");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(4), Dim.of(5), Dim.of(5))));
    g.addOutput(g.addNode("Conv", "conv", List.of(x, g.addInitializer("w", Tensor.ofFloats(
        new long[] {out, 4 / group, 3, 3}, w))), List.of("y"), Attribute.of("strides", new long[] {2, 2}),
        Attribute.of("pads", new long[] {1, 0, 2, 1}), Attribute.of("group", (long) group)).output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  @Test
  void convColumnsAreIm2colColumnsWithPaddingAsZero() {
    java.util.Random rnd = new java.util.Random(4);
    int n = 3;
    float[] x = new float[n * 4 * 25];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    ArrayDataset d = new ArrayDataset(x, new long[] {4, 5, 5}, null);
    for (int group : new int[] {1, 2}) {
      int out = 4;
      int cpg = 4 / group;
      float[] w = new float[out * cpg * 9];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) rnd.nextGaussian();
      }
      // im2col by hand: column (c, kh, kw) holds x[c, 2*oh + kh - 1, 2*ow + kw - 0] over n, oh < 3, ow < 3
      // (H: (5 + 1 + 2 - 3) / 2 + 1 = 3, W: (5 + 0 + 1 - 3) / 2 + 1 = 2)
      double[] col = new double[4 * 9];
      for (int s = 0; s < n; s++) {
        for (int c = 0; c < 4; c++) {
          for (int kh = 0; kh < 3; kh++) {
            for (int kw = 0; kw < 3; kw++) {
              for (int oh = 0; oh < 3; oh++) {
                for (int ow = 0; ow < 2; ow++) {
                  int ih = 2 * oh + kh - 1;
                  int iw = 2 * ow + kw;
                  if (ih >= 0 && ih < 5 && iw >= 0 && iw < 5) {
                    double v = x[((s * 4 + c) * 5 + ih) * 5 + iw];
                    col[(c * 3 + kh) * 3 + kw] += v * v;
                  }
                }
              }
            }
          }
        }
      }
      float[] expected = w.clone();
      int row = cpg * 9;
      for (int o = 0; o < out; o++) {
        int gi = o / (out / group);
        double[] sc = new double[row];
        Integer[] order = new Integer[row];
        for (int j = 0; j < row; j++) {
          sc[j] = Math.abs(w[o * row + j]) * Math.sqrt(col[gi * row + j]);
          order[j] = j;
        }
        java.util.Arrays.sort(order, (p, q) -> Double.compare(sc[p], sc[q]));
        for (int k = 0; k < row / 2; k++) {
          expected[o * row + order[k]] = 0;
        }
      }
      Model m = conv(w, out, group);
      WandaMasking.Masked r = WandaMasking.unstructured(m, d, CPU, new DataCriteria.Options().batchSize(2), 0.5);
      assertArrayEquals(expected, r.model().graph().lookup("w").initializer().toFloatArray(), "group " + group);
      assertEquals(out * (row / 2), r.result().zeros());
      // 2:4 along the input channels at each offset: group 1 has 4 channels per group, group 2 only 2
      WandaMasking.Masked nm = WandaMasking.nm(m, d, CPU, new DataCriteria.Options(), 2, 4);
      assertEquals(group == 1 ? out * 9 * 2 : 0, nm.result().zeros(), nm.result().layers().get(0).note());
    }
  }
}
