package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.surgery.ChannelGroup.Kind;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * torchvision's ViT-B/16 and Swin-T exported with a dynamic batch (testmodels/export_zoo.py; skipped
 * when not exported): every attention's heads, every MLP and the hidden width of every stage are
 * groups, and pruning 30% of all of them computes what the reference computes.
 */
class TransformerZooTest {
  @ParameterizedTest
  @CsvSource({"vit_b_16.onnx, 12, 12, 1", "swin_t.onnx, 12, 12, 4"})
  void everyAttentionMlpAndStageIsAGroupAndPrunesToTheReference(String file, int heads, int mlps, int hidden)
      throws Exception {
    Optional<Path> path = TestModels.zooFile(file);
    assumeTrue(path.isPresent(), file + " not exported: /usr/bin/python3 testmodels/export_zoo.py " + file);
    Model model = OnnxModels.read(path.get());
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    Map<Kind, Integer> kinds = new TreeMap<>();
    a.prunableGroups().forEach(g -> kinds.merge(g.kind(), 1, Integer::sum));
    System.out.println(file + ": " + a + " prunable " + kinds + "; unprunable "
        + a.groups().stream().filter(g -> !g.prunable()).map(g -> g + ": " + g.blockReasons()).toList());
    assertEquals(heads, kinds.getOrDefault(Kind.HEADS, 0));
    assertEquals(mlps, kinds.getOrDefault(Kind.CHANNELS, 0));
    assertEquals(hidden, kinds.getOrDefault(Kind.HIDDEN, 0));
    assertEquals(1, a.groups().size() - a.prunableGroups().size(), "only the classifier's output: " + a.groups());
    Oracle.Result r = Oracle.check(model, an -> Oracle.fraction(an, 0.3), 5);
    System.out.printf("%s: removed %d units, max abs diff %.3g, max rel %.3g (vs unmasked original %.3g)%n", file,
        r.removed(), r.maxAbs(), r.maxRel(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    assertTrue(r.pruned().graph().nodes().size() > 0);
  }
}
