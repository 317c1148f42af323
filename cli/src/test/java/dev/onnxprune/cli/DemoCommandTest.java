package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {
  @TempDir
  Path tmp;

  @Test
  void demoInspectsAndRoundTripsTheBundledModel() {
    Cli.Result r = Cli.run("demo", "--work-dir", tmp.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertEquals("", r.err());
    assertTrue(r.out().startsWith("example model: resnet20.onnx, bundled at "), r.out());
    assertTrue(r.out().contains("$ onnx-prune inspect --summary " + tmp.resolve("0-resnet20.onnx")), r.out());
    assertTrue(r.out().contains("$ onnx-prune convert "), r.out());
    assertTrue(r.out().matches("(?s).*\\n  same function as its input +- +yes\\n.*"), r.out());
    assertTrue(Files.isRegularFile(tmp.resolve("1-convert.onnx")));
  }

  @Test
  void everyStepHasADistinctTitle() {
    assertEquals(DemoCommand.steps().size(),
        DemoCommand.steps().stream().map(DemoStep::title).distinct().count());
  }
}
