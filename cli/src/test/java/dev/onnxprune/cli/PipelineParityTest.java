package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line is an adapter over the library's pipeline: the same job through
 * {@link PruningPipeline} and through {@code onnx-prune prune} gives the same accuracy after every
 * stage, the same costs and the same bytes.
 */
class PipelineParityTest {
  @TempDir
  Path tmp;

  @Test
  void prunePipelineAndCommandLineGiveTheSameNumbers() throws Exception {
    Path model = TestModels.model("resnet20.onnx");
    Path images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz");
    Path labels = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz");
    Path testImages = TestModels.file("fmnist-test-images-idx3-ubyte.gz");
    Path testLabels = TestModels.file("fmnist-test-labels-idx1-ubyte.gz");
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    long seed = 7;

    // the library, as a Java user writes it
    Dataset train = Datasets.open(images, labels, DatasetOptions.defaults().withNormalization(norm).withSeed(seed)
        .withLimit(512));
    Dataset test = Datasets.open(testImages, testLabels, DatasetOptions.defaults().withNormalization(norm));
    Path apiOut = tmp.resolve("api.onnx");
    PipelineResult api = PruningPipeline.builder().model(model).criterion("l1").target(Target.flops(0.5))
        .trainingData(train).evaluation(test).seed(seed).cropFill(norm.zeroPixel()).sessions(Sessions.cpu())
        .recovery(Recovery.recalibrateBnThenFineTune(FineTuning.builder().epochs(1).batchSize(32).build()))
        .verify(true).output(apiOut).build().run();

    // the same job at the terminal
    Path cliOut = tmp.resolve("cli.onnx");
    Path report = tmp.resolve("cli.json");
    Cli.Result r = Cli.run("prune", model.toString(), "-o", cliOut.toString(), "--criterion", "l1", "--flops",
        "0.5", "--images", images.toString(), "--labels", labels.toString(), "--mean", "0.286", "--std", "0.353",
        "--limit", "512", "--seed", Long.toString(seed), "--val-images", testImages.toString(), "--val-labels",
        testLabels.toString(), "--recalibrate-bn", "--epochs", "1", "--batch", "32", "--verify", "--device", "cpu",
        "--report", report.toString());
    assertEquals(0, r.exitCode(), r.err());

    JsonNode cli = new ObjectMapper().readTree(report.toFile());
    assertEquals(api.stages().size(), cli.get("stages").size());
    for (int i = 0; i < api.stages().size(); i++) {
      PipelineResult.Stage s = api.stages().get(i);
      JsonNode c = cli.get("stages").get(i);
      assertEquals(s.name(), c.get("name").asText());
      assertEquals(s.flops(), c.get("flops").asLong(), s.name());
      assertEquals(s.params(), c.get("params").asLong(), s.name());
      assertEquals(s.accuracy().top1(), c.get("accuracy").get("top1").asDouble(), 0.0, s.name() + " top-1");
      assertEquals(s.accuracy().loss(), c.get("accuracy").get("loss").asDouble(), 1e-9, s.name() + " loss");
    }
    assertEquals(4, api.stages().size(), "original, pruned, recalibrated, fine-tuned");
    // default widths (multiples of 16 on AVX-512) leave resnet20's 16-channel groups whole, so the rest go deeper
    assertTrue(api.stage("fine-tuned").orElseThrow().accuracy().top1()
        > api.stage("pruned").orElseThrow().accuracy().top1() + 0.1, "recovery recovers");
    assertArrayEquals(OnnxModels.toBytes(OnnxModels.read(apiOut)), OnnxModels.toBytes(OnnxModels.read(cliOut)),
        "the same weights after the same recovery");
  }
}
