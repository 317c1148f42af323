package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.ArtifactSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExportTrainingCommandTest {
  @TempDir
  Path tmp;

  @Test
  void writesTheArtifactFolder() throws Exception {
    Path dir = tmp.resolve("art");
    Cli.Result r = Cli.run("export-training", TestModels.model("vgg_bn.onnx").toString(), "-o", dir.toString(),
        "--optimizer", "adamw", "--weight-decay", "0.01", "--freeze", "classifier.1.weight");

    assertEquals(0, r.exitCode(), r.err());
    for (String f : new String[] {"train_step.onnx", "eval.onnx", "checkpoint.onnx", "artifact.json"}) {
      assertTrue(Files.isRegularFile(dir.resolve(f)), f);
    }
    ArtifactSpec spec = ArtifactSpec.read(dir.resolve("artifact.json"));
    assertEquals("adamw", spec.optimizer().get("type"));
    assertEquals("step", spec.step());
    assertTrue(spec.state().stream().noneMatch(s -> s.name().equals("classifier.1.weight")));
    assertTrue(r.out().startsWith("wrote " + dir + ": train_step.onnx, eval.onnx, checkpoint.onnx, artifact.json ("),
        r.out());
  }

  @Test
  void badOptimizerIsAUsageError() {
    Cli.Result r = Cli.run("export-training", TestModels.model("vgg_bn.onnx").toString(), "-o",
        tmp.resolve("x").toString(), "--optimizer", "rmsprop");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("--optimizer") && r.err().contains("rmsprop"), r.err());
  }

  @Test
  void unknownFrozenNameIsNamed() {
    Cli.Result r = Cli.run("export-training", TestModels.model("vgg_bn.onnx").toString(), "-o",
        tmp.resolve("y").toString(), "--freeze", "nope.weight");
    assertEquals(1, r.exitCode());
    assertTrue(r.err().startsWith("onnx-prune: error: parameter to freeze 'nope.weight' is not in the model; known: "),
        r.err());
  }
}
