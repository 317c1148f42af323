package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.Distillation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DistillationRecoveryTest {
  /** {@code d} without its labels. */
  static ArrayDataset unlabelled(Dataset d) {
    Batch all = d.batches(d.size()).next();
    long[] sample = java.util.Arrays.copyOfRange(all.shape(), 1, all.shape().length);
    return new ArrayDataset(all.inputs(), sample, null);
  }

  /** The ResNet-20 fixture as an embedding model: its pooled features {@code [N, 64, 1, 1]}, no classifier. */
  static Model embedding() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    Value pooled = m.graph().nodes().stream().filter(n -> n.is("GlobalAveragePool")).findFirst().orElseThrow()
        .output(0);
    m.graph().setOutput(0, pooled);
    m.graph().removeDeadCode();
    ShapeInference.infer(m);
    return m;
  }

  private static PruningPipeline.Builder prune(Model model, Dataset train, FineTuning f, List<String> details) {
    return PruningPipeline.builder()
        .model(model)
        .criterion(Criteria.l1())
        .target(Target.flops(0.5))
        .roundTo(1) // exact widths: the accuracies asserted are those of this architecture
        .trainingData(train)
        .recovery(Recovery.fineTuning(f))
        .sessions(Sessions.cpu())
        .listener(new PruningPipeline.Listener() {
          @Override
          public void phaseFinished(PruningPipeline.Phase phase, Duration took, String detail) {
            details.add(phase.label() + ": " + detail);
          }

          @Override
          public void warning(String message) {
            details.add("warning: " + message);
          }
        });
  }

  @Test
  void klDistillationWithLabelsRecoversAClassifier() throws Exception {
    List<String> details = new ArrayList<>();
    PipelineResult r = prune(OnnxModels.read(TestModels.model("resnet20.onnx")),
        PruningPipelineTest.train().shuffled(3, 256), FineTuning.builder().epochs(1).batchSize(32)
            .distillation(Distillation.kl(4, 0.5)).build(), details)
        .evaluation(PruningPipelineTest.test(300)).build().run();
    assertTrue(details.contains("fine tuning: 1 epoch(s); distilled (KL, T 4.0, weight 0.5) from the unpruned model"),
        details.toString());
    double pruned = r.stage("pruned").orElseThrow().accuracy().top1();
    double tuned = r.stage("fine-tuned").orElseThrow().accuracy().top1();
    assertTrue(tuned > pruned + 0.2, pruned + " -> " + tuned);
  }

  @Test
  void unlabelledDataIsDistilledFromTheUnprunedModel() throws Exception {
    List<String> details = new ArrayList<>();
    PipelineResult r = prune(OnnxModels.read(TestModels.model("resnet20.onnx")),
        unlabelled(PruningPipelineTest.train().shuffled(3, 256)), FineTuning.builder().epochs(1).batchSize(32)
            .build(), details)
        .evaluation(PruningPipelineTest.test(300)).build().run();
    assertTrue(details.stream().anyMatch(d -> d.startsWith("warning: fineTuning.distillation: the training data has no"
        + " labels; distilling from the unpruned model instead (distilled (KL, T 4.0, weight 1.0))")), details.toString());
    double pruned = r.stage("pruned").orElseThrow().accuracy().top1();
    double tuned = r.stage("fine-tuned").orElseThrow().accuracy().top1();
    assertTrue(tuned > pruned + 0.2, "no label was seen: " + pruned + " -> " + tuned);
    assertEquals(0.0, r.fineTuning().get(0).trainAccuracy());
  }

  @Test
  void aModelThatIsNotAClassifierIsRecoveredByMseAndEvaluatedByItsOutputError() throws Exception {
    List<String> details = new ArrayList<>();
    Dataset test = unlabelled(PruningPipelineTest.test(200));
    PipelineResult r = prune(embedding(), unlabelled(PruningPipelineTest.train().shuffled(4, 256)),
        FineTuning.builder().epochs(2).batchSize(32).build(), details)
        .evaluation(test).build().run();
    assertTrue(details.stream().anyMatch(d -> d.contains("the model is not a classifier; distilling from the unpruned"
        + " model instead (distilled (MSE on every output, weight 1.0))")), details.toString());
    PipelineResult.Stage original = r.stage("original").orElseThrow();
    assertNull(original.accuracy());
    assertEquals(0.0, original.outputError().relative());
    double pruned = r.stage("pruned").orElseThrow().outputError().relative();
    double tuned = r.stage("fine-tuned").orElseThrow().outputError().relative();
    assertTrue(tuned < 0.7 * pruned, "output error against the original: " + pruned + " -> " + tuned);
    assertEquals(200, r.stage("fine-tuned").orElseThrow().outputError().samples());
  }

  @Test
  void recoveringWithoutAPruneNeedsTheTeacherToDistil() throws Exception {
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> PruningPipeline.builder()
        .model(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .trainingData(PruningPipelineTest.train())
        .recovery(Recovery.fineTuning(FineTuning.builder().distillation(Distillation.kl(2, 1)).build()))
        .build());
    assertEquals("teacher", e.key());
    assertEquals("fineTuning.distillation", assertThrows(InvalidOptionException.class,
        () -> FineTuning.builder().distillation("soft", 1, 1)).key());
    assertEquals("fineTuning.temperature", assertThrows(InvalidOptionException.class,
        () -> FineTuning.builder().distillation("kl", 0, 1)).key());
  }
}
