package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class WeightRewindingTest {
  /** A stand-in checkpoint: every FLOAT initializer of {@code m} times {@code k}. */
  private static Model scaled(Model m, float k) {
    Model out = m.copy();
    for (Value v : out.graph().initializers()) {
      if (v.initializer().dataType() == DataType.FLOAT) {
        float[] f = v.initializer().toFloatArray();
        for (int i = 0; i < f.length; i++) {
          f[i] *= k;
        }
        v.setInitializer(Tensor.ofFloats(v.initializer().dims(), f));
      }
    }
    return out;
  }

  /**
   * ResNet-20 pruned by L1 to half its FLOPs, rewound to a checkpoint that is the original times
   * 0.5: the checkpoint is pruned by the same plan, so every rewound tensor is the pruned model's
   * times 0.5; with the mask kept, a weight zeroed in the model stays zero.
   */
  @Test
  void rewoundWeightsAreTheCheckpointsOnThePrunedChannels() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    WeightRewinding rw = WeightRewinding.of(scaled(m, 0.5f), m);
    PruneResult p = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).roundTo(1).build().prune(m);
    rw.pruned(p.plan());
    Value w = p.model().graph().lookup("stem.0.weight");
    float[] masked = w.initializer().toFloatArray();
    masked[0] = 0f;
    w.setInitializer(Tensor.ofFloats(w.initializer().dims(), masked));
    Model kept = rw.rewind(p.model(), true);
    Model free = rw.rewind(p.model(), false);
    int tensors = 0;
    for (Value v : p.model().graph().initializers()) {
      if (v.initializer().dataType() != DataType.FLOAT) {
        continue;
      }
      float[] now = v.initializer().toFloatArray();
      float[] want = scaled(p.model(), 0.5f).graph().lookup(v.name()).initializer().toFloatArray();
      assertArrayEquals(want, kept.graph().lookup(v.name()).initializer().toFloatArray(), 0f, v.name());
      tensors++;
      if (v.name().equals("stem.0.weight")) {
        assertEquals(0f, now[0]);
        assertTrue(free.graph().lookup(v.name()).initializer().toFloatArray()[0] != 0f);
      }
    }
    assertTrue(tensors > 40, "tensors " + tensors);

    assertEquals("rewindWeights", assertThrows(InvalidOptionException.class,
        () -> WeightRewinding.of(OnnxModels.read(TestModels.model("vgg_bn.onnx")), m)).key());
  }

  /**
   * Two steps, each retrained with weight rewinding and learning-rate rewinding (Renda et al.: the
   * last epoch of a 4-epoch step schedule with milestones 2 and 3, lr 0.01 * 0.1^2): each step
   * records its prune report and a rewound stage before fine-tuning at that rate; rewinding needs
   * fine-tuning.
   */
  @Test
  void stepsRewindBeforeEachFineTuningAndRecordEveryStep() throws Exception {
    Model original = OnnxModels.read(TestModels.model("resnet20.onnx"));
    PipelineResult r = PruningPipeline.builder().model(original.copy()).criterion(Criteria.l1())
        .target(Target.flops(0.5)).steps(2).roundTo(1).trainingData(PruningPipelineTest.train().shuffled(5, 64))
        .recovery(Recovery.fineTuning(FineTuning.builder().epochs(1).batchSize(32)
            .schedule(FineTuning.Schedule.REWIND).originalEpochs(4).build()))
        .rewindWeights(original).evaluation(PruningPipelineTest.test(100)).build().run();
    assertEquals(List.of("original", "pruned 1/2", "rewound 1/2", "fine-tuned 1/2", "pruned", "rewound", "fine-tuned"),
        r.stages().stream().map(PipelineResult.Stage::name).toList());
    assertEquals(2, r.steps().size());
    assertEquals(2, r.fineTuning().size());
    for (var e : r.fineTuning()) {
      assertEquals(1e-4, e.lr(), 1e-12, e.toString());
    }
    assertTrue(r.steps().get(0).after().flops() > r.steps().get(1).after().flops(), r.steps().toString());
    assertEquals(r.steps().get(0).after().flops(), r.steps().get(1).before().flops());
    assertEquals(r.report(), r.steps().get(1));
    assertTrue(r.toJson().contains("\"steps\" : [ {"), r.toJson().substring(0, 2000));
    // rewound to the original: the first step's rewound model is the pruned one
    assertEquals(r.stage("pruned 1/2").orElseThrow().accuracy(), r.stage("rewound 1/2").orElseThrow().accuracy());

    PruningPipeline.Builder b = PruningPipeline.builder().model(original).criterion(Criteria.l1())
        .target(Target.flops(0.5)).rewindWeights(original);
    assertEquals("rewindWeights", assertThrows(InvalidOptionException.class, b::build).key());
  }
}
