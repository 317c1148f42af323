package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.surgery.ChannelGroup.Kind;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The transformer fixtures: their heads, MLPs and hidden width are groups, and pruning each kind
 * alone, and all together, computes what the masked original computes (with norms over the kept
 * channels when hidden channels go).
 */
class TransformerFixtureTest {
  static Stream<String> fixtures() {
    return TestModels.transformerFiles().stream();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void headsMlpAndHiddenWidthAreGroups(String file) throws Exception {
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model(file)));
    Map<Kind, Integer> kinds = new TreeMap<>();
    a.prunableGroups().forEach(g -> kinds.merge(g.kind(), 1, Integer::sum));
    System.out.println(file + ": " + a + " prunable " + kinds);
    assertTrue(kinds.getOrDefault(Kind.HEADS, 0) >= 2, file + ": a head group per attention: " + a.groups());
    assertEquals(1, kinds.getOrDefault(Kind.HIDDEN, 0), file + ": one residual stream: " + a.groups());
    assertTrue(kinds.getOrDefault(Kind.CHANNELS, 0) >= 2, file + ": the MLP hidden layers: " + a.groups());
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void pruningHeadsMatchesTheMaskedOriginal(String file) throws Exception {
    check(file, g -> g.kind() == Kind.HEADS);
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void pruningHiddenWidthMatchesTheReferenceWithNormsOverKeptChannels(String file) throws Exception {
    check(file, g -> g.kind() == Kind.HIDDEN);
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void pruningEveryGroupMatchesTheReference(String file) throws Exception {
    check(file, g -> true);
  }

  @org.junit.jupiter.api.Test
  void fusedLayerNormalizationOfOpset17IsPrunedThroughWithItsScaleAndBias() throws Exception {
    Model model = OnnxModels.read(TestModels.model("gpt_tiny17.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    ChannelGroup hidden = a.prunableGroups().stream().filter(g -> g.kind() == Kind.HIDDEN).findFirst().orElseThrow();
    // ln1 and ln2 of two blocks and the final norm, each a statistic of the hidden channels
    assertEquals(5, hidden.members().stream().filter(m -> m.opType().equals("LayerNormalization")
        && m.role() == GroupMember.Role.STATISTIC).count(), hidden.members().toString());
    Oracle.Result r = Oracle.check(model, an -> {
      ChannelGroup h = an.groups().get(hidden.id());
      return PrunePlan.builder(an).remove(h, 1, 4, 7, 10, 13, 16, 19, 22, 25).build();
    }, 3);
    Oracle.assertEquivalent(r);
    for (dev.onnxprune.graph.Node ln : r.pruned().graph().nodes()) {
      if (ln.is("LayerNormalization")) {
        assertEquals(23, Analyzer.constant(ln.input(1)).dim(0), ln.name());
        assertEquals(23, Analyzer.constant(ln.input(2)).dim(0), ln.name());
      }
    }
  }

  private static void check(String file, Predicate<ChannelGroup> which) throws Exception {
    Model model = OnnxModels.read(TestModels.model(file));
    Oracle.Result r = Oracle.check(model, an -> {
      PrunePlan.Builder b = PrunePlan.builder(an);
      for (ChannelGroup g : an.prunableGroups()) {
        if (which.test(g)) {
          int n = Math.max(1, (int) Math.floor(g.size() * 0.3));
          int[] units = new int[Math.min(n, g.size() - 1)];
          for (int i = 0; i < units.length; i++) {
            units[i] = (i * 3 + 1) % g.size();
          }
          b.remove(g, java.util.Arrays.stream(units).distinct().toArray());
        }
      }
      return b.build();
    }, 11);
    System.out.printf("%s: removed %d units, max abs diff %.3g, max rel %.3g (vs unmasked original %.3g)%n", file,
        r.removed(), r.maxAbs(), r.maxRel(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    // shapes computed from pruned ones (an attention mask's ConstantOfShape) are inferred again
    CostReport after = CostModel.analyze(r.pruned());
    assertTrue(after.complete(), file + ": unknown after pruning: " + after.unknown());
  }

  static List<String> names() {
    return TestModels.transformerFiles();
  }
}
