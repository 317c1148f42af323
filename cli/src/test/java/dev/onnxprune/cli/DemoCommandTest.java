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
  void demoInspectsRoundTripsAndPrunesTheBundledModel() {
    Cli.Result r = Cli.run("demo", "--work-dir", tmp.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(!r.err().contains("error"), r.err());
    assertTrue(r.out().startsWith("example model: resnet20.onnx, bundled at "), r.out());
    assertTrue(r.out().contains("$ onnx-prune inspect --summary " + tmp.resolve("0-resnet20.onnx")), r.out());
    assertTrue(r.out().contains("$ onnx-prune convert "), r.out());
    assertTrue(r.out().contains("$ onnx-prune prune " + tmp.resolve("1-convert.onnx") + " -o "
        + tmp.resolve("2-prune.onnx") + " --criterion l1 --flops 0.5 --verify --report "
        + tmp.resolve("2-prune.report.json") + "\n"), r.out());
    String table = r.out().substring(r.out().lastIndexOf("before / after"));
    assertTrue(table.matches("(?s)before / after\\n +input +convert +prune\\n.*"), table);
    assertTrue(table.matches("(?s).*\\n  check +- +identical +verify PASS\\n.*"), table);
    assertTrue(table.matches("(?s).*\\n  FLOPs +62\\.6M +62\\.6M +3\\d\\.\\dM\\n.*"), table);
    assertTrue(table.contains("\n  prune: 5"), table);
    assertTrue(Files.isRegularFile(tmp.resolve("1-convert.onnx")));
    assertTrue(Files.isRegularFile(tmp.resolve("2-prune.onnx")));
    assertTrue(Files.isRegularFile(tmp.resolve("2-prune.report.json")));
  }

  @Test
  void everyStepHasADistinctTitle() {
    assertEquals(DemoCommand.steps().size(),
        DemoCommand.steps().stream().map(DemoStep::title).distinct().count());
  }
}
