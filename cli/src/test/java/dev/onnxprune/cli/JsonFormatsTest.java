package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command that reports takes {@code --json} and prints one document whose first field,
 * {@code format}, names its layout and version; stdout holds nothing else.
 */
class JsonFormatsTest {
  private static final String MODEL = TestModels.model("vgg_bn.onnx").toString();
  private static final String IMAGES = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
  private static final String LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();
  private static final List<String> DATA = List.of("--images", IMAGES, "--labels", LABELS, "--mean", "0.286", "--std",
      "0.353");

  @TempDir
  Path tmp;

  @Test
  void everyReportingCommandHasJson() {
    for (String command : List.of("inspect", "convert", "prune", "score", "mask", "eval", "finetune", "sensitivity",
        "export-training")) {
      assertTrue(Cli.run(command, "--help").out().contains("--json"), command);
    }
  }

  @Test
  void inspect() throws Exception {
    JsonNode doc = json("inspect", MODEL, "--json", "--groups");
    assertFormat(ModelSummary.FORMAT, doc);
    assertTrue(doc.get("groups").size() > 0);
  }

  @Test
  void convert() throws Exception {
    JsonNode doc = json("convert", MODEL, "-o", tmp.resolve("c.onnx").toString(), "--fold-bn", "--json");
    assertFormat("onnx-prune.convert/1", doc);
    assertTrue(doc.get("foldBn").get("folded").asInt() > 0, doc.toString());
    assertTrue(doc.get("nodesAfter").asInt() < doc.get("nodesBefore").asInt(), doc.toString());
    assertTrue(doc.get("dataFile").isNull());
  }

  @Test
  void prune() throws Exception {
    JsonNode doc = json("prune", MODEL, "-o", tmp.resolve("p.onnx").toString(), "--flops", "0.5", "--json",
        "--device", "cpu");
    assertFormat(PipelineResult.FORMAT, doc);
    assertEquals("l1", doc.get("prune").get("criterion").asText());
  }

  @Test
  void score() throws Exception {
    JsonNode doc = json("score", MODEL, "--criterion", "l2", "--json");
    assertFormat("onnx-prune.score/1", doc);
    assertEquals("l2", doc.get("criterion").asText());
  }

  @Test
  void mask() throws Exception {
    JsonNode doc = json("mask", MODEL, "-o", tmp.resolve("m.onnx").toString(), "--nm", "2:4", "--json");
    assertFormat(MaskCommand.FORMAT, doc);
  }

  @Test
  void eval() throws Exception {
    List<String> args = new ArrayList<>(List.of("eval", MODEL, "--limit", "64", "--device", "cpu", "--json"));
    args.addAll(DATA);
    JsonNode doc = json(args.toArray(new String[0]));
    assertFormat(EvalCommand.FORMAT, doc);
    assertEquals(64, doc.get("samples").asInt());
  }

  @Test
  void finetune() throws Exception {
    List<String> args = new ArrayList<>(List.of("finetune", MODEL, "-o", tmp.resolve("f.onnx").toString(), "--epochs",
        "1", "--limit", "64", "--device", "cpu", "--json"));
    args.addAll(DATA);
    JsonNode doc = json(args.toArray(new String[0]));
    assertFormat(PipelineResult.FORMAT, doc);
    assertEquals(1, doc.get("fineTuning").size());
    assertTrue(doc.get("prune").isNull());
  }

  @Test
  void sensitivity() throws Exception {
    List<String> args = new ArrayList<>(List.of("sensitivity", MODEL, "--ratios", "0.5", "--limit", "32", "--device",
        "cpu", "--json"));
    args.addAll(DATA);
    JsonNode doc = json(args.toArray(new String[0]));
    assertFormat(dev.onnxprune.prune.Sensitivity.FORMAT, doc);
    assertEquals(32, doc.get("baseline").get("samples").asInt());
  }

  @Test
  void exportTraining() throws Exception {
    JsonNode doc = json("export-training", MODEL, "-o", tmp.resolve("art").toString(), "--json");
    assertFormat("onnx-prune.export-training/1", doc);
    assertEquals("train_step.onnx", doc.get("files").get("trainStep").asText());
    assertTrue(doc.get("parameters").asLong() > 0);
  }

  private static JsonNode json(String... args) throws Exception {
    Cli.Result r = Cli.run(args);
    assertEquals(0, r.exitCode(), r.err());
    return new ObjectMapper().readTree(r.out());
  }

  private static void assertFormat(String format, JsonNode doc) {
    assertTrue(format.matches("onnx-prune\\.[a-z-]+/\\d+"), format);
    assertEquals("format", doc.fieldNames().next(), "format comes first: " + doc);
    assertEquals(format, doc.get("format").asText());
  }
}
