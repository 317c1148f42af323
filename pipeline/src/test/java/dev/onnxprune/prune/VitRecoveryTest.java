package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

/**
 * The trained vit_tiny pruned to half its FLOPs by head importance (heads, MLP widths and hidden
 * width) and fine-tuned by the pipeline: its training artifact differentiates the transformer
 * (Gather, Erf, Pow, Sqrt, Expand, Where, the class token and position table), and the training
 * loss falls over two short epochs on the 1,000 bundled calibration images.
 */
class VitRecoveryTest {
  private static final dev.onnxprune.runtime.Sessions CPU = dev.onnxprune.runtime.Sessions.cpu();

  @Test
  void prunedVitIsFineTunedByThePipeline() throws Exception {
    PipelineResult r = PruningPipeline.builder()
        .model(OnnxModels.read(TestModels.model("vit_tiny.onnx")))
        .criterion(DataCriteria.headImportance(PruningPipelineTest.test(64), CPU))
        .target(Target.flops(0.5))
        .roundTo(1)
        .trainingData(PruningPipelineTest.train())
        .evaluation(PruningPipelineTest.test(500))
        .recovery(Recovery.fineTuning(FineTuning.builder().epochs(2).batchSize(32).build()))
        .sessions(CPU)
        .verify(true)
        .build()
        .run();
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    long heads = r.prune().report().groups().stream().filter(g -> g.kind().equals("heads") && g.kept() < g.channels())
        .count();
    assertEquals(3, heads, "every attention loses heads");
    assertEquals(2, r.fineTuning().size());
    double first = r.fineTuning().get(0).trainLoss();
    double second = r.fineTuning().get(1).trainLoss();
    assertTrue(Double.isFinite(first) && second < first, "the training loss falls: " + first + " -> " + second);
    var pruned = r.stage("pruned").orElseThrow().accuracy();
    var tuned = r.stage("fine-tuned").orElseThrow().accuracy();
    System.out.printf("vit_tiny, heads, --flops 0.5: top-1 on 500 test images %.3f -> %.3f after 2 epochs on 1,000"
        + " images%n", pruned.top1(), tuned.top1());
    assertTrue(r.stage("original").orElseThrow().accuracy().top1() > 0.8);
  }
}
