package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.Sensitivity;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SensitivityCommandTest {
  private static final String IMAGES = TestModels.file("fmnist-test-images-idx3-ubyte.gz").toString();
  private static final String LABELS = TestModels.file("fmnist-test-labels-idx1-ubyte.gz").toString();
  private static final String MODEL = TestModels.model("vgg_bn.onnx").toString();

  @TempDir
  Path tmp;

  @Test
  void printsTopOneOfEveryGroupAtEveryRatioAndWritesTheReportFolder() throws Exception {
    Path report = tmp.resolve("sens");

    Cli.Result r = Cli.run("sensitivity", MODEL, "--images", IMAGES, "--labels", LABELS, "--mean", "0.2860", "--std",
        "0.3530", "--ratios", "0.5,0.25", "--limit", "100", "--device", "cpu", "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().startsWith(MODEL + ": top-1 of each group pruned alone (criterion l1, 100 samples; unpruned "),
        r.out());
    assertTrue(r.out().matches("(?s).*\\n  group  channels   25%   50%  producers\\n"
        + "      0        16  \\d+\\.\\d  +\\d+\\.\\d  /.*"), r.out());
    assertTrue(r.out().contains("\nmost robust:    group "), r.out());
    assertTrue(r.out().endsWith("report " + report.resolve("report.html") + "\n"), r.out());
    assertTrue(r.err().contains("] group 0 without 4 channel(s): top-1 "), r.err());
    JsonNode json = new ObjectMapper().readTree(report.resolve("report.json").toFile());
    assertEquals(Sensitivity.FORMAT, json.path("format").asText());
    assertEquals(100, json.path("baseline").path("samples").asInt());
    assertTrue(Files.readString(report.resolve("report.html")).contains("<section id=\"sensitivity\">"));
  }

  @Test
  void jsonGoesToStdoutAndABadRatioNamesItsOption() throws Exception {
    Cli.Result r = Cli.run("sensitivity", MODEL, "--images", IMAGES, "--labels", LABELS, "--ratios", "0.5",
        "--limit", "50", "--device", "cpu", "--json");
    Cli.Result bad = Cli.run("sensitivity", MODEL, "--images", IMAGES, "--labels", LABELS, "--ratios", "0.5,1.5");

    assertEquals(0, r.exitCode(), r.err());
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertEquals(1, json.path("ratios").size());
    assertEquals(ChannelAnalysis.analyze(OnnxModels.read(Path.of(MODEL))).prunableGroups().size(),
        json.path("curves").size(), "a curve per prunable group");
    assertEquals(2, bad.exitCode());
    assertEquals("onnx-prune: error: --ratios must each be in (0, 1): 1.5\nonnx-prune: try 'onnx-prune sensitivity"
        + " --help'\n", bad.err());
  }
}
