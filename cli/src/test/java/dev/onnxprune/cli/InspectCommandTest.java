package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.cost.CostReport;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
  @TempDir
  Path tmp;

  @Test
  void handBuiltModelShowsItsConvAndMatMulCost() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));

    Cli.Result r = Cli.run("inspect", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\\n  parameters +114 +\\(114;.*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  MACs +384 +\\(384\\).*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  FLOPs +768 +\\(768\\).*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n +0 +conv +Conv +\\[1, 2, 4, 4] +18 +288 +576\\n.*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n +2 +fc +MatMul +\\[1, 3] +96 +96 +192\\n.*"), r.out());
  }

  @Test
  void fixturePrintsTheCostModelTotalsAndARowPerNode() throws Exception {
    Path file = TestModels.model("resnet20.onnx");
    Model expected = OnnxModels.read(file);
    ShapeInference.infer(expected);
    CostReport cost = CostModel.analyze(expected);

    Cli.Result r = Cli.run("inspect", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("(" + Units.grouped(cost.totalParams()) + ";"), r.out());
    assertTrue(r.out().contains("(" + Units.grouped(cost.totalMacs()) + ")"), r.out());
    assertTrue(r.out().contains("(" + Units.grouped(cost.totalFlops()) + ")"), r.out());
    assertTrue(r.out().contains("opsets      ai.onnx 13"), r.out());
    assertTrue(r.out().contains("input   FLOAT  [batch, 1, 28, 28]"), r.out());
    String table = r.out().substring(r.out().indexOf("\nlayers\n"));
    long rows = table.lines().filter(l -> l.matches(" +\\d+  .*")).count();
    assertEquals(expected.graph().nodes().size(), rows, table);
  }

  @Test
  void jsonHasOneNodeEntryPerGraphNodeAndTheTotals() throws Exception {
    Path file = TestModels.model("resnet20.onnx");
    int nodes = OnnxModels.read(file).graph().nodes().size();

    Cli.Result r = Cli.run("inspect", "--json", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals(ModelSummary.FORMAT, doc.get("format").asText());
    assertEquals(nodes, doc.get("nodes").size());
    assertEquals(nodes, doc.get("totals").get("nodes").asInt());
    assertEquals("batch", doc.get("inputs").get(0).get("shape").get(0).asText());
    assertEquals(28, doc.get("inputs").get(0).get("shape").get(3).asInt());
    JsonNode conv = doc.get("nodes").findParents("op").stream()
        .filter(n -> n.get("op").asText().equals("Conv")).findFirst().orElseThrow();
    assertTrue(conv.get("macs").asLong() > 0, conv.toString());
  }

  @Test
  void jsonOfHandBuiltModelHasExactCounts() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));

    JsonNode doc = new ObjectMapper().readTree(Cli.run("inspect", "--json", file.toString()).out());

    assertEquals(114, doc.get("totals").get("parameters").asLong());
    assertEquals(384, doc.get("totals").get("macs").asLong());
    assertEquals(3, doc.get("nodes").size());
    assertEquals("Conv", doc.get("opHistogram").get(0).get("op").asText(), doc.toString());
  }

  @Test
  void nodeWithUnknownShapeShowsQuestionMarks() throws Exception {
    Path file = Cli.write(Cli.withCustomOp(), tmp.resolve("custom.onnx"));

    Cli.Result r = Cli.run("inspect", file.toString());
    JsonNode doc = new ObjectMapper().readTree(Cli.run("inspect", "--json", file.toString()).out());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().matches("(?s).*\\n +1 +mystery +com\\.example:Mystery +\\? +0 +\\? +\\?\\n.*"), r.out());
    assertTrue(r.out().contains("shape inference left 1 node(s) unknown"), r.out());
    JsonNode mystery = doc.get("nodes").get(1);
    assertTrue(mystery.get("macs").isNull(), mystery.toString());
    assertTrue(mystery.get("outputShapes").get(0).isNull(), mystery.toString());
    assertEquals("mystery", doc.get("shapeUnknown").get(0).get("node").asText());
  }

  @Test
  void symbolicSizesMakeTheCostALowerBoundAndSaysForHowManyNodes() throws Exception {
    Path file = Cli.write(Cli.symbolicSizes(), tmp.resolve("symbolic.onnx"));
    CostReport cost = CostModel.analyze(OnnxModels.read(file));
    int unknown = cost.unknownNodes();

    Cli.Result r = Cli.run("inspect", "--summary", file.toString());
    JsonNode doc = new ObjectMapper().readTree(Cli.run("inspect", "--json", file.toString()).out());

    assertEquals(0, r.exitCode(), r.err());
    assertEquals(2, unknown, "both convolutions depend on H and W");
    assertTrue(r.out().matches("(?s).*\n  FLOPs +>= [\\d.]+ +\\(" + Units.grouped(cost.totalFlops())
        + "; lower bound\\)\n.*"), r.out());
    assertTrue(r.out().contains("\n  " + unknown + " node(s) with unknown shapes are not in MACs/FLOPs (shown as ?):"
        + " the totals are lower bounds\n"), r.out());
    assertTrue(!r.out().contains("shape inference left"), "shapes are known, only symbolic: " + r.out());
    assertEquals(unknown, doc.get("totals").get("costUnknownNodes").asInt());
  }

  @Test
  void tokenModelIsCostedAtTheLengthOfItsPositionTable() throws Exception {
    Path file = TestModels.model(TestModels.BERT); // input_ids [batch, seq], a position table of 16 rows
    CostReport cost = CostModel.analyze(OnnxModels.read(file));

    Cli.Result r = Cli.run("inspect", "--summary", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(cost.complete(), cost.unknown().toString());
    assertTrue(r.out().contains("input   input_ids       INT64  [batch, seq]"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  FLOPs +[\\d.]+K +\\(" + Units.grouped(cost.totalFlops()) + "\\)\\n.*"),
        r.out());
    assertTrue(!r.out().contains("lower bound"), r.out());
  }

  @Test
  void summaryLeavesOutTheLayerTable() throws Exception {
    Path file = Cli.write(Cli.convFlattenMatMul(), tmp.resolve("tiny.onnx"));

    Cli.Result r = Cli.run("inspect", "--summary", file.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("\ntotals\n"), r.out());
    assertTrue(!r.out().contains("\nlayers\n"), r.out());
  }

  @Test
  void groupsListsEveryChannelGroupAndWhyTheOutputLayersCannotBePruned() throws Exception {
    Cli.Result r = Cli.run("inspect", "--summary", "--groups", TestModels.model("resnet20.onnx").toString());

    assertEquals(0, r.exitCode(), r.err());
    String groups = r.out().substring(r.out().indexOf("\nchannel groups (13; 12 prunable)\n"));
    assertTrue(groups.contains("\n  id  channels  kind      prunable  members  producers\n"), groups);
    assertTrue(groups.matches("(?s).*\\n +0 +16 +channels +yes +\\d+ +/stem/stem\\.0/Conv, .*"), groups);
    assertTrue(groups.matches("(?s).*\\n +12 +10 +channels +no +1 +/fc/Gemm\\n.*"), groups);
    assertTrue(groups.contains("\nwhy groups cannot be pruned\n  group 12: 'logits' is a graph output and keeps its"
        + " channels\n\nresidual blocks (9; 7 removable by prune --blocks)\n"), groups);
    // the two downsampling blocks keep their projection shortcut, and say so
    assertTrue(groups.matches("(?s).*\n +3 +block +no +\\d+ +/layers/layers\\.3/Add\n.*"), groups);
    assertTrue(groups.contains("\n  block 3: its shortcut is not the identity"), groups);
    assertTrue(groups.contains("\n  block 6: its shortcut is not the identity"), groups);
  }

  @Test
  void groupsOfATransformerSayWhichAreAttentionHeadsAndWhichTheHiddenWidth() throws Exception {
    Cli.Result r = Cli.run("inspect", "--summary", "--groups", TestModels.model(TestModels.BERT).toString());

    assertEquals(0, r.exitCode(), r.err());
    String groups = r.out().substring(r.out().indexOf("\nchannel groups (7; 6 prunable)\n"));
    assertTrue(groups.matches("(?s).*\\n +0 +32 +hidden +yes +\\d+ +/word/Gather, /position/Gather \\(\\+5 more\\)\\n.*"),
        groups);
    assertTrue(groups.matches("(?s).*\\n +1 +4 +heads +yes +\\d+ +/attn\\.0/MatMul\\n.*"), groups);
    assertTrue(groups.matches("(?s).*\\n +2 +64 +channels +yes +\\d+ +/fc1\\.0/MatMul\\n.*"), groups);
  }

  @Test
  void groupsInJsonCarryMembersAndReasonsAndAreAbsentWithoutTheOption() throws Exception {
    Path file = TestModels.model("resnet20.onnx");

    JsonNode doc = new ObjectMapper().readTree(Cli.run("inspect", "--json", "--groups", file.toString()).out());
    JsonNode plain = new ObjectMapper().readTree(Cli.run("inspect", "--json", file.toString()).out());

    JsonNode groups = doc.get("groups");
    assertEquals(13 + 9, groups.size(), "13 channel groups, then 9 residual blocks");
    JsonNode first = groups.get(0);
    assertTrue(first.get("prunable").asBoolean());
    assertEquals("/stem/stem.0/Conv", first.get("producers").get(0).asText());
    assertEquals("producer", first.get("members").get(0).get("role").asText());
    assertEquals(0, first.get("reasons").size());
    JsonNode last = groups.get(12);
    assertTrue(!last.get("prunable").asBoolean());
    assertTrue(last.get("reasons").get(0).asText().contains("graph output"), last.toString());
    JsonNode block = groups.get(13 + 3);
    assertEquals("block", block.get("kind").asText(), block.toString());
    assertTrue(!block.get("prunable").asBoolean(), block.toString());
    assertTrue(block.get("reasons").get(0).asText().contains("shortcut is not the identity"), block.toString());
    assertTrue(!plain.has("groups"), "groups only with --groups");
  }

  @Test
  void missingFileFailsWithOneLineNamingIt() {
    Path missing = tmp.resolve("nope.onnx");

    Cli.Result r = Cli.run("inspect", missing.toString());

    assertEquals(1, r.exitCode());
    assertEquals("", r.out());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("onnx-prune: error: " + missing), r.err());
  }
}
