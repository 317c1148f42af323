package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class IterativePruningTest {
  @Test
  void schedulesByHand() {
    assertEquals(0.5, PruneSchedule.LINEAR.at(1, 2));
    assertEquals(1.0, PruneSchedule.LINEAR.at(2, 2));
    // AGP: 1 - (1 - i/3)^3 = 19/27, 26/27, 1
    assertEquals(19.0 / 27, PruneSchedule.AGP.at(1, 3), 1e-15);
    assertEquals(26.0 / 27, PruneSchedule.AGP.at(2, 3), 1e-15);
    assertEquals(1.0, PruneSchedule.AGP.at(3, 3), 1e-15);
    assertEquals(PruneSchedule.AGP, PruneSchedule.byName("AGP"));
    assertEquals("stepSchedule", assertThrows(InvalidOptionException.class, () -> PruneSchedule.byName("cubic")).key());
  }

  /**
   * ResNet-20 to half its FLOPs in 2 linear steps, each recovered by one epoch on 128 images: the
   * first step leaves at most 75% of the FLOPs, the second at most 50%, each step's stages are
   * recorded, and fine-tuning ran twice.
   */
  @Test
  void twoStepsReachTheTargetWithRecoveryBetween() throws Exception {
    PipelineResult r = PruningPipeline.builder()
        .model(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .criterion(Criteria.l1())
        .target(Target.flops(0.5))
        .steps(2)
        .roundTo(1)
        .trainingData(PruningPipelineTest.train().shuffled(5, 128))
        .recovery(Recovery.fineTuning(FineTuning.builder().epochs(1).batchSize(32).build()))
        .evaluation(PruningPipelineTest.test(200))
        .sessions(Sessions.cpu())
        .build().run();
    assertEquals(List.of("original", "pruned 1/2", "fine-tuned 1/2", "pruned", "fine-tuned"),
        r.stages().stream().map(PipelineResult.Stage::name).toList());
    double original = r.stage("original").orElseThrow().flops();
    double first = r.stage("pruned 1/2").orElseThrow().flops();
    double last = r.stage("fine-tuned").orElseThrow().flops();
    assertTrue(first <= 0.75 * original && first > 0.6 * original, first / original + "");
    assertTrue(last <= 0.5 * original && last > 0.4 * original, last / original + "");
    assertEquals(2, r.fineTuning().size());
    assertTrue(r.stage("fine-tuned 1/2").orElseThrow().accuracy().top1()
        > r.stage("pruned 1/2").orElseThrow().accuracy().top1(), r.stages().toString());
  }

  @Test
  void stepsNeedAFlopsOrParameterTargetAndACriterion() throws Exception {
    PruningPipeline.Builder b = PruningPipeline.builder().model(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .target(Target.ratio(0.5)).steps(3);
    assertEquals("steps", assertThrows(InvalidOptionException.class, b::build).key());
    assertEquals("steps", assertThrows(InvalidOptionException.class, () -> b.target(Target.flops(0.5)).steps(0)
        .build()).key());
    b.steps(2).trainingData(PruningPipelineTest.train()).recovery(Recovery.fineTuning(FineTuning.builder()
        .checkpointDir(java.nio.file.Path.of("ck")).build()));
    assertEquals("fineTuning.checkpointDir", assertThrows(InvalidOptionException.class, b::build).key());
  }
}
