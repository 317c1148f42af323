package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Criteria on the LSTM classifier fixture's hidden units (lstm_tiny: one LSTM, hidden 32). */
class RecurrentCriteriaTest {
  private static final String LSTM = "lstm_tiny.onnx";

  private static ChannelGroup hidden(ChannelAnalysis a) {
    return a.prunableGroups().stream().filter(g -> g.producers().equals(List.of("/lstm/LSTM"))).findFirst()
        .orElseThrow(() -> new AssertionError(a.groups().toString()));
  }

  @Test
  void l1OfAHiddenUnitIsTheMeanOfItsGateRowsL1InWAndR() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    ChannelGroup g = hidden(a);
    double[] s = Criteria.l1().score(a)[g.id()];
    Node lstm = model.graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
    float[] w = lstm.input(1).initializer().toFloatArray(); // [1, 128, 32]
    float[] r = lstm.input(2).initializer().toFloatArray(); // [1, 128, 32]
    for (int j = 0; j < 32; j++) {
      double sw = 0;
      double sr = 0;
      for (int gate = 0; gate < 4; gate++) { // i, o, f, c blocks of 32 rows
        for (int k = 0; k < 32; k++) {
          sw += Math.abs(w[(gate * 32 + j) * 32 + k]);
          sr += Math.abs(r[(gate * 32 + j) * 32 + k]);
        }
      }
      assertEquals((sw + sr) / 2, s[j], 1e-4 * (sw + sr), "unit " + j);
    }
  }

  /** Taylor needs the gradient, and LSTM has no gradient rule: it refuses and names the op. */
  @Test
  void taylorRefusesAndNamesTheLstm() throws Exception {
    Dataset calib = Datasets.open(TestModels.file("lstm_tiny-calib.npz"), null,
        DatasetOptions.defaults().withLimit(64));
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model(LSTM)));
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> DataCriteria.byName("taylor", calib, new Sessions(Device.CPU, 0, 1), new DataCriteria.Options())
            .score(a));
    assertTrue(e.getMessage().contains("no gradient rule for LSTM"), e.getMessage());
  }

  @Test
  void l1AndRandomPrunesAtRatio03Verify() throws Exception {
    for (Criterion c : List.of(Criteria.l1(), Criteria.byName("random", 7))) {
      PruneResult r = Pruner.builder().criterion(c).target(Target.ratio(0.3)).verify(true).build()
          .prune(OnnxModels.read(TestModels.model(LSTM)));
      System.out.println(c.name() + ", ratio 0.3 on " + LSTM + ": " + r.report().verify() + "; "
          + r.plan().removedCount() + " units removed");
      assertTrue(r.report().verify().passed(), r.report().verify().toString());
      Node lstm = r.model().graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
      // the default rounding keeps widths in multiples of 16: 30% of 32 units -> 16 kept
      assertEquals(16, lstm.attrLong("hidden_size", -1), c.name());
    }
  }

  /** The README's lstm_tiny row: L1 at ratio 0.3 with exact widths, costs at the calibration length 12. */
  @Test
  void l1AtRatio03WithExactWidthsCostsAtLength12() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    dev.onnxprune.graph.cost.CostReport before = dev.onnxprune.graph.cost.CostModel.analyze(model, 12);
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.3))
        .rounding(dev.onnxprune.prune.Rounding.to(1)).verify(true).build().prune(model);
    dev.onnxprune.graph.cost.CostReport after = dev.onnxprune.graph.cost.CostModel.analyze(r.model(), 12);
    System.out.printf("lstm_tiny L1 ratio 0.3 round 1: params %d -> %d, FLOPs at length 12 %d -> %d, %s%n",
        before.totalParams(), after.totalParams(), before.totalFlops(), after.totalFlops(), r.report().verify());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    Node lstm = r.model().graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
    assertEquals(23, lstm.attrLong("hidden_size", -1), "9 of 32 units go");
    // W [1, 4 * 23, 23], R [1, 4 * 23, 23], B [1, 8 * 23], embedding [100, 23], head [3, 23] + 3
    assertEquals(2 * 92 * 23 + 184 + 2300 + 69 + 3, after.totalParams());
  }

  /** The README's gru_tiny row (bidirectional GRU): L1 at ratio 0.3 with exact widths, costs at length 12. */
  @Test
  void bidirectionalGruL1AtRatio03() throws Exception {
    Model model = OnnxModels.read(TestModels.model("gru_tiny.onnx"));
    dev.onnxprune.graph.cost.CostReport before = dev.onnxprune.graph.cost.CostModel.analyze(model, 12);
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.3))
        .rounding(dev.onnxprune.prune.Rounding.to(1)).verify(true).build().prune(model);
    dev.onnxprune.graph.cost.CostReport after = dev.onnxprune.graph.cost.CostModel.analyze(r.model(), 12);
    System.out.printf("gru_tiny L1 ratio 0.3 round 1: params %d -> %d, FLOPs at length 12 %d -> %d, %s%n",
        before.totalParams(), after.totalParams(), before.totalFlops(), after.totalFlops(), r.report().verify());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    Node gru = r.model().graph().nodes().stream().filter(n -> n.is("GRU")).findFirst().orElseThrow();
    assertEquals(12, gru.attrLong("hidden_size", -1), "4 of 16 units go, in both directions");
    // W [2, 36, 17], R [2, 36, 12], B [2, 72], embedding [100, 17], head [3, 12] + 3
    assertEquals(2 * 36 * 17 + 2 * 36 * 12 + 144 + 1700 + 36 + 3, after.totalParams());
  }

  /**
   * The oracle scores a unit by the loss increase when its outputs (Y, Y_h, Y_c where read) are
   * masked: an ablation of what the rest of the model reads, not of the recurrence (the unit still
   * feeds the other units through R while scored). Its prune verifies against the exact reference.
   */
  @Test
  void oracleScoresTheHiddenUnitsAndItsPruneVerifies() throws Exception {
    Dataset calib = Datasets.open(TestModels.file("lstm_tiny-calib.npz"), null,
        DatasetOptions.defaults().withLimit(64));
    Sessions cpu = new Sessions(Device.CPU, 0, 1);
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model(LSTM)));
    double[] s = DataCriteria.byName("oracle", calib, cpu, new DataCriteria.Options().batchSize(32)).score(a)[
        hidden(a).id()];
    assertNotNull(s);
    assertTrue(Arrays.stream(s).allMatch(Double::isFinite) && Arrays.stream(s).distinct().count() > 1,
        Arrays.toString(s));
    PruneResult r = Pruner.builder().criterion(DataCriteria.oracle(calib, cpu)).target(Target.ratio(0.3))
        .verify(true).build().prune(OnnxModels.read(TestModels.model(LSTM)));
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
  }
}
