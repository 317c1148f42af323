package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.MagnitudeMasking;
import dev.onnxprune.surgery.WeightSparsity;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

class KeepSparsityTest {
  private static PipelineResult fineTune(Model masked, FineTuning.KeepSparsity keep) throws Exception {
    return PruningPipeline.builder()
        .model(masked)
        .trainingData(PruningPipelineTest.train().shuffled(1, 128))
        .recovery(Recovery.fineTuning(FineTuning.builder().epochs(1).batchSize(32).keepSparsity(keep).build()))
        .sessions(Sessions.cpu())
        .build()
        .run();
  }

  @Test
  void aMaskedModelKeepsExactlyItsZerosByDefault() throws Exception {
    Model model = OnnxModels.read(TestModels.model("resnet20.onnx"));
    MagnitudeMasking.magnitude(0.8, false).run(model);
    WeightSparsity before = WeightSparsity.of(model);
    assertTrue(before.fraction() > 0.79, before.toString());

    PipelineResult r = fineTune(model, FineTuning.KeepSparsity.AUTO);
    WeightSparsity after = WeightSparsity.of(r.model());
    assertEquals(before, after, "every zero stays zero, and no other weight becomes zero");
    assertEquals(before.fraction(), r.stage("original").orElseThrow().weightSparsity(), 1e-12);
    assertEquals(before.fraction(), r.stage("fine-tuned").orElseThrow().weightSparsity(), 1e-12);
  }

  @Test
  void anNmMaskedModelKeepsItsPattern() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    MagnitudeMasking.nm(2, 4).run(model);
    WeightSparsity before = WeightSparsity.of(model);
    PipelineResult r = fineTune(model, FineTuning.KeepSparsity.AUTO);
    assertEquals(before, WeightSparsity.of(r.model()));
  }

  @Test
  void offLetsTheZerosTrain() throws Exception {
    Model model = OnnxModels.read(TestModels.model("resnet20.onnx"));
    MagnitudeMasking.magnitude(0.8, false).run(model);
    PipelineResult r = fineTune(model, FineTuning.KeepSparsity.OFF);
    assertTrue(r.stage("fine-tuned").orElseThrow().weightSparsity() < 0.1,
        "weight decay and gradients move the zeros: " + WeightSparsity.of(r.model()));
  }

  @Test
  void aDenseModelIsNotMaskedByDefault() throws Exception {
    Model model = OnnxModels.read(TestModels.model("resnet20.onnx"));
    assertTrue(!WeightSparsity.of(model).masked());
    assertTrue(FineTuning.epochs(1).keepsSparsityOf(WeightSparsity.of(model)) == false);
    assertTrue(FineTuning.builder().keepSparsity(FineTuning.KeepSparsity.ON).build()
        .keepsSparsityOf(WeightSparsity.of(model)));
  }

  @Test
  void anUnknownSettingNamesItsKey() {
    assertEquals("fineTuning.keepSparsity", assertThrows(InvalidOptionException.class,
        () -> FineTuning.KeepSparsity.byName("sometimes")).key());
  }
}
