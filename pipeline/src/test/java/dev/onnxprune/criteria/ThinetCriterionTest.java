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
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** ThiNet's scores on a graph small enough to compute in plain Java, by hand, and on trained fixtures. */
class ThinetCriterionTest {
  private static final Sessions CPU = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  /**
   * Removal errors by hand: M has channels 0 and 1 anti-correlated (-0.9), channel 2 alone (3).
   * Greedy: channel 0 first (error 1, tied with 1, the first wins), then channel 1 (error 1 - 1.8 +
   * 1 = 0.2 against 4 for channel 2); channel 2 stays. Removing all costs 1 + 1 + 3 - 1.8 = 3.2.
   * Channel 1's error fell below channel 0's: its score is kept just above, in the order of removal.
   */
  @Test
  void greedySelectionByHand() {
    double[][] m = {{1, -0.9, 0}, {-0.9, 1, 0}, {0, 0, 3}};
    double[] s = ThinetCriterion.greedy(m, 3.2);
    assertEquals(1 / 3.2, s[0], 1e-15);
    assertEquals(Math.nextUp(s[0]), s[1]);
    assertEquals(1 + 1 / 3.2, s[2], 1e-15);

    // independent channels go smallest contribution first
    double[] d = ThinetCriterion.greedy(new double[][] {{5, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 3, 0}, {0, 0, 0, 2}}, 11);
    assertArrayEquals(new double[] {1 + 6.0 / 11, 1.0 / 11, 6.0 / 11, 3.0 / 11}, d, 1e-15);
  }

  /**
   * x[N,2,5,5] -> Conv A (3 filters 3x3, pad 1, bias) -> Relu -> Conv B (2 filters 3x3, pad 1,
   * stride 2): the group is A's 3 channels, read by B. Plain Java computes each channel's
   * contribution {@code x_c[n,o,h,w] = sum_ij B[o,c,i,j] a[n,c,2h+i-1,2w+j-1]} to B's output, the
   * matrix {@code M = sum x_c x_c'} over 12 samples and the greedy order; the criterion (batches of
   * 5, 5 and 2 in ONNX Runtime) gives the same scores.
   */
  @Test
  void scoresEqualThePlainJavaReconstructionErrors() {
    Random r = new Random(11);
    float[] wa = gauss(r, 3 * 2 * 9);
    float[] ba = gauss(r, 3);
    float[] wb = gauss(r, 2 * 3 * 9);
    wb[0] *= 4; // channel 0 contributes most to output 0
    Graph g = new Graph("thinet");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(2),
        Dim.of(5), Dim.of(5))));
    Value a = g.addNode("Conv", "a", List.of(x, g.addInitializer("wa", Tensor.ofFloats(new long[] {3, 2, 3, 3}, wa)),
        g.addInitializer("ba", Tensor.ofFloats(new long[] {3}, ba))), List.of("ya"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value relu = g.addNode("Relu", "relu", List.of(a), List.of("r")).output(0);
    Value y = g.addNode("Conv", "b", List.of(relu, g.addInitializer("wb", Tensor.ofFloats(new long[] {2, 3, 3, 3},
        wb))), List.of("y"), Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads",
        new long[] {1, 1, 1, 1}), Attribute.of("strides", new long[] {2, 2})).output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));

    int n = 12;
    float[] xs = gauss(r, n * 2 * 25);
    double[][] want = new double[3][3];
    for (int s = 0; s < n; s++) {
      double[][][] act = new double[3][5][5];
      for (int c = 0; c < 3; c++) {
        for (int h = 0; h < 5; h++) {
          for (int w = 0; w < 5; w++) {
            double v = ba[c];
            for (int k = 0; k < 2; k++) {
              for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                  int hh = h + i - 1;
                  int ww = w + j - 1;
                  if (hh >= 0 && hh < 5 && ww >= 0 && ww < 5) {
                    v += wa[((c * 2 + k) * 3 + i) * 3 + j] * xs[((s * 2 + k) * 5 + hh) * 5 + ww];
                  }
                }
              }
            }
            act[c][h][w] = Math.max(0, v);
          }
        }
      }
      for (int o = 0; o < 2; o++) {
        for (int h = 0; h < 3; h++) {
          for (int w = 0; w < 3; w++) {
            double[] contrib = new double[3];
            for (int c = 0; c < 3; c++) {
              for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                  int hh = 2 * h + i - 1;
                  int ww = 2 * w + j - 1;
                  if (hh >= 0 && hh < 5 && ww >= 0 && ww < 5) {
                    contrib[c] += wb[((o * 3 + c) * 3 + i) * 3 + j] * act[c][hh][ww];
                  }
                }
              }
            }
            for (int c = 0; c < 3; c++) {
              for (int d = 0; d < 3; d++) {
                want[c][d] += contrib[c] * contrib[d];
              }
            }
          }
        }
      }
    }
    double total = 0;
    for (double[] row : want) {
      for (double v : row) {
        total += v;
      }
    }
    double[] expected = ThinetCriterion.greedy(want, total);

    ChannelAnalysis an = ChannelAnalysis.analyze(m);
    assertEquals(1, an.prunableGroups().size());
    byte[] before = OnnxModels.toBytes(m);
    DataCriterion c = DataCriteria.thinet(new ArrayDataset(xs, new long[] {2, 5, 5}, null), CPU,
        new DataCriteria.Options().batchSize(5));
    double[] got = c.score(an)[an.prunableGroups().get(0).id()];
    assertArrayEquals(before, OnnxModels.toBytes(m), "thinet changed the model it scored");
    for (int i = 0; i < 3; i++) {
      assertEquals(expected[i], got[i], 1e-4 * Math.abs(expected[i]), Arrays.toString(expected) + " "
          + Arrays.toString(got));
    }
    assertEquals(3, c.lastStats().sessionRuns());
    assertEquals(12, c.lastStats().sampleForwards());
  }

  private static float[] gauss(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  private static ArrayDataset fmnist(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), n);
  }

  private static ArrayDataset fmnistTest() throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), 0);
  }

  /**
   * ResNet-20 and VGG: every prunable group is scored (the ones a plain Conv reads by
   * reconstruction, scores rising in the order of removal), and a uniform prune to half the FLOPs
   * gives a verified model; measured here with uniform allocation, top-1 on the bundled test
   * images right after pruning (no recovery) against L1's.
   */
  @Test
  void fixturesPruneToVerifiedModels() throws Exception {
    ArrayDataset calib = fmnist(64);
    ArrayDataset test = fmnistTest();
    for (String name : List.of("resnet20.onnx", "vgg_bn.onnx")) {
      Model m = OnnxModels.read(TestModels.model(name));
      ChannelAnalysis a = ChannelAnalysis.analyze(m);
      DataCriterion c = DataCriteria.thinet(calib, CPU, new DataCriteria.Options().batchSize(32));
      double[][] s = c.score(a);
      for (ChannelGroup g : a.prunableGroups()) {
        assertEquals(g.size(), s[g.id()].length, g.toString());
        for (double v : s[g.id()]) {
          assertTrue(Double.isFinite(v) && v >= 0, g + ": " + v);
        }
      }
      PruneResult r = Pruner.builder().criterion(c).target(Target.flops(0.5)).roundTo(1).verify(true).sessions(CPU)
          .build()
          .prune(m);
      assertEquals("thinet", r.report().criterion());
      assertTrue(r.report().achieved() >= 0.5, "achieved " + r.report().achieved());
      assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
      PruneResult l1 = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).roundTo(1).sessions(CPU)
          .build()
          .prune(OnnxModels.read(TestModels.model(name)));
      double top1 = top1(r.model(), test);
      double l1Top1 = top1(l1.model(), test);
      System.out.printf("%s at half the FLOPs, no recovery: thinet top-1 %.4f, l1 %.4f%n", name, top1, l1Top1);
      assertTrue(top1 > 0.1, name + " top-1 " + top1);
    }
  }

  private static double top1(Model m, ArrayDataset test) throws Exception {
    try (Runner runner = Runner.open(CPU, m)) {
      Evaluation e = new Evaluator(runner).evaluate(test, 100);
      return e.top1();
    }
  }
}
