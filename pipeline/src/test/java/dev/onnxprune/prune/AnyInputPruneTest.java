package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.RandomInputs;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Any model, any input: models with integer token inputs and symbolic sequence lengths, and a
 * detector whose activation shapes are unknown to static inference, pruned and verified against
 * the masked original.
 */
class AnyInputPruneTest {
  static final String DETECTOR = "fasterrcnn_mobilenet_v3_large_320_fpn.onnx";

  @ParameterizedTest
  @ValueSource(strings = {TestModels.BERT, TestModels.GPT})
  void transformerWithTokenInputsPrunesItsMlpsAndVerifies(String file) throws Exception {
    Model model = OnnxModels.read(TestModels.model(file));
    byte[] original = OnnxModels.toBytes(model);
    PruneResult r = pruneThirtyPercentAndVerify(file, model);
    PruneReport rep = r.report();
    assertTrue(pruned(rep) >= 2, file + ": the MLP hidden layers are pruned");
    assertTrue(rep.after().params() < rep.before().params());
    assertEquals(0, rep.before().unknownShapeNodes(), "the symbolic sequence is costed at the position table's length");
    assertTrue(differs(original, r.model()), file + ": pruning changed the outputs, so the check compared something");
  }

  @Test
  void testInputsFitTheEmbeddingTablesAndThePositions() throws Exception {
    Model bert = OnnxModels.read(TestModels.model(TestModels.BERT));
    // the word table has 100 rows; the segment table (2 rows) is read at zeros made from the input's shape
    assertEquals("[input_ids INT64[2, 8] ids in [0, 100), attention_mask INT64[2, 8] ones]",
        RandomInputs.of(bert).inputs().toString());
    Model gpt = OnnxModels.read(TestModels.model(TestModels.GPT));
    assertEquals(List.of("input_ids INT64[2, 8] ids in [0, 64)"),
        RandomInputs.of(gpt).inputs().stream().map(Object::toString).toList());
  }

  @Test
  void detectorWithRunTimeResizesVerifies() throws Exception {
    Optional<Path> file = TestModels.zooFile(DETECTOR);
    assumeTrue(file.isPresent(), "detector not exported: /usr/bin/python3 testmodels/export_detection.py");
    Model model = OnnxModels.read(file.get());
    byte[] original = OnnxModels.toBytes(model);
    PruneResult r = pruneThirtyPercentAndVerify(DETECTOR, model);
    PruneReport rep = r.report();
    assertTrue(pruned(rep) > 10, "the backbone's groups are pruned: " + pruned(rep));
    assertTrue(rep.before().unknownShapeNodes() > 0);
    // the check compared detections, not empty outputs
    try (OrtSession s = Sessions.cpu().open(r.model())) {
      Map<String, HostTensor> out = OrtTensors.run(s, RandomInputs.of(r.model()).draw(new Random(1234)), Set.of());
      assertTrue(out.get("boxes").shape()[0] > 0, "no detections: " + out);
      assertEquals(DataType.INT64, out.get("labels").type());
    }
    assertTrue(differs(original, r.model()));
  }

  /** L1, 30% of every prunable group, verified; prints what it did. */
  private static PruneResult pruneThirtyPercentAndVerify(String name, Model model) throws Exception {
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.3)).verify(true).build()
        .prune(model);
    PruneReport rep = r.report();
    System.out.printf("%s: %d groups, %d prunable, %d pruned; params %d -> %d; FLOPs >= %d -> >= %d (%d / %d nodes"
            + " of unknown cost); verify %s%n", name, rep.groups().size(),
        rep.groups().stream().filter(PruneReport.Group::prunable).count(), pruned(rep), rep.before().params(),
        rep.after().params(), rep.before().flops(), rep.after().flops(), rep.before().unknownShapeNodes(),
        rep.after().unknownShapeNodes(), rep.verify());
    assertTrue(rep.verify().passed(), name + ": " + rep.verify());
    return r;
  }

  private static long pruned(PruneReport rep) {
    return rep.groups().stream().filter(g -> g.kept() < g.channels()).count();
  }

  /** True when {@code pruned} and the unpruned model give different outputs on the check's inputs. */
  private static boolean differs(byte[] original, Model pruned) throws Exception {
    Model before = OnnxModels.read(original, null);
    Map<String, HostTensor> feeds = RandomInputs.of(before).draw(new Random(7));
    try (OrtSession a = Sessions.cpu().open(before); OrtSession b = Sessions.cpu().open(pruned)) {
      Map<String, HostTensor> x = OrtTensors.run(a, feeds, Set.of());
      Map<String, HostTensor> y = OrtTensors.run(b, feeds, Set.of());
      for (String name : x.keySet()) {
        HostTensor u = x.get(name);
        HostTensor v = y.get(name);
        if (u.size() != v.size()) {
          return true;
        }
        for (int i = 0; i < u.size(); i++) {
          if (Math.abs(u.get(i) - v.get(i)) > 1e-4 * Math.max(1, Math.abs(u.get(i)))) {
            return true;
          }
        }
      }
      return false;
    }
  }
}
