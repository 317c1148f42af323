package dev.onnxprune.prune;

import dev.onnxprune.criteria.Criteria;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The latency fit on a synthetic timer whose cost is linear in each group's width. */
public class LatencyModelTest {
  /** 2 ms plus (group id + 1) * 10 us per channel of every prunable group, read from the model itself. */
  public static final LatencyModel.Timer LINEAR = m -> {
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    double t = 2e-3;
    for (ChannelGroup g : a.prunableGroups()) {
      t += (g.id() + 1) * 1e-5 * g.size();
    }
    return t;
  };

  @Test
  void fitRecoversAKnownLinearCostPerChannel() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    LatencyModel lm = LatencyModel.measure(a, LINEAR);
    assertEquals(LINEAR.seconds(m), lm.baselineSeconds(), 1e-12);
    for (ChannelGroup g : a.prunableGroups()) {
      assertEquals((g.id() + 1) * 1e-5, lm.perChannelSeconds(g.id()), 1e-12, g.toString());
      assertEquals(4, lm.fits().get(g.id()).widths().length, "C, 3C/4, C/2, C/4");
    }
    ChannelGroup g0 = a.prunableGroups().get(0);
    double expected = 3 * (g0.id() + 1) * 1e-5 / lm.baselineSeconds();
    assertEquals(expected, lm.reduction(Map.of(g0.id(), new int[] {0, 1, 2})), 1e-12);
  }

  @Test
  void noisySlopeBelowZeroIsClampedAndTheLineIsLeastSquares() {
    LatencyModel.Fit f = LatencyModel.fit(0, new int[] {4, 3, 2, 1}, new double[] {1.0, 1.1, 1.0, 1.1});
    assertEquals(0, f.perChannel(), 0);
    LatencyModel.Fit g = LatencyModel.fit(0, new int[] {1, 2, 3}, new double[] {2, 4, 6.3});
    assertEquals(2.15, g.perChannel(), 1e-12);
  }

  @Test
  void latencyTargetIsMetByThePrediction() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.latency(0.2)).latencyTimer(LINEAR)
        .build().prune(m);
    assertTrue(r.report().achieved() >= 0.2, "achieved " + r.report().achieved());
    assertTrue(r.report().achieved() < 0.25, "overshoot " + r.report().achieved());
    Model g = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    PruneResult global = Pruner.builder().criterion(Criteria.l1()).target(Target.latency(0.2)).global(true)
        .latencyTimer(LINEAR).build().prune(g);
    assertTrue(global.report().achieved() >= 0.2, "global achieved " + global.report().achieved());
  }
}
