package dev.onnxprune.criteria;

import dev.onnxprune.internal.Ort;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
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
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.testmodels.TestModels;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Taylor scores on graphs small enough to compute by hand, and on a trained fixture. */
class TaylorCriterionTest {
  private static final Sessions CPU = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  /** x[N,1,H,W] -> Conv 1x1 (one filter weight per channel, optional bias) -> the rest {@code tail} adds. */
  private interface Tail {
    Value build(Graph g, Value conv);
  }

  private static Model convThen(String name, long h, long w, float[] filters, float[] bias, Tail tail) {
    Graph g = new Graph(name);
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(h), Dim.of(w))));
    Value wv = g.addInitializer("w", Tensor.ofFloats(new long[] {filters.length, 1, 1, 1}, filters));
    List<Value> in = bias == null ? List.of(x, wv) : List.of(x, wv, g.addInitializer("b", Tensor.ofFloats(
        new long[] {bias.length}, bias)));
    Value c = g.addNode("Conv", "conv", in, List.of("c"), Attribute.of("kernel_shape", new long[] {1, 1})).output(0);
    g.addOutput(tail.build(g, c));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static Value gemm(Graph g, Value f, int k, int features, float[] weights, float[] bias) {
    Value wv = g.addInitializer("fc", Tensor.ofFloats(new long[] {k, features}, weights));
    List<Value> in = bias == null ? List.of(f, wv) : List.of(f, wv, g.addInitializer("fc_b", Tensor.ofFloats(
        new long[] {k}, bias)));
    return g.addNode("Gemm", "gemm", in, List.of("y"), Attribute.of("transB", 1L)).output(0);
  }

  private static double[] scoresOfOnlyGroup(TaylorCriterion c, Model m) {
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    byte[] before = OnnxModels.toBytes(m);
    assertEquals(1, a.prunableGroups().size());
    double[] s = c.score(a)[a.prunableGroups().get(0).id()];
    assertArrayEquals(before, OnnxModels.toBytes(m), "taylor changed the model it scored");
    assertNotNull(c.lastStats());
    return s;
  }

  private static TaylorCriterion taylor(ArrayDataset d, int batch) {
    return (TaylorCriterion) DataCriteria.taylor(d, CPU, new DataCriteria.Options().batchSize(batch));
  }

  private static double sigmoid(double z) {
    return 1 / (1 + Math.exp(-z));
  }

  // ------------------------------------------------------------------ (a) zero gradient, zero score

  /**
   * Filters 1, -1, 2, 0.5 on positive inputs -> Relu -> GlobalAveragePool -> Flatten -> Gemm
   * whose third column is 0. Channel 1 is killed by the Relu (a = 0); channel 2 does not reach
   * the loss (dL/da = 0). Both score exactly 0; the others do not.
   */
  @Test
  void channelsWithoutActivationOrGradientScoreExactlyZero() {
    Model m = convThen("relu_gap", 2, 2, new float[] {1, -1, 2, 0.5f}, null, (g, c) -> {
      Value r = g.addNode("Relu", "relu", List.of(c), List.of("r")).output(0);
      Value p = g.addNode("GlobalAveragePool", "gap", List.of(r), List.of("p")).output(0);
      Value f = g.addNode("Flatten", "flat", List.of(p), List.of("f")).output(0);
      return gemm(g, f, 2, 4, new float[] {1, 1, 0, 1, 0, 0.5f, 0, -1}, null);
    });
    Random r = new Random(3);
    float[] x = new float[32 * 4];
    for (int i = 0; i < x.length; i++) {
      x[i] = 0.1f + r.nextFloat();
    }
    long[] labels = new long[32];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = i % 2;
    }
    double[] s = scoresOfOnlyGroup(taylor(new ArrayDataset(x, new long[] {1, 2, 2}, labels), 16), m);
    assertEquals(0.0, s[1], 0.0, "Relu-killed channel");
    assertEquals(0.0, s[2], 0.0, "channel that does not reach the loss");
    assertTrue(s[0] > 1e-3 && s[3] > 1e-3, Arrays.toString(s));
  }

  // ------------------------------------------------------------------ (b) the value by hand

  /**
   * x[N,1,2,2] -> Conv 1x1 (3 channels, with bias) -> Flatten [N,12] -> Gemm [3 classes]: the mask
   * enters after the Flatten, four positions per channel (MaskInsertion gathers it there). The
   * scores equal mean_n |sum_i a[n,c,i] dL_n/da[n,c,i]| computed here in plain Java, with
   * batches of 16, 16 and 8 samples.
   */
  @Test
  void scoresEqualThePlainJavaTaylorTermThroughAFlatten() {
    float[] filt = {0.5f, -1f, 2f};
    float[] bias = {0.1f, 0f, -0.2f};
    Random r = new Random(11);
    float[] fc = new float[3 * 12];
    for (int i = 0; i < fc.length; i++) {
      fc[i] = (float) r.nextGaussian() * 0.5f;
    }
    float[] fcBias = {0.2f, -0.1f, 0f};
    Model m = convThen("flatten_linear", 2, 2, filt, bias, (g, c) -> {
      Value f = g.addNode("Flatten", "flat", List.of(c), List.of("f")).output(0);
      return gemm(g, f, 3, 12, fc, fcBias);
    });
    int n = 40;
    float[] x = new float[n * 4];
    long[] labels = new long[n];
    for (int i = 0; i < x.length; i++) {
      x[i] = 2 * r.nextFloat() - 1;
    }
    for (int i = 0; i < n; i++) {
      labels[i] = r.nextInt(3);
    }
    double[] expected = new double[3];
    double[] expectedSigned = new double[3];
    for (int s = 0; s < n; s++) {
      double[] a = new double[12];
      for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 4; i++) {
          a[c * 4 + i] = filt[c] * x[s * 4 + i] + bias[c];
        }
      }
      double[] z = new double[3];
      for (int k = 0; k < 3; k++) {
        z[k] = fcBias[k];
        for (int j = 0; j < 12; j++) {
          z[k] += fc[k * 12 + j] * a[j];
        }
      }
      double max = Math.max(z[0], Math.max(z[1], z[2]));
      double den = 0;
      for (double v : z) {
        den += Math.exp(v - max);
      }
      double[] dz = new double[3];
      for (int k = 0; k < 3; k++) {
        dz[k] = Math.exp(z[k] - max) / den - (k == labels[s] ? 1 : 0);
      }
      for (int c = 0; c < 3; c++) {
        double t = 0;
        for (int i = 0; i < 4; i++) {
          int j = c * 4 + i;
          double da = 0;
          for (int k = 0; k < 3; k++) {
            da += dz[k] * fc[k * 12 + j];
          }
          t += a[j] * da;
        }
        expected[c] += Math.abs(t) / n;
        expectedSigned[c] += t;
      }
    }
    TaylorCriterion c = taylor(new ArrayDataset(x, new long[] {1, 2, 2}, labels), 16);
    double[] s = scoresOfOnlyGroup(c, m);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    double[] signed = c.lastSignedSums()[a.prunableGroups().get(0).id()];
    for (int u = 0; u < 3; u++) {
      assertEquals(expected[u], s[u], 1e-5 * Math.abs(expected[u]), "score of channel " + u);
      assertEquals(expectedSigned[u], signed[u], 1e-5 * Math.abs(expectedSigned[u]) + 1e-7, "sum of t, channel " + u);
    }
    ScoringStats st = c.lastStats();
    assertEquals(3, st.sessionRuns());
    assertEquals(40, st.sampleForwards());
    assertEquals(3.0, st.forwardEquivalents(), 1e-9);
  }

  // ------------------------------------------------------------------ (c) per-sample absolute value

  /**
   * x[N,1,1,1] -> Conv 1x1 (filters 1 and 2) -> Flatten -> Gemm: logit 0 = f0 + f1 = 3x, logit 1
   * = 0; both samples labelled 0. Then t[n,c] = w_c x (sigmoid(3x) - 1): for x = 1, {@code -w_c
   * sigmoid(-3)}; for x = -1, {@code +w_c sigmoid(3)}. The score is the mean of the absolute
   * values, {@code w_c (sigmoid(-3) + sigmoid(3)) / 2 = w_c / 2}, not {@code |mean| = w_c
   * (sigmoid(3) - sigmoid(-3)) / 2}.
   */
  @Test
  void oppositeSignsAcrossSamplesDoNotCancel() {
    double[] s = scoresOfOnlyGroup(taylor(new ArrayDataset(new float[] {1, -1}, new long[] {1, 1, 1},
        new long[] {0, 0}), 2), signFlip());
    assertEquals(0.5, s[0], 1e-6);
    assertEquals(1.0, s[1], 1e-6);
    double absOfMean = (sigmoid(3) - sigmoid(-3)) / 2;
    assertTrue(Math.abs(s[0] - absOfMean) > 0.04, "the absolute value of the mean would be " + absOfMean);
  }

  /**
   * The same network without labels: the loss is against its own predictions, class 0 for x = 1
   * and class 1 for x = -1, so t = -w_c sigmoid(-3) on both samples.
   */
  @Test
  void withoutLabelsTheLossIsAgainstTheModelsOwnPrediction() {
    TaylorCriterion c = taylor(new ArrayDataset(new float[] {1, -1}, new long[] {1, 1, 1}, null), 2);
    double[] s = scoresOfOnlyGroup(c, signFlip());
    assertEquals(sigmoid(-3), s[0], 1e-6);
    assertEquals(2 * sigmoid(-3), s[1], 1e-6);
    assertEquals(2, c.lastStats().sessionRuns(), "a prediction run and a gradient run");
  }

  private static Model signFlip() {
    return convThen("sign_flip", 1, 1, new float[] {1, 2}, null, (g, c) -> {
      Value f = g.addNode("Flatten", "flat", List.of(c), List.of("f")).output(0);
      return gemm(g, f, 2, 2, new float[] {1, 1, 0, 0}, null);
    });
  }

  // ------------------------------------------------------------------ (d) a trained fixture

  private static ArrayDataset fmnist(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), n);
  }

  @Test
  void resnet20ScoresEveryChannelAndPrunesToAVerifiedModel() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    DataCriterion c = DataCriteria.taylor(fmnist(32), CPU, new DataCriteria.Options().batchSize(16));
    double[][] s = c.score(a);
    for (ChannelGroup g : a.groups()) {
      if (!g.prunable()) {
        assertEquals(null, s[g.id()], g.toString());
        continue;
      }
      assertEquals(g.size(), s[g.id()].length, g.toString());
      double max = 0;
      for (double v : s[g.id()]) {
        assertTrue(Double.isFinite(v) && v >= 0, g + ": " + v);
        max = Math.max(max, v);
      }
      assertTrue(max > 0, g + " scored all zero");
    }
    PruneResult r = Pruner.builder().criterion(c).target(Target.flops(0.5)).verify(true).sessions(CPU).build()
        .prune(m);
    assertEquals("taylor", r.report().criterion());
    assertTrue(r.report().achieved() >= 0.5, "achieved " + r.report().achieved());
    assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
  }

  /**
   * The sum of t over the samples is the derivative of the summed loss with respect to a mask on
   * the channel: a central difference {@code (L(1 + h) - L(1 - h)) / 2h} of the cross-entropy
   * summed over 16 samples, h = 1e-3, in float32 by ONNX Runtime, for the channel of largest
   * |sum t| in the first, a middle and the last group. Tolerance: 1.5% plus 1e-3. The loss is
   * only piecewise smooth in the mask (Relu kinks): group 0, the residual stream read by every
   * block, measured 0.8% off at h = 1e-3 (2.3% at 1e-2, 0.5% at 3e-4; per sample at h = 1e-4 each
   * sample's t agreed within 2.3% or 1e-5), group 6 0.3%, group 11 0.02%. Float32
   * rounding of the summed loss adds about 1e-5.
   */
  @Test
  void resnet20SumOfTEqualsTheFiniteDifferenceOfTheLoss() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    ArrayDataset d = fmnist(16);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    TaylorCriterion c = taylor(d, 16);
    c.score(a);
    double[][] signed = c.lastSignedSums();

    Model masked = m.copy();
    ChannelAnalysis ma = ChannelAnalysis.analyze(masked);
    MaskInsertion mi = MaskInsertion.inputs(ma);
    mi.run(masked);
    List<ChannelGroup> groups = a.prunableGroups();
    Batch b = d.batches(16).next();
    double h = 1e-3;
    try (OrtSession session = CPU.open(masked)) {
      String in = Ort.singleInput(m).name();
      for (ChannelGroup g : List.of(groups.get(0), groups.get(groups.size() / 2), groups.get(groups.size() - 1))) {
        int u = argmaxAbs(signed[g.id()]);
        double plus = summedLoss(session, mi.maskInputs(), ma, in, b, g.id(), u, 1 + h);
        double minus = summedLoss(session, mi.maskInputs(), ma, in, b, g.id(), u, 1 - h);
        double fd = (plus - minus) / (2 * h);
        assertEquals(fd, signed[g.id()][u], 0.015 * Math.abs(fd) + 1e-3, g + " channel " + u);
      }
    }
  }

  private static int argmaxAbs(double[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      if (Math.abs(v[i]) > Math.abs(v[best])) {
        best = i;
      }
    }
    return best;
  }

  /** Cross-entropy summed over the batch with every mask 1 except unit {@code u} of group {@code gid} = value. */
  private static double summedLoss(OrtSession s, Map<Integer, String> masks, ChannelAnalysis a, String in, Batch b,
      int gid, int u, double value) throws Exception {
    Map<String, Ort.Tensor> feeds = new HashMap<>();
    feeds.put(in, Ort.Tensor.of(b.inputs(), b.shape()));
    for (Map.Entry<Integer, String> e : masks.entrySet()) {
      if (!s.getInputNames().contains(e.getValue())) {
        continue;
      }
      float[] row = new float[a.groups().get(e.getKey()).size()];
      Arrays.fill(row, 1f);
      if (e.getKey() == gid) {
        row[u] = (float) value;
      }
      feeds.put(e.getValue(), Ort.Tensor.of(row, 1, row.length));
    }
    Iterator<Ort.Tensor> out = Ort.run(s, feeds, Set.of()).values().iterator();
    double sum = 0;
    for (double l : Ort.crossEntropy(out.next().data(), b.size(), b.labels())) {
      sum += l;
    }
    return sum;
  }
}
