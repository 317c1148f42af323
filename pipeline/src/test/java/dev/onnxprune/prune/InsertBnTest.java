package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InsertBnTest {
  private static PipelineResult run(Recovery recovery, List<String> details) throws Exception {
    return PruningPipeline.builder()
        .model(OnnxModels.read(TestModels.model("resnet20_folded.onnx")))
        .criterion(Criteria.l1())
        .target(Target.flops(0.5))
        .verify(true)
        .trainingData(PruningPipelineTest.train().shuffled(2, 256))
        .evaluation(PruningPipelineTest.test(300))
        .recovery(recovery)
        .sessions(Sessions.cpu())
        .listener(new PruningPipeline.Listener() {
          @Override
          public void phaseFinished(PruningPipeline.Phase phase, Duration took, String detail) {
            details.add(phase.label() + ": " + detail);
          }
        })
        .build()
        .run();
  }

  private static long batchNorms(Model m) {
    return m.graph().nodes().stream().filter(n -> n.is("BatchNormalization")).count();
  }

  @Test
  void aFoldedModelIsRecalibratedAndTrainedThroughInsertedBatchNormsThenFoldedBack() throws Exception {
    List<String> details = new ArrayList<>();
    PipelineResult with = run(Recovery.recalibrateBnThenFineTune(FineTuning.builder().epochs(1).batchSize(32)
        .build()), details);
    List<String> plain = new ArrayList<>();
    PipelineResult without = run(Recovery.recalibrateBnThenFineTune(FineTuning.builder().epochs(1).batchSize(32)
        .build()).withInsertBn(Recovery.InsertBn.OFF), plain);

    assertEquals(0, batchNorms(with.model()), "folded back");
    assertTrue(details.stream().anyMatch(d -> d.startsWith("inserting bn: 21 BatchNorm layers")), details.toString());
    assertTrue(with.report().verify().passed());
    assertEquals(List.of("original", "pruned", "recalibrated", "fine-tuned"),
        with.stages().stream().map(PipelineResult.Stage::name).toList());
    assertTrue(plain.contains("recalibrating: no BatchNormalization: nothing to recalibrate"), plain.toString());
    // the same prune, so the same costs: the inserted BatchNorms are not counted (they are folded back)
    for (String stage : List.of("original", "pruned", "fine-tuned")) {
      assertEquals(without.stage(stage).orElseThrow().flops(), with.stage(stage).orElseThrow().flops(), stage);
      assertEquals(without.stage(stage).orElseThrow().params(), with.stage(stage).orElseThrow().params(), stage);
    }
    double pruned = with.stage("pruned").orElseThrow().accuracy().top1();
    assertEquals(without.stage("pruned").orElseThrow().accuracy().top1(), pruned, 1e-9,
        "inserted in inference form, the BatchNorms compute the identity");
    double recalibrated = with.stage("recalibrated").orElseThrow().accuracy().top1();
    assertTrue(recalibrated > pruned + 0.2, "recalibration restores the original's channel statistics: " + pruned
        + " -> " + recalibrated);
    double tuned = with.stage("fine-tuned").orElseThrow().accuracy().top1();
    double plainTuned = without.stage("fine-tuned").orElseThrow().accuracy().top1();
    assertTrue(tuned > plainTuned + 0.1, "through BatchNorm " + tuned + ", without " + plainTuned);
  }
}
