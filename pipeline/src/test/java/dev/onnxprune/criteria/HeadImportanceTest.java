package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
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
}
