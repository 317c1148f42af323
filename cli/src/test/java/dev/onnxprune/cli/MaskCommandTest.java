package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MaskCommandTest {
  @TempDir
  Path tmp;

  @Test
  void sparsityHalfReachesHalfOverallAndTheFileHasTheZeros() throws Exception {
    Path out = tmp.resolve("masked.onnx");

    Cli.Result r = Cli.run("mask", TestModels.model("resnet20.onnx").toString(), "--sparsity", "0.5", "-o",
        out.toString(), "--json");

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals(MaskCommand.FORMAT, doc.get("format").asText());
    assertEquals(0.5, doc.get("sparsity").asDouble(), 0.01);
    assertEquals(22, doc.get("layers").size(), "21 Conv weights and the Gemm's");
    long zeros = 0;
    long elements = 0;
    Model written = OnnxModels.read(out);
    for (JsonNode l : doc.get("layers")) {
      Value w = written.graph().initializers().stream().filter(v -> v.name().equals(l.get("weight").asText()))
          .findFirst().orElseThrow();
      for (float f : w.initializer().toFloatArray()) {
        zeros += f == 0f ? 1 : 0;
        elements++;
      }
    }
    assertEquals(doc.get("zeros").asLong(), zeros);
    assertEquals(doc.get("elements").asLong(), elements);
  }

  @Test
  void tablePrintsARowPerWeightAndTheTotal() throws Exception {
    Path out = tmp.resolve("masked.onnx");

    Cli.Result r = Cli.run("mask", TestModels.model("resnet20.onnx").toString(), "--sparsity", "0.8", "--global",
        "-o", out.toString());

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().startsWith("masked weights (global 0.8)\n  weight  "), r.out());
    assertTrue(r.out().matches("(?s).*\\n  fc\\.weight +/fc/Gemm +640 +[\\d,]+ +\\d+\\.\\d%\\n.*"), r.out());
    assertTrue(r.out().contains("\ntotal sparsity 80.0%: "), r.out());
    assertTrue(Files.isRegularFile(out));
  }

  @Test
  void nmNotesTheLayersItLeavesDense() throws Exception {
    Path out = tmp.resolve("masked.onnx");

    Cli.Result r = Cli.run("mask", TestModels.model("resnet20.onnx").toString(), "--nm", "2:4", "-o", out.toString());

    assertEquals(0, r.exitCode(), r.err());
    // the stem conv reads 1 channel, which is not a multiple of 4
    assertTrue(r.out().matches("(?s).*\\n  stem\\.0\\.weight +/stem/stem\\.0/Conv +144 +0 +0\\.0%"
        + " +dense: input axis of 1 is not a multiple of 4\\n.*"), r.out());
    assertTrue(r.out().matches("(?s).*\\n  layers\\.0\\.conv1\\.weight +\\S+ +2,304 +1,152 +50\\.0%\\n.*"), r.out());
    assertTrue(r.out().contains("\n1 weight(s) left dense (see their notes)\n"), r.out());
  }

  @Test
  void nmExcludesSparsityAndGlobal() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();
    Path out = tmp.resolve("masked.onnx");

    Cli.Result both = Cli.run("mask", in, "--nm", "2:4", "--sparsity", "0.5", "-o", out.toString());
    Cli.Result global = Cli.run("mask", in, "--nm", "2:4", "--global", "-o", out.toString());
    Cli.Result none = Cli.run("mask", in, "-o", out.toString());

    assertEquals(2, both.exitCode());
    assertTrue(both.err().contains("mutually exclusive"), both.err());
    assertEquals(2, global.exitCode());
    assertEquals(2, none.exitCode());
    assertFalse(Files.exists(out));
  }

  @Test
  void badValuesAreOneLineUsageErrorsNamingTheOption() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();
    String out = tmp.resolve("masked.onnx").toString();

    Cli.Result sparsity = Cli.run("mask", in, "--sparsity", "1.5", "-o", out);
    Cli.Result order = Cli.run("mask", in, "--nm", "4:2", "-o", out);
    Cli.Result garbage = Cli.run("mask", in, "--nm", "two:four", "-o", out);

    assertEquals(2, sparsity.exitCode());
    assertEquals(Cli.usageError("mask", "--sparsity must be in (0, 1): 1.5"), sparsity.err());
    assertEquals(2, order.exitCode());
    assertEquals(Cli.usageError("mask", "--nm needs 0 < N < M: '4:2'"), order.err());
    assertEquals(2, garbage.exitCode());
    assertEquals(Cli.usageError("mask", Messages.badNm("two:four")), garbage.err());
  }

  @Test
  void sparseGptMasksTwoOfFourOnUnlabelledImagesWithErrorsBelowMagnitudes() throws Exception {
    Path out = tmp.resolve("sgpt.onnx");
    String images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
    Cli.Result r = Cli.run("mask", TestModels.model("vgg_bn.onnx").toString(), "--nm", "2:4", "--method", "sparsegpt",
        "--images", images, "--mean", "0.2860", "--std", "0.3530", "--calib-limit", "128", "--device", "cpu", "-o",
        out.toString(), "--json");

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals("sparsegpt 2:4", doc.get("mode").asText());
    assertEquals(0.5, doc.get("sparsity").asDouble(), 1e-9);
    int solved = 0;
    for (JsonNode l : doc.get("layers")) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("output error (\\d\\.\\d{4}) \\(magnitude (\\d\\.\\d{4})\\)")
          .matcher(l.get("note").asText());
      if (m.matches()) {
        solved++;
        assertTrue(Double.parseDouble(m.group(1)) <= Double.parseDouble(m.group(2)), l.toString());
      } else {
        assertTrue(l.get("note").asText().startsWith("dense: input axis of 1 "), l.toString()); // the first conv
      }
    }
    assertTrue(solved >= 5, doc.toString());
    assertEquals(doc.get("zeros").asLong(), dev.onnxprune.surgery.WeightSparsity.of(OnnxModels.read(out)).zeros());

    Cli.Result noData = Cli.run("mask", TestModels.model("vgg_bn.onnx").toString(), "--sparsity", "0.5", "--method",
        "sparsegpt", "-o", tmp.resolve("x.onnx").toString());
    assertEquals(Cli.usageError("mask", "--method sparsegpt needs data: give --images (and --labels)"), noData.err());
    Cli.Result global = Cli.run("mask", TestModels.model("vgg_bn.onnx").toString(), "--sparsity", "0.5", "--global",
        "--method", "sparsegpt", "--images", images, "-o", tmp.resolve("x.onnx").toString());
    assertEquals(Cli.usageError("mask", "--global applies to --method magnitude only"), global.err());
    Cli.Result both = Cli.run("mask", TestModels.model("vgg_bn.onnx").toString(), "--sparsity", "0.5", "--wanda",
        "--method", "sparsegpt", "--images", images, "-o", tmp.resolve("x.onnx").toString());
    assertEquals(Cli.usageError("mask", "--wanda scores magnitudes; it cannot go with --method sparsegpt"), both.err());
  }

  @Test
  void wandaMasksByWeightTimesInputNormOnCalibrationImages() throws Exception {
    Path out = tmp.resolve("wanda.onnx");
    String images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();

    Cli.Result r = Cli.run("mask", TestModels.model("vit_tiny.onnx").toString(), "--nm", "2:4", "--wanda", "--images",
        images, "--mean", "0.2860", "--std", "0.3530", "--calib-limit", "64", "-o", out.toString(), "--json");
    Cli.Result global = Cli.run("mask", TestModels.model("vit_tiny.onnx").toString(), "--sparsity", "0.5", "--global",
        "--wanda", "--images", images, "-o", tmp.resolve("never.onnx").toString());

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals("wanda 2:4", doc.get("mode").asText());
    // the patch Conv (1 input channel) stays dense; every Gemm/MatMul weight is exactly half zero
    int dense = 0;
    for (JsonNode l : doc.get("layers")) {
      if (l.get("note").asText().isEmpty()) {
        assertEquals(0.5, l.get("sparsity").asDouble(), 1e-9, l.toString());
      } else {
        assertEquals("dense: 1 input channels per group are not a multiple of 4", l.get("note").asText());
        dense++;
      }
    }
    assertEquals(1, dense);
    assertEquals(9 + 4, doc.get("layers").size() - dense, "9 MatMul weights, 3 out-projections and the head");
    assertTrue(Files.isRegularFile(out));
    assertEquals(2, global.exitCode());
    assertTrue(global.err().contains("--wanda compares weights within each output row; it takes no --global"),
        global.err());
  }
}
