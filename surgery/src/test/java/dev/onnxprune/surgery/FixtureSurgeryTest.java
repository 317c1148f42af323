package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The numeric oracle on every real fixture model: prune about 30% of every prunable group. */
class FixtureSurgeryTest {
  static Stream<String> fixtures() {
    return TestModels.modelFiles().stream();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void prunedFixtureMatchesMaskedOriginal(String file) throws Exception {
    Model model = OnnxModels.read(TestModels.model(file));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    assertFalse(a.prunableGroups().isEmpty(), file + ": no prunable group; " + a.groups());
    Oracle.Result r = Oracle.check(model, an -> Oracle.fraction(an, 0.3), 7);
    System.out.printf("%s: %d groups (%d prunable), removed %d channels, max abs diff %.3g, max rel %.3g"
        + " (vs unmasked original %.3g)%n", file, a.groups().size(), a.prunableGroups().size(), r.removed(), r.maxAbs(),
        r.maxRel(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    assertTrue(r.pruned().graph().nodes().size() > 0);
  }
}
