package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.testmodels.TestModels;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BnRecalibrationTest {
  static final int N = 40;
  static final int C = 2;
  static final int S = 5;

  /**
   * x [N,2,5,5] -> Conv 3x3 (2->3, pad 1) -> BN1 -> Relu -> Conv 1x1 (3->2) -> BN2 ->
   * GlobalAveragePool -> Flatten; stale running statistics.
   */
  static Model tiny() {
    OpModel m = new OpModel(DataType.FLOAT);
    Random r = new Random(5);
    Value x = m.g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("batch"), Dim.of(C),
        Dim.of(S), Dim.of(S))));
    Value w1 = m.g.addInitializer("w1", Tensor.ofFloats(new long[] {3, C, 3, 3}, gauss(r, 3 * C * 9, 0.4)));
    Value c1 = m.op("Conv", List.of(x, w1), Attribute.of("pads", new long[] {1, 1, 1, 1}));
    Value b1 = bn(m, c1, "bn1", 3, r);
    Value a1 = m.op("Relu", List.of(b1));
    Value w2 = m.g.addInitializer("w2", Tensor.ofFloats(new long[] {2, 3, 1, 1}, gauss(r, 6, 0.8)));
    Value c2 = m.op("Conv", List.of(a1, w2));
    Value b2 = bn(m, c2, "bn2", 2, r);
    Value p = m.op("GlobalAveragePool", List.of(b2));
    m.output(m.op("Flatten", List.of(p)));
    return m.model;
  }

  private static Value bn(OpModel m, Value in, String name, int c, Random r) {
    Value g = m.g.addInitializer(name + ".weight", Tensor.ofFloats(new long[] {c}, plus(gauss(r, c, 0.2), 1)));
    Value b = m.g.addInitializer(name + ".bias", Tensor.ofFloats(new long[] {c}, gauss(r, c, 0.2)));
    Value mu = m.g.addInitializer(name + ".running_mean", Tensor.ofFloats(new long[] {c}, gauss(r, c, 3)));
    Value var = m.g.addInitializer(name + ".running_var", Tensor.ofFloats(new long[] {c}, plus(new float[c], 7)));
    Node n = m.g.addNode("BatchNormalization", name, List.of(in, g, b, mu, var), List.of(name + ".out"));
    n.setAttribute(Attribute.of("epsilon", 1e-5f));
    return n.output(0);
  }

  @Test
  void runningStatisticsBecomeTheMeanOfTheBatchStatisticsAndWeightsStay() throws Exception {
    Model m = tiny();
    Random r = new Random(9);
    float[] data = gauss(r, N * C * S * S, 1);
    for (int i = 0; i < data.length; i++) {
      data[i] += 0.5f; // shifted, as pruned layers' inputs are
    }
    ArrayDataset d = new ArrayDataset(data, new long[] {C, S, S}, null);
    BnRecalibration.Result res = BnRecalibration.run(m, d, 16, 0, Ort.SESSIONS); // batches of 16, 16, 8
    assertEquals(2, res.batchNorms());
    assertEquals(3, res.batches());
    assertEquals(N, res.samples());
    Model out = res.model();
    GraphVerifier.verify(out);

    // direct computation: per batch, BN1 statistics of conv1's output, then BN2's of conv2 after BN1 on batch stats
    double[][] expect = new double[4][];
    int k = 0;
    Iterator<Batch> it = d.batches(16);
    while (it.hasNext()) {
      Batch b = it.next();
      int n = b.size();
      double[] c1 = conv(b.inputs(), n, C, 3, floats(m, "w1"), 3, 1);
      double[][] s1 = stats(c1, n, 3);
      double[] a1 = normRelu(c1, n, 3, s1, floats(m, "bn1.weight"), floats(m, "bn1.bias"));
      double[] c2 = conv(toFloat(a1), n, 3, 2, floats(m, "w2"), 1, 0);
      double[][] s2 = stats(c2, n, 2);
      double[][] all = {s1[0], s1[2], s2[0], s2[2]};
      for (int j = 0; j < 4; j++) {
        if (expect[j] == null) {
          expect[j] = new double[all[j].length];
        }
        for (int c = 0; c < all[j].length; c++) {
          expect[j][c] += (all[j][c] - expect[j][c]) / (k + 1);
        }
      }
      k++;
    }
    String[] names = {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"};
    for (int j = 0; j < 4; j++) {
      float[] got = floats(out, names[j]);
      for (int c = 0; c < got.length; c++) {
        assertEquals(expect[j][c], got[c], 1e-4 * Math.max(1, Math.abs(expect[j][c])), names[j] + "[" + c + "]");
      }
      assertFalse(java.util.Arrays.equals(floats(m, names[j]), got), names[j] + " moved");
    }
    for (String w : new String[] {"w1", "w2", "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias"}) {
      assertArrayEquals(floats(m, w), floats(out, w), w);
    }
    // the input model is not changed
    assertEquals(7f, floats(m, "bn1.running_var")[0]);
  }

  @Test
  void maxBatchesLimitsTheData() throws Exception {
    Model m = tiny();
    float[] data = gauss(new Random(1), N * C * S * S, 1);
    BnRecalibration.Result res = BnRecalibration.run(m, new ArrayDataset(data, new long[] {C, S, S}, null), 8, 2,
        Ort.SESSIONS);
    assertEquals(2, res.batches());
    assertEquals(16, res.samples());
    assertThrows(IllegalArgumentException.class, () -> BnRecalibration.run(m, new ArrayDataset(data,
        new long[] {C, S, S}, null), 1, 0, Ort.SESSIONS));
  }

  /** Issue 16, point 3: data with an infinite value gave NaN running statistics, written as they were. */
  @Test
  void nonFiniteBatchStatisticsAreRefusedNamingTheNodeAndBatch() {
    Model m = tiny();
    float[] data = gauss(new Random(1), N * C * S * S, 1);
    data[16 * C * S * S + 3] = Float.POSITIVE_INFINITY; // in the second batch of 16
    DataMismatchException e = assertThrows(DataMismatchException.class, () -> BnRecalibration.run(m,
        new ArrayDataset(data, new long[] {C, S, S}, null), 16, 0, Ort.SESSIONS));
    assertTrue(e.getMessage().startsWith("BatchNormalization 'bn1' (BatchNormalization): the batch mean of channel "),
        e.getMessage());
    assertTrue(e.getMessage().contains(" in batch 2 of the calibration data"), e.getMessage());
  }

  @Test
  void resnet20KeepsItsAccuracyAndWeightsAndUnsharesStatistics() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    ArrayDataset calib = TrainerTest.calibration(256);
    BnRecalibration.Result res = BnRecalibration.run(m, calib, 64, 0, Ort.SESSIONS);
    assertEquals(21, res.batchNorms());
    assertEquals(4, res.batches());
    Model out = res.model();
    GraphVerifier.verify(out);
    int moved = 0;
    for (Node n : out.graph().nodes()) {
      if (n.is("BatchNormalization")) {
        Node before = m.graph().nodes().stream().filter(o -> n.name().equals(o.name())).findFirst().orElseThrow();
        assertNotNull(n.input(3).initializer(), n.describe());
        assertArrayEquals(Parameters.source(before.input(1)).toFloatArray(), Parameters.source(n.input(1))
            .toFloatArray(), n.describe());
        boolean same = java.util.Arrays.equals(Parameters.source(before.input(3)).toFloatArray(),
            n.input(3).initializer().toFloatArray());
        moved += same ? 0 : 1;
      }
      if (n.is("Conv")) {
        assertArrayEquals(floats(m, n.input(1).name()), floats(out, n.input(1).name()), n.describe());
      }
    }
    assertEquals(21, moved, "statistics replaced");
    // statistics of training data in a trained model: accuracy stays where it was
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), Fixtures.NORM, 500);
    double before = accuracy(m, test);
    double after = accuracy(out, test);
    assertTrue(after > before - 0.02, before + " -> " + after);
  }

  static double accuracy(Model m, ArrayDataset d) throws Exception {
    try (Runner r = Runner.open(Ort.SESSIONS, m)) {
      Evaluation e = new Evaluator(r).evaluate(d, 250);
      return e.top1();
    }
  }

  // ------------------------------------------------------------------ direct computation

  /** Conv (no bias, stride 1, symmetric pad) of x [n, cin, S, S] by w [cout, cin, k, k]. */
  static double[] conv(float[] x, int n, int cin, int cout, float[] w, int k, int pad) {
    double[] y = new double[n * cout * S * S];
    for (int b = 0; b < n; b++) {
      for (int o = 0; o < cout; o++) {
        for (int i = 0; i < S; i++) {
          for (int j = 0; j < S; j++) {
            double s = 0;
            for (int c = 0; c < cin; c++) {
              for (int u = 0; u < k; u++) {
                for (int v = 0; v < k; v++) {
                  int ii = i + u - pad;
                  int jj = j + v - pad;
                  if (ii >= 0 && ii < S && jj >= 0 && jj < S) {
                    s += w[((o * cin + c) * k + u) * k + v] * x[((b * cin + c) * S + ii) * S + jj];
                  }
                }
              }
            }
            y[((b * cout + o) * S + i) * S + j] = s;
          }
        }
      }
    }
    return y;
  }

  /** Per channel: {mean, biased variance, unbiased variance}. */
  static double[][] stats(double[] y, int n, int c) {
    double[][] out = new double[3][c];
    int m = n * S * S;
    for (int ch = 0; ch < c; ch++) {
      double s = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < S * S; i++) {
          s += y[(b * c + ch) * S * S + i];
        }
      }
      double mean = s / m;
      double q = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < S * S; i++) {
          double d = y[(b * c + ch) * S * S + i] - mean;
          q += d * d;
        }
      }
      out[0][ch] = mean;
      out[1][ch] = q / m;
      out[2][ch] = q / (m - 1);
    }
    return out;
  }

  static double[] normRelu(double[] y, int n, int c, double[][] st, float[] g, float[] b) {
    double[] out = new double[y.length];
    for (int bb = 0; bb < n; bb++) {
      for (int ch = 0; ch < c; ch++) {
        for (int i = 0; i < S * S; i++) {
          int at = (bb * c + ch) * S * S + i;
          double v = (y[at] - st[0][ch]) / Math.sqrt(st[1][ch] + 1e-5) * g[ch] + b[ch];
          out[at] = Math.max(0, v);
        }
      }
    }
    return out;
  }

  static float[] toFloat(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  static float[] gauss(Random r, int n, double std) {
    float[] f = new float[n];
    for (int i = 0; i < n; i++) {
      f[i] = (float) (r.nextGaussian() * std);
    }
    return f;
  }

  static float[] plus(float[] f, float d) {
    for (int i = 0; i < f.length; i++) {
      f[i] += d;
    }
    return f;
  }

  static float[] floats(Model m, String name) {
    return m.graph().lookup(name).initializer().toFloatArray();
  }
}
