package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScoreCommandTest {
  private static final String IMAGES = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
  private static final String LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();

  @TempDir
  Path tmp;

  @Test
  void dataFreeScoresArePrintedPerGroup() {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "l1");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("l1 scores (higher = more important)"), r.out());
    assertTrue(r.out().contains("\ngroup 0  16 channels  /features/features.0/features.0.0/Conv\n  min "), r.out());
    assertTrue(r.out().contains("unprunable: "), r.out());
  }

  @Test
  void apozJsonHasScoresForEveryPrunableGroupAndTheCost() throws Exception {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "apoz", "--images",
        IMAGES, "--mean", "0.286", "--std", "0.353", "--calib-limit", "64", "--json", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals("apoz", doc.get("criterion").asText());
    assertEquals(64, doc.get("stats").get("sampleForwards").asLong());
    int scored = 0;
    for (JsonNode g : doc.get("groups")) {
      if (g.get("prunable").asBoolean()) {
        assertEquals(g.get("channels").asInt(), g.get("scores").size());
        for (JsonNode s : g.get("scores")) {
          assertTrue(s.asDouble() >= 0 && s.asDouble() <= 1, "1 - APoZ in [0, 1]: " + s);
        }
        scored++;
      } else {
        assertTrue(g.get("scores").isNull());
      }
    }
    assertEquals(6, scored);
  }

  @Test
  void sparkMasterWithoutTheSparkModuleSaysHowToGetIt() {
    // the CLI jar carries no Spark: the backend is looked up on the class path and is not there
    for (String command : new String[] {"score", "eval"}) {
      Cli.Result r = command.equals("score")
          ? Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "taylor", "--images", IMAGES,
              "--labels", LABELS, "--calib-limit", "16", "--spark-master", "local[2]")
          : Cli.run("eval", TestModels.model("vgg_bn.onnx").toString(), "--images", IMAGES, "--labels", LABELS,
              "--limit", "16", "--spark-master", "local[2]");
      assertEquals(ExitCodes.ERROR, r.exitCode(), r.err());
      assertTrue(r.err().startsWith("onnx-prune: error: --spark-master local[2] needs the onnx-prune-spark module,"
          + " which this jar does not carry: run through the ./onnx-prune launcher"), r.err());
      assertEquals("", r.out());
    }
  }

  @Test
  void dataDrivenCriterionWithoutImagesIsAUsageError() {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "oracle");
    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("score", "--criterion oracle needs data: give --images (and --labels)"), r.err());
  }

  @Test
  void badAofpSettingNamesTheOption() {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "aofp", "--images",
        IMAGES, "--theta", "0");
    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("score", "--theta must be > 0: 0.0"), r.err());
  }

  @Test
  void pruneWithOracleOnCalibrationDataWritesAPrunedModel() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", out.toString(), "--criterion",
        "oracle", "--images", IMAGES, "--labels", LABELS, "--mean", "0.286", "--std", "0.353", "--calib-limit", "32",
        "--flops", "0.5", "--verify", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(Files.size(out) > 0);
    assertTrue(r.err().contains("calibrating"), r.err());
    assertTrue(r.out().contains("of FLOPs removed (target 50.0%; criterion oracle, uniform)"), r.out());
    assertTrue(r.out().contains("verify    PASS") || r.out().matches("(?s).*verify +PASS.*"), r.out());
  }

  @Test
  void oracleSaysWhatItWillCostOnStderrAndKeepsStdoutForTheScores() throws Exception {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "oracle", "--images",
        IMAGES, "--labels", LABELS, "--mean", "0.286", "--std", "0.353", "--calib-limit", "16", "--json", "--device",
        "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().lines().anyMatch(l -> l.matches("oracle: \\d+ channels in \\d+ groups, 1 \\+ 3 re-scoring rounds"
        + " of 0\\.1 \\(--rescore; .*\\): about \\d+ forward passes over 16 samples, .*")), r.err());
    assertEquals("oracle", new ObjectMapper().readTree(r.out()).get("criterion").asText());
  }

  @Test
  void taylorScoresEveryPrunableGroupNonNegative() throws Exception {
    Cli.Result r = Cli.run("score", TestModels.model("vgg_bn.onnx").toString(), "--criterion", "taylor", "--images",
        IMAGES, "--labels", LABELS, "--mean", "0.286", "--std", "0.353", "--calib-limit", "32", "--json", "--device",
        "cpu");
    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals("taylor", doc.get("criterion").asText());
    assertEquals(32, doc.get("stats").get("sampleForwards").asLong());
    int scored = 0;
    for (JsonNode g : doc.get("groups")) {
      if (g.get("prunable").asBoolean()) {
        assertEquals(g.get("channels").asInt(), g.get("scores").size());
        for (JsonNode s : g.get("scores")) {
          assertTrue(s.asDouble() >= 0, "mean |t| >= 0: " + s);
        }
        scored++;
      }
    }
    assertEquals(6, scored);
  }

  @Test
  void pruneWithTaylorWritesAVerifiedModel() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", out.toString(), "--criterion",
        "taylor", "--images", IMAGES, "--labels", LABELS, "--mean", "0.286", "--std", "0.353", "--calib-limit", "32",
        "--flops", "0.5", "--verify", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(Files.size(out) > 0);
    assertTrue(r.out().contains("of FLOPs removed (target 50.0%; criterion taylor, uniform)"), r.out());
    assertTrue(r.out().matches("(?s).*verify +PASS.*"), r.out());
  }

  @Test
  void pruneWithThinetNeedsNoLabelsAndWritesAVerifiedModel() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", out.toString(), "--criterion",
        "thinet", "--images", IMAGES, "--mean", "0.286", "--std", "0.353", "--calib-limit", "32", "--flops", "0.5",
        "--verify", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(Files.size(out) > 0);
    assertTrue(r.out().contains("of FLOPs removed (target 50.0%; criterion thinet, uniform)"), r.out());
    assertTrue(r.out().matches("(?s).*verify +PASS.*"), r.out());
  }

  @Test
  void aofpOwnPlanIsAppliedAsTheAllocation() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", out.toString(), "--criterion",
        "aofp", "--aofp-plan", "--images", IMAGES, "--mean", "0.286", "--std", "0.353", "--calib-limit", "128",
        "--flops", "0.3", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("criterion aofp, aofp)"), r.out());
  }

  @Test
  void latencyTargetIsMeasuredAndMet() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", out.toString(), "--criterion",
        "l1", "--latency", "0.1", "--latency-batch", "64", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("of latency (predicted from measured per-channel costs) removed (target 10.0%"),
        r.out());
    assertFalse(r.out().contains("NaN"), r.out());
  }
}
