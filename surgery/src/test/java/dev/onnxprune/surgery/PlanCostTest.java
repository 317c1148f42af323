package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * PlanCost predicts what the cost model says of the pruned model. Every fixture, pruned in every
 * group and in every other group: the second leaves some readers of a shared initializer (the
 * exporter's merged BatchNormalization parameters) whole while others slice their copy.
 */
class PlanCostTest {
  @ParameterizedTest
  @MethodSource("dev.onnxprune.surgery.FixtureSurgeryTest#fixtures")
  void predictionEqualsTheCostOfThePrunedModel(String file) throws Exception {
    for (int every : new int[] {1, 2}) {
      Model model = OnnxModels.read(TestModels.model(file));
      ChannelAnalysis a = ChannelAnalysis.analyze(model);
      PrunePlan.Builder b = PrunePlan.builder(a);
      for (ChannelGroup g : a.prunableGroups()) {
        if (g.id() % every == 0 && g.size() > 1) {
          b.remove(g, java.util.stream.IntStream.range(0, g.size() / 2).toArray());
        }
      }
      PrunePlan plan = b.build();
      PlanCost.Costs predicted = PlanCost.of(a).evaluate(plan.removals());
      new ChannelPruningPass(plan).run(model);
      CostReport actual = CostModel.analyze(model);
      String what = file + ", every " + every + ". group";
      assertEquals(actual.totalParams(), predicted.params(), what);
      assertEquals(actual.totalMacs(), predicted.macs(), Math.max(1, actual.totalMacs() * 1e-9), what);
      assertEquals(actual.totalFlops(), predicted.flops(), Math.max(1, actual.totalFlops() * 1e-9), what);
    }
  }
}
