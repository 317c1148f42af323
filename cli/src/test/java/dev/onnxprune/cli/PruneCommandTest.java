package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PruneCommandTest {
  private static final List<String> PHASES =
      List.of("reading", "analysing", "scoring", "allocating", "applying", "verifying", "writing");

  @TempDir
  Path tmp;

  @ParameterizedTest
  @CsvSource({"--ratio,0.3", "--flops,0.5", "--params,0.4"})
  void eachTargetKindVerifiesAndWritesASmallerReadableModel(String option, String value) throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l1", option, value,
        "--verify", "--device", "cpu", "--round", "1");

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(flops(out) < flops(in), "FLOPs " + flops(out) + " vs " + flops(in));
    assertTrue(r.out().matches("(?s).*\\nverify +PASS +max abs diff .*"), r.out());
    assertTrue(r.out().matches("(?s)before / after\\n +before +after +change\\n  parameters .*"), r.out());
    assertTrue(r.out().contains("\n  file size "), r.out());
    assertTrue(r.out().contains("\ngroups    12 of 13 pruned, 1 unprunable\n"), r.out());
    for (String phase : PHASES) {
      assertTrue(r.err().matches("(?s)(.*\\n)?" + phase + " +\\d+\\.\\d\\d s.*"), phase + " missing:\n" + r.err());
    }
  }

  /**
   * Issue 16, point 6: prune kept ir_version 0 or 2, cycles and unknown operators, which ONNX's
   * checker refuses; it now refuses the model before any work, naming each problem.
   */
  @Test
  void anInvalidModelIsRefusedNamingEachProblem() throws Exception {
    Path in = ConvertCommandTest.invalidResnet(tmp);
    Path out = tmp.resolve("never.onnx");
    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--flops", "0.5");
    assertEquals(1, r.exitCode(), r.err());
    assertTrue(r.err().contains("\nonnx-prune: error: " + in + " is not a valid ONNX model (3 problems): ir_version 2"
        + " cannot have opset imports; they came with IR version 3; '/stem/stem.2/Relu' (Frobnicate): ONNX defines no"
        + " operator 'Frobnicate' in its default domain; graph 'torch_jit': nodes form a cycle: "), r.err());
    assertFalse(Files.exists(out));

    Path ir0 = Files.write(tmp.resolve("ir0.onnx"), dev.onnxprune.graph.proto.Onnx.ModelProto.parseFrom(
        Files.readAllBytes(TestModels.model("resnet20.onnx"))).toBuilder().setIrVersion(0).build().toByteArray());
    r = Cli.run("prune", ir0.toString(), "-o", out.toString(), "--flops", "0.5");
    assertEquals(1, r.exitCode(), r.err());
    assertTrue(r.err().contains("onnx-prune: error: " + ir0 + " is not a valid ONNX model: ir_version is 0;"),
        r.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void sensitivityAllocationMeasuresOnImagesAndSaysSoAndGlobalIsItsOwnAllocation() throws Exception {
    Path in = TestModels.model("vgg_bn.onnx");
    String images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
    String labels = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();

    Cli.Result r = Cli.run("prune", in.toString(), "-o", tmp.resolve("s.onnx").toString(), "--flops", "0.5",
        "--allocation", "sensitivity", "--images", images, "--labels", labels, "--mean", "0.2860", "--std", "0.3530",
        "--calib-limit", "200", "--device", "cpu", "--json");
    Cli.Result both = Cli.run("prune", in.toString(), "-o", tmp.resolve("b.onnx").toString(), "--flops", "0.5",
        "--global", "--allocation", "sensitivity");
    Cli.Result unknown = Cli.run("prune", in.toString(), "-o", tmp.resolve("u.onnx").toString(), "--flops", "0.5",
        "--allocation", "best");
    Cli.Result noData = Cli.run("prune", in.toString(), "-o", tmp.resolve("n.onnx").toString(), "--flops", "0.5",
        "--allocation", "sensitivity");

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().matches("(?s).*\\nmeasuring sensitivity +\\d+\\.\\d\\d s  6 groups x 9 ratios on 200"
        + " samples\\n.*"), r.err());
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertEquals("sensitivity", json.path("prune").path("allocation").asText());
    assertEquals(200, json.path("sensitivity").path("baseline").path("samples").asInt());
    assertEquals(2, both.exitCode());
    assertTrue(both.err().startsWith("onnx-prune: error: --global is --allocation global; it cannot go with"
        + " --allocation sensitivity\n"), both.err());
    assertEquals(2, unknown.exitCode());
    assertTrue(unknown.err().startsWith("onnx-prune: error: --allocation must be uniform, global or sensitivity:"
        + " 'best'\n"), unknown.err());
    assertEquals(2, noData.exitCode());
    assertTrue(noData.err().startsWith("onnx-prune: error: --images is required by the sensitivity allocation"),
        noData.err());
  }

  /** Issue 13, whole blocks: --blocks N removes residual blocks, verified exactly; too many is refused. */
  @Test
  void blocksRemovesWholeResidualBlocksVerifiedExactly() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("blocks.onnx");
    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--blocks", "2", "--criterion", "l1",
        "--verify");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("FLOPs     62564480 -> 48076160 (-23.2%), 2 of 9 blocks removed\n"), r.out());
    assertTrue(r.out().contains("verify    PASS  max abs diff 0.00, max rel diff 0.00"), r.out());
    assertTrue(r.out().matches("(?s).*block  3  conv .*not removable: its shortcut is not the identity.*"), r.out());
    assertEquals(7, dev.onnxprune.surgery.ResidualBlocks.find(OnnxModels.read(out)).size());

    Cli.Result tooMany = Cli.run("prune", in.toString(), "-o", tmp.resolve("never.onnx").toString(), "--blocks", "8");
    assertEquals(1, tooMany.exitCode());
    assertTrue(tooMany.err().contains("cannot prune: 8 blocks asked for, 7 of the model's 9 residual blocks are"
        + " removable"), tooMany.err());
    assertFalse(Files.exists(tmp.resolve("never.onnx")));
  }

  /**
   * Issue 13, whole blocks: --json and --report write the block pass in the channel prune's
   * report layout (one group of kind block per residual block); --block-flops is the FLOPs
   * target; inspect --groups lists the blocks.
   */
  @Test
  void blocksReportJsonFlopsTargetAndInspect() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path report = tmp.resolve("blocks-report");
    Cli.Result r = Cli.run("prune", in.toString(), "-o", tmp.resolve("b.onnx").toString(), "--blocks", "2",
        "--criterion", "l1", "--verify", "--json", "--report", report.toString());
    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals(dev.onnxprune.prune.PipelineResult.FORMAT, doc.get("format").asText());
    JsonNode prune = doc.get("prune");
    assertEquals("l1", prune.get("criterion").asText());
    assertEquals("2 blocks", prune.get("target").asText());
    assertEquals(62564480, prune.get("before").get("flops").asLong());
    assertEquals(48076160, prune.get("after").get("flops").asLong());
    assertTrue(prune.get("after").get("params").asLong() < prune.get("before").get("params").asLong());
    assertEquals(0.0, prune.get("verify").get("maxAbsDiff").asDouble());
    JsonNode groups = prune.get("groups");
    assertEquals(9, groups.size());
    int removed = 0;
    for (JsonNode g : groups) {
      assertEquals("block", g.get("kind").asText());
      if (g.get("prunable").asBoolean()) {
        assertTrue(g.get("scores").get("mean").asDouble() > 0, g.toString());
        removed += g.get("removed").size();
      } else {
        assertTrue(g.get("reasons").get(0).asText().startsWith("its shortcut is not the identity"), g.toString());
        assertTrue(g.get("scores").isNull());
      }
    }
    assertEquals(2, removed);
    assertEquals(doc.get("prune"), new ObjectMapper().readTree(report.resolve("report.json").toFile()).get("prune"));
    assertTrue(Files.size(report.resolve("report.html")) > 0);

    Cli.Result f = Cli.run("prune", in.toString(), "-o", tmp.resolve("f.onnx").toString(), "--block-flops", "0.2",
        "--criterion", "l1", "--verify");
    assertEquals(0, f.exitCode(), f.err());
    assertTrue(f.out().contains("FLOPs     62564480 -> 48076160 (-23.2%), 2 of 9 blocks removed\n"), f.out());
    Cli.Result bad = Cli.run("prune", in.toString(), "-o", tmp.resolve("n.onnx").toString(), "--block-flops", "1.5");
    assertEquals(2, bad.exitCode());
    assertTrue(bad.err().contains("--block-flops"), bad.err());

    Path vit = TestModels.model("vit_tiny.onnx");
    Cli.Result o = Cli.run("prune", vit.toString(), "-o", tmp.resolve("v.onnx").toString(), "--blocks", "1",
        "--criterion", "oracle", "--verify", "--images", TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString(),
        "--labels", TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString(), "--mean", "0.286", "--std",
        "0.353");
    assertEquals(0, o.exitCode(), o.err());
    // the README's table: Oracle removes vit_tiny's last MLP first
    assertTrue(o.out().matches("(?s).*\\nblock  5  mlp .*score [-0-9.e]+  removed\\n.*"), o.out());

    Cli.Result i = Cli.run("inspect", in.toString(), "--summary", "--groups");
    assertEquals(0, i.exitCode(), i.err());
    assertTrue(i.out().contains("residual blocks (9; 7 removable by prune --blocks)"), i.out());
    assertTrue(i.out().matches("(?s).*\n  block 3: its shortcut is not the identity.*"), i.out());
  }

  @Test
  void tokenModelVerifiesWithItsCostAtThePositionTableLength() throws Exception {
    Path in = TestModels.model(TestModels.BERT);
    Path out = tmp.resolve("bert.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l1", "--ratio", "0.3",
        "--round", "1", "--verify", "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\\nverify +PASS +max abs diff .*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  FLOPs +[\\d.]+K +[\\d.]+K +-[\\d.]+%\\n.*"), r.out());
    JsonNode totals = new ObjectMapper().readTree(report.toFile()).get("prune").get("before");
    assertEquals(0, totals.get("unknownShapeNodes").asInt(), totals.toString());
    // heads, MLPs and the hidden width; only the classifier's output stays
    assertTrue(r.out().contains("\ngroups    6 of 7 pruned (3 channels, 2 heads, 1 hidden), 1 unprunable\n"), r.out());
    assertTrue(Files.size(out) < Files.size(in));
  }

  @Test
  void unknownCostIsNotAChangeOfZero() throws Exception {
    Path in = Cli.write(Cli.symbolicSizes(), tmp.resolve("symbolic.onnx"));
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l1", "--ratio", "0.3",
        "--verify", "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\\nverify +PASS +max abs diff .*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  FLOPs +>= [\\d.]+ +>= [\\d.]+ +\\?\\n.*"), r.out());
    JsonNode totals = new ObjectMapper().readTree(report.toFile()).get("prune").get("before");
    int unknown = totals.get("unknownShapeNodes").asInt();
    assertEquals(2, unknown, totals.toString());
    assertTrue(r.out().contains("\n  " + unknown + " node(s) before and " + unknown + " after have unknown shapes and"
        + " are not in MACs/FLOPs: those are lower bounds, and their change is not known\n"), r.out());
  }

  @Test
  void failedVerificationSaysByHowMuchAndWritesNothing() throws Exception {
    Path out = tmp.resolve("never.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "0.5", "--verify", "--verify-tolerance", "1e-12");
    Cli.Result bad = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "0.5", "--verify", "--verify-tolerance", "-1");

    assertEquals(1, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\\nverify +FAIL .*tolerance 1e-12.*"), r.out());
    assertTrue(r.err().matches("(?s).*verification failed: the pruned model differs from the masked original by up to"
        + " [0-9.e-]+ \\(relative; tolerance 1e-12\\); " + java.util.regex.Pattern.quote(out.toString())
        + " was not written.*"), r.err());
    assertFalse(Files.exists(out));
    assertEquals(Cli.usageError("prune", "--verify-tolerance must be >= 0 and finite: -1.0"), bad.err());
  }

  @Test
  void flopsTargetIsReachedAndSaidSo() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "fpgm", "--flops", "0.5");

    assertEquals(0, r.exitCode(), r.err());
    double achieved = 1 - (double) flops(out) / flops(in);
    assertTrue(achieved >= 0.5, "achieved " + achieved);
    assertTrue(r.out().contains("\nachieved  " + PruneText.percent(achieved) + " of FLOPs removed (target 50.0%;"
        + " criterion fpgm, uniform)"), r.out());
    assertFalse(r.out().contains("verify"), "no --verify, no verify line: " + r.out());
  }

  @Test
  void reportListsEveryGroupWithChannelsScoresAndTotals() throws Exception {
    Path in = TestModels.model("resnet20.onnx");
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l2", "--flops", "0.5",
        "--verify", "--round", "1", "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(report.toFile()).get("prune");
    assertEquals("l2", doc.get("criterion").asText());
    assertEquals(13, doc.get("groups").size());
    JsonNode first = doc.get("groups").get(0);
    assertTrue(first.get("members").size() > 1, first.toString());
    assertEquals(16, first.get("channels").asInt());
    assertTrue(first.get("kept").asInt() < 16, first.toString());
    for (String s : new String[] {"min", "mean", "max"}) {
      assertTrue(first.get("scores").get(s).isNumber(), first.toString());
    }
    JsonNode last = doc.get("groups").get(12);
    assertFalse(last.get("prunable").asBoolean());
    assertEquals(last.get("channels").asInt(), last.get("kept").asInt());
    assertEquals(flops(in), doc.get("before").get("flops").asLong());
    assertEquals(flops(out), doc.get("after").get("flops").asLong());
    assertTrue(doc.get("after").get("params").asLong() < doc.get("before").get("params").asLong());
    assertTrue(doc.get("verify").get("passed").asBoolean());
    assertTrue(r.out().endsWith("wrote " + out + "; report " + report + "\n"), r.out());
  }

  @Test
  void globalRoundingAndFloorReachTheLibrary() throws Exception {
    Path in = TestModels.model("vgg_bn.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", tmp.resolve("out.onnx").toString(), "--criterion", "bn",
        "--params", "0.3", "--global", "--round", "8", "--min-channels", "8", "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(report.toFile()).get("prune");
    assertEquals("global", doc.get("allocation").asText());
    assertEquals("params 0.3", doc.get("target").asText());
    for (JsonNode g : doc.get("groups")) {
      if (g.get("prunable").asBoolean() && g.get("channels").asInt() >= 8) {
        assertEquals(0, g.get("kept").asInt() % 8, g.toString());
      }
    }
  }

  @Test
  void widthsAndTheMeasuredSpeedAreSaidAndReported() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", TestModels.model("mobilenetv2.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "0.4", "--round", "8", "--speed-check", "on", "--device", "cpu",
        "--report", report.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("\nwidths    multiples of 8 (as asked)\n"), r.out());
    assertTrue(r.out().matches("(?s).*\\nspeed     \\d+\\.\\d\\dx (faster|NOT FASTER) at batch 1 on CPU \\(median of"
        + " \\d+ pairs: \\d+\\.\\d\\d -> \\d+\\.\\d\\d ms; best \\d+\\.\\d\\dx\\)\\n.*"), r.out());
    assertTrue(r.err().matches("(?s).*\\nmeasuring latency +\\d+\\.\\d\\d s\\n.*"), r.err());
    JsonNode doc = new ObjectMapper().readTree(report.toFile()).get("prune");
    assertEquals(8, doc.get("widths").get("multiple").asInt());
    assertFalse(doc.get("widths").get("automatic").asBoolean());
    assertEquals(1, doc.get("speed").get("batch").asInt());
    assertTrue(doc.get("speed").get("pairs").asInt() >= 3, doc.get("speed").toString());
    boolean slower = doc.get("speed").get("speedup").asDouble() <= 1;
    assertEquals(slower,
        r.err().contains("warning: the pruned model is not faster than the original on CPU at batch 1"), r.err());
  }

  @Test
  void automaticWidthsSayWhyAndRoundOneKeepsExactWidths() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();

    Cli.Result auto = Cli.run("prune", in, "-o", tmp.resolve("a.onnx").toString(), "--criterion", "l1", "--ratio",
        "0.3", "--speed-check", "off", "--device", "cpu");
    Cli.Result exact = Cli.run("prune", in, "-o", tmp.resolve("b.onnx").toString(), "--criterion", "l1", "--ratio",
        "0.3", "--round", "1", "--speed-check", "off");

    assertEquals(0, auto.exitCode(), auto.err());
    assertTrue(auto.out().matches("(?s).*\\nwidths    multiples of \\d+ \\(auto: CPU .*"), auto.out());
    assertFalse(auto.out().contains("\nspeed "), auto.out());
    assertEquals(0, exact.exitCode(), exact.err());
    assertTrue(exact.out().contains("\nwidths    exact (as asked)\n"), exact.out());
  }

  @Test
  void externalDataGoesToADataFileBesideOut() throws Exception {
    Path out = tmp.resolve("ext.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "random", "--seed", "7", "--ratio", "0.5", "--external-data");

    assertEquals(0, r.exitCode(), r.err());
    Path data = ModelFiles.externalDataFiles(OnnxModels.read(out), out).iterator().next();
    assertEquals(tmp.resolve("ext.onnx"), data.resolveSibling("ext.onnx"));
    assertTrue(Files.size(data) > Files.size(out));
    assertTrue(flops(out) > 0);
  }

  @Test
  void missingTargetIsAUsageError() throws Exception {
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("prune", "missing required argument (specify one of these): (--ratio=R | --flops=F |"
        + " --params=P | --latency=L | --blocks=N | --block-flops=F)"), r.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void twoTargetsAreAUsageError() throws Exception {
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "0.5", "--params", "0.5");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("prune", "--flops=F, --params=P are mutually exclusive (specify only one)"), r.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void targetOutOfRangeIsOneLineNamingTheOption() throws Exception {
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "1.5");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("prune", "--flops must be in (0, 1): 1.5"), r.err());
    assertEquals("", r.out());
    assertFalse(Files.exists(out));
  }

  @Test
  void badCriterionDeviceAndRoundingAreUsageErrorsNamingTheOption() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();
    String out = tmp.resolve("out.onnx").toString();

    Cli.Result criterion = Cli.run("prune", in, "-o", out, "--criterion", "l3", "--flops", "0.5");
    Cli.Result device = Cli.run("prune", in, "-o", out, "--criterion", "l1", "--flops", "0.5", "--device", "tpu");
    Cli.Result round = Cli.run("prune", in, "-o", out, "--criterion", "l1", "--flops", "0.5", "--round", "0");
    Cli.Result word = Cli.run("prune", in, "-o", out, "--criterion", "l1", "--flops", "0.5", "--round", "fast");
    Cli.Result check = Cli.run("prune", in, "-o", out, "--criterion", "l1", "--flops", "0.5", "--speed-check", "maybe");

    assertEquals(2, criterion.exitCode());
    assertEquals(Cli.usageError("prune", "--criterion must be one of l1, l2, bn, fpgm, random, apoz, mean, oracle,"
        + " aofp, taylor, thinet, heads, wanda: 'l3'"), criterion.err());
    assertEquals(2, device.exitCode());
    assertEquals(Cli.usageError("prune", "--device must be cpu, cuda or auto: 'tpu'"), device.err());
    assertEquals(2, round.exitCode());
    assertEquals(Cli.usageError("prune", "--round must be >= 1: 0"), round.err());
    assertEquals(2, word.exitCode());
    assertEquals(Cli.usageError("prune", "--round must be auto or a whole number >= 1: 'fast'"), word.err());
    assertEquals(2, check.exitCode());
    assertEquals(Cli.usageError("prune", "--speed-check must be auto, on or off: 'maybe'"), check.err());
  }

  @Test
  void unreachableTargetFailsWithTheLibrarysMessageAndWritesNothing() throws Exception {
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--flops", "0.99", "--min-channels", "8");

    assertEquals(1, r.exitCode());
    String last = r.err().lines().reduce((a, b) -> b).orElse("");
    assertTrue(last.startsWith("onnx-prune: error: cannot prune: target flops 0.99 cannot be reached: with at least"
        + " 8 channel(s) per group the most that can be removed is "), r.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void failedVerificationExitsOneAndWritesNoModel() throws Exception {
    Path in = Cli.write(Cli.convConvLog(), tmp.resolve("nan.onnx"));
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l1", "--ratio", "0.5",
        "--verify", "--report", report.toString(), "--device", "cpu");

    assertEquals(1, r.exitCode(), r.out() + r.err());
    assertFalse(Files.exists(out), "the model must not be written when verification fails");
    assertTrue(r.out().matches("(?s).*\\nverify +FAIL .*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  file size +\\S+ \\S+ +not written\\n.*"), r.out());
    assertTrue(r.err().contains("onnx-prune: error: verification failed: "), r.err());
    assertTrue(r.err().contains(out + " was not written"), r.err());
    assertFalse(r.err().contains("\nwriting "), r.err());
    assertFalse(new ObjectMapper().readTree(report.toFile()).get("prune").get("verify").get("passed").asBoolean());
  }

  private static long flops(Path file) throws Exception {
    Model m = OnnxModels.read(file);
    ShapeInference.infer(m);
    return CostModel.analyze(m).totalFlops();
  }
}
