package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.testmodels.TestModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Head importance (Michel et al. 2019) on the trained vit_tiny, whose PyTorch attention merges the
 * samples with the heads before the out-projection, against the paper's definition computed
 * without gradients: a mask xi_h on each head's output, {@code dL/dxi_h} by central differences
 * of the loss of each sample alone, {@code I_h = mean |.|}, divided by the L2 norm of its layer.
 */
class HeadImportanceTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);
  private static final int SAMPLES = 8;

  @Test
  void headImportanceIsTheMeanAbsoluteHeadMaskGradientNormalisedPerLayer() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vit_tiny.onnx"));
    ArrayDataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"),
        new Normalization(new float[] {0.2860f}, new float[] {0.3530f}), SAMPLES);
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    List<ChannelGroup> heads = a.prunableGroups().stream().filter(g -> g.kind() == ChannelGroup.Kind.HEADS).toList();
    assertEquals(3, heads.size());
    DataCriterion c = DataCriteria.headImportance(calib, CPU, new DataCriteria.Options().batchSize(SAMPLES));
    double[][] s = c.score(a);
    for (ChannelGroup g : a.prunableGroups()) {
      assertNotNull(s[g.id()], "every group is scored, heads too: " + g.kind());
    }

    // the reference: one [1, 4] mask per attention, each sample alone
    Model masked = model.copy();
    InputBinding binding = InputBinding.of(masked);
    String logits = masked.graph().outputs().get(0).name();
    ChannelAnalysis ma = ChannelAnalysis.analyze(masked);
    MaskInsertion mi = MaskInsertion.inputs(ma, heads.stream().map(g -> ma.groups().get(g.id())).toList()).rows(1);
    PassManager.run(masked, mi);
    Batch b = calib.batches(SAMPLES).next();
    double h = 1e-2;
    try (OrtSession session = CPU.open(masked)) {
      for (ChannelGroup g : heads) {
        double[] ref = new double[g.size()];
        for (int n = 0; n < SAMPLES; n++) {
          Map<String, HostTensor> x = new HashMap<>();
          for (Map.Entry<String, HostTensor> e : binding.feeds(b).entrySet()) {
            x.put(e.getKey(), e.getValue().rows(n, n + 1));
          }
          for (int u = 0; u < g.size(); u++) {
            double[] loss = new double[2];
            for (int k = 0; k < 2; k++) {
              Map<String, Ort.Tensor> masks = new HashMap<>();
              for (Map.Entry<Integer, String> e : mi.maskInputs().entrySet()) {
                float[] ones = new float[ma.groups().get(e.getKey()).size()];
                java.util.Arrays.fill(ones, 1f);
                if (e.getKey() == g.id()) {
                  ones[u] = (float) (k == 0 ? 1 + h : 1 - h);
                }
                masks.put(e.getValue(), Ort.Tensor.of(ones, 1, ones.length));
              }
              float[] y = Ort.run(session, masks, x, Set.of(logits)).get(logits).data();
              loss[k] = Ort.crossEntropy(y, 1, new long[] {b.labels()[n]})[0];
            }
            ref[u] += Math.abs((loss[0] - loss[1]) / (2 * h)) / SAMPLES;
          }
        }
        double norm = Math.sqrt(java.util.Arrays.stream(ref).map(v -> v * v).sum());
        double sq = 0;
        for (int u = 0; u < g.size(); u++) {
          double want = ref[u] / norm;
          double got = s[g.id()][u];
          sq += got * got;
          assertEquals(want, got, 2e-3, "group " + g.id() + " head " + u + ": " + java.util.Arrays.toString(s[g.id()]));
        }
        assertEquals(1, sq, 1e-9, "unit L2 norm per layer");
      }
    }
    assertTrue(c.lastStats().sampleForwards() >= SAMPLES, c.lastStats().toString());
  }

  @Test
  void oracleScoresAHeadByTheLossIncreaseWhenItIsRemoved() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vit_tiny.onnx"));
    ArrayDataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"),
        new Normalization(new float[] {0.2860f}, new float[] {0.3530f}), 16);
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    ChannelGroup g = a.prunableGroups().stream().filter(x -> x.kind() == ChannelGroup.Kind.HEADS).findFirst()
        .orElseThrow();
    double[] s = DataCriteria.oracle(calib, CPU, new DataCriteria.Options().batchSize(8)).score(a)[g.id()];
    assertNotNull(s, "heads are scored though their samples are merged");
    Batch b = calib.batches(16).next();
    double base = meanLoss(model, b);
    for (int u = 0; u < g.size(); u++) {
      Model copy = model.copy();
      ChannelAnalysis ca = ChannelAnalysis.analyze(copy);
      dev.onnxprune.surgery.PrunePlan plan = dev.onnxprune.surgery.PrunePlan.builder(ca).remove(ca.groups().get(g.id()),
          u).build();
      new MaskInsertion(plan).run(copy);
      double want = meanLoss(copy, b) - base;
      assertEquals(want, s[u], 1e-4, "head " + u + ": " + java.util.Arrays.toString(s));
    }
  }

  private static double meanLoss(Model m, Batch b) throws Exception {
    try (OrtSession session = CPU.open(m)) {
      String logits = m.graph().outputs().get(0).name();
      float[] y = Ort.run(session, Map.of(), InputBinding.of(m).feeds(b), Set.of(logits)).get(logits).data();
      double sum = 0;
      for (double l : Ort.crossEntropy(y, b.size(), b.labels())) {
        sum += l;
      }
      return sum / b.size();
    }
  }

  /**
   * A hand-computable attention: one token, so each query attends to its own key with weight 1 and
   * head h outputs {@code v_h = x Wv_h}; logits {@code y = sum_h xi_h v_h Wo_h}; with {@code p =
   * softmax(y)}, {@code dL/dxi_h = (p - onehot(label)) . (v_h Wo_h)} per sample.
   */
  @Test
  void headImportanceOfAOneTokenAttentionByHand() {
    int d = 4;
    int classes = 3;
    float[] wq = {0.3f, -0.2f, 0.5f, 0.1f, 0.2f, 0.4f, -0.3f, 0.6f, -0.1f, 0.2f, 0.3f, -0.5f, 0.4f, 0.1f, 0.2f, 0.3f};
    float[] wv = {1, 0.5f, -0.3f, 0.2f, -0.4f, 1, 0.6f, -0.2f, 0.3f, -0.6f, 1, 0.5f, 0.2f, 0.1f, -0.7f, 1};
    float[] wo = {0.5f, -1, 0.3f, 1, 0.2f, -0.4f, -0.6f, 0.7f, 0.1f, 0.3f, 0.4f, -0.8f};
    dev.onnxprune.graph.Graph g = new dev.onnxprune.graph.Graph("attention");
    Value x = g.addInput("x", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.FLOAT,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(1),
            dev.onnxprune.graph.Dim.of(d))));
    java.util.function.BiFunction<String, float[], Value> heads = (name, w) -> {
      Value p = g.addNode("MatMul", name, List.of(x, g.addInitializer(name + ".w", dev.onnxprune.graph.Tensor.ofFloats(
          new long[] {d, d}, w))), List.of(name + "_out")).output(0);
      Value r = g.addNode("Reshape", name + "_split", List.of(p, g.addInitializer(name + ".shape",
          dev.onnxprune.graph.Tensor.vector(0, 1, 2, 2))), List.of(name + "_heads")).output(0);
      return g.addNode("Transpose", name + "_t", List.of(r), List.of(name + "_t_out"),
          dev.onnxprune.graph.Attribute.of("perm", new long[] {0, 2, 1, 3})).output(0);
    };
    Value q = heads.apply("q", wq);
    Value k = heads.apply("k", wq);
    Value v = heads.apply("v", wv);
    Value kt = g.addNode("Transpose", "kt", List.of(k), List.of("kt_out"),
        dev.onnxprune.graph.Attribute.of("perm", new long[] {0, 1, 3, 2})).output(0);
    Value sc = g.addNode("MatMul", "scores", List.of(q, kt), List.of("scores_out")).output(0);
    Value pr = g.addNode("Softmax", "softmax", List.of(sc), List.of("probs"),
        dev.onnxprune.graph.Attribute.of("axis", -1L)).output(0);
    Value o = g.addNode("MatMul", "attend", List.of(pr, v), List.of("attended")).output(0);
    Value ot = g.addNode("Transpose", "merge_t", List.of(o), List.of("merged_t"),
        dev.onnxprune.graph.Attribute.of("perm", new long[] {0, 2, 1, 3})).output(0);
    Value merged = g.addNode("Reshape", "merge", List.of(ot, g.addInitializer("merge.shape",
        dev.onnxprune.graph.Tensor.vector(0, 1, d))), List.of("merged")).output(0);
    Value y = g.addNode("MatMul", "out", List.of(merged, g.addInitializer("out.w", dev.onnxprune.graph.Tensor.ofFloats(
        new long[] {d, classes}, wo))), List.of("y3")).output(0);
    g.addOutput(g.addNode("Reshape", "logits", List.of(y, g.addInitializer("logits.shape",
        dev.onnxprune.graph.Tensor.vector(0, classes))), List.of("logits")).output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new dev.onnxprune.graph.OpsetId("", 13));

    float[] data = {1, -0.5f, 0.3f, 2, -1, 0.4f, 1.5f, -0.2f, 0.2f, 0.9f, -1.2f, 0.6f};
    long[] labels = {0, 2, 1};
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    ChannelGroup hg = a.prunableGroups().stream().filter(c -> c.kind() == ChannelGroup.Kind.HEADS).findFirst()
        .orElseThrow(() -> new AssertionError("heads found: " + a.groups()));
    assertEquals(2, hg.size());
    double[] got = DataCriteria.headImportance(new ArrayDataset(data, new long[] {1, d}, labels), CPU,
        new DataCriteria.Options().batchSize(3)).score(a)[hg.id()];

    double[] want = new double[2];
    for (int n = 0; n < 3; n++) {
      double[][] contrib = new double[2][classes]; // v_h Wo_h
      for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 2; j++) {
          double vh = 0;
          for (int i = 0; i < d; i++) {
            vh += data[n * d + i] * wv[i * d + h * 2 + j];
          }
          for (int c = 0; c < classes; c++) {
            contrib[h][c] += vh * wo[(h * 2 + j) * classes + c];
          }
        }
      }
      double[] logits = new double[classes];
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < classes; c++) {
        logits[c] = contrib[0][c] + contrib[1][c];
        max = Math.max(max, logits[c]);
      }
      double z = 0;
      for (int c = 0; c < classes; c++) {
        z += Math.exp(logits[c] - max);
      }
      for (int h = 0; h < 2; h++) {
        double dxi = 0;
        for (int c = 0; c < classes; c++) {
          double p = Math.exp(logits[c] - max) / z;
          dxi += (p - (c == labels[n] ? 1 : 0)) * contrib[h][c];
        }
        want[h] += Math.abs(dxi) / 3;
      }
    }
    double norm = Math.hypot(want[0], want[1]);
    assertEquals(want[0] / norm, got[0], 1e-5, java.util.Arrays.toString(got));
    assertEquals(want[1] / norm, got[1], 1e-5, java.util.Arrays.toString(got));
  }
}
