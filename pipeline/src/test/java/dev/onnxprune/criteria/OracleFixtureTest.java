package dev.onnxprune.criteria;

import dev.onnxprune.internal.Ort;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PrunePlan;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Oracle scores on a real residual fixture equal the loss increase of constant-masked copies. */
class OracleFixtureTest {
  private static final Sessions CPU = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  @Test
  void oracleScoreIsTheLossIncreaseOfTheMaskedModel() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    ArrayDataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), 24);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    // one-shot (rescore 0): every channel scored on the whole model, as eq. 5 defines it
    DataCriterion oracle = DataCriteria.oracle(calib, CPU, new DataCriteria.Options().batchSize(8).runSamples(32)
        .rescore(0, 0.1));
    double[][] s = oracle.score(a);
    double base = loss(OnnxModels.toBytes(m), calib);
    List<ChannelGroup> groups = a.prunableGroups();
    for (ChannelGroup g : List.of(groups.get(0), groups.get(5), groups.get(groups.size() - 1))) {
      for (int u : new int[] {0, g.size() - 1}) {
        Model c = OnnxModels.read(OnnxModels.toBytes(m), null);
        ChannelAnalysis ca = ChannelAnalysis.analyze(c);
        new MaskInsertion(PrunePlan.builder(ca).remove(ca.groups().get(g.id()), u).build()).run(ca.model());
        double expected = loss(OnnxModels.toBytes(c), calib) - base;
        assertEquals(expected, s[g.id()][u], 1e-4 + 1e-3 * Math.abs(expected), g + " channel " + u);
      }
    }
    ScoringStats st = oracle.lastStats();
    assertTrue(st.forwardEquivalents() > 0.2 * st.ablations() && st.forwardEquivalents() < st.ablations() + 30,
        st.toString());
  }

  private static double loss(byte[] model, ArrayDataset data) throws Exception {
    double sum = 0;
    try (OrtSession s = CPU.open(model)) {
      String in = s.getInputNames().iterator().next();
      for (var it = data.batches(8); it.hasNext(); ) {
        Batch b = it.next();
        float[] y = Ort.run(s, Map.of(in, Ort.Tensor.of(b.inputs(), b.shape())), Set.of()).values().iterator().next()
            .data();
        for (double l : Ort.crossEntropy(y, b.size(), b.labels())) {
          sum += l;
        }
      }
    }
    return sum / data.size();
  }
}
