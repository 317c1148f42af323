package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {
  @TempDir
  Path tmp;

  @Test
  void demoPrunesRecoversEvaluatesEveryStageAndWritesTheReport() throws Exception {
    Cli.Result r = Cli.run("demo", "--work-dir", tmp.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertFalse(r.err().contains("error"), r.err());
    String out = r.out();
    assertTrue(out.startsWith("example model: resnet20.onnx, bundled at "), out);
    assertTrue(out.contains("\nwork folder:   " + tmp + " (kept; the commands below run there)\n"), out);
    assertTrue(out.contains("\n$ onnx-prune inspect --summary resnet20.onnx\n"), out);
    assertTrue(out.contains("\n$ onnx-prune prune resnet20.onnx -o resnet20-pruned.onnx --criterion l1 --flops 0.5"
        + " --round 8 --verify \\\n    --images fmnist-calib-images-idx3-ubyte.gz --labels fmnist-calib-labels-idx1-ubyte.gz \\\n"
        + "    --mean 0.2860 --std 0.3530 --recalibrate-bn --epochs 1 --batch 32 \\\n    --val-images"
        + " fmnist-test-images-idx3-ubyte.gz --val-labels fmnist-test-labels-idx1-ubyte.gz \\\n"
        + "    --measure-latency 32 --report report\n"), out);
    // the stages: top-1 after each, params and FLOPs halved, latency of the first and the last
    String pct = "(\\d+\\.\\d\\d)%";
    assertTrue(out.matches("(?s).*\\n  stage +top-1 +top-5 +loss +params +FLOPs +latency\\n"
        + "  original +9\\d\\.\\d\\d% .* 273\\.7K +62\\.6M +\\d+\\.\\d\\d ms\\n"
        + "  pruned +\\d+\\.\\d\\d% .* 1\\d\\d\\.\\dK +(30\\.\\d|31\\.[0-3])M +-\\n"
        + "  recalibrated +\\d+\\.\\d\\d% .* (30\\.\\d|31\\.[0-3])M +-\\n"
        + "  fine-tuned +\\d+\\.\\d\\d% .* (30\\.\\d|31\\.[0-3])M +\\d+\\.\\d\\d ms\\n.*"), out);
    Matcher check = Pattern.compile("\\ncheck:  50\\.\\d% of the FLOPs removed; verified PASS against the masked"
        + " original \\(max rel diff [^)]+\\); top-1 " + pct + " after pruning, " + pct + " after recovery\\n")
        .matcher(out);
    assertTrue(check.find(), out);
    assertTrue(Double.parseDouble(check.group(2)) > Double.parseDouble(check.group(1)) + 20, "recovery recovers");
    Path page = tmp.resolve("report").resolve("report.html");
    assertTrue(out.contains("\nreport: " + page + " (open it in a browser)\n"), out);
    assertTrue(Files.readString(page).contains("<section id=\"fine-tuning\">"));
    assertTrue(Files.isRegularFile(tmp.resolve("resnet20-pruned.onnx")));
    assertTrue(Files.isRegularFile(tmp.resolve("report").resolve("report.json")));
  }

  @Test
  void shellLineNamesFilesInTheWorkFolderRelativelyOneLineEach() {
    Path dir = Path.of("/w/demo");
    String line = DemoCommand.shellLine(dir, List.of(List.of("prune", "/w/demo/m.onnx", "-o", "/elsewhere/o.onnx"),
        List.of("--images", "/w/demo/sub/i.gz")));

    assertEquals("$ onnx-prune prune m.onnx -o /elsewhere/o.onnx \\\n    --images sub/i.gz", line);
  }
}
