package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

class EvalCommandTest {
  private static final String IMAGES = TestModels.file("fmnist-test-images-idx3-ubyte.gz").toString();
  private static final String LABELS = TestModels.file("fmnist-test-labels-idx1-ubyte.gz").toString();
  private static final String MODEL = TestModels.model("resnet20.onnx").toString();

  @Test
  void jsonReportsTheManifestAccuracyOnTheBundledSubset() throws Exception {
    Cli.Result r = Cli.run("eval", MODEL, "--images", IMAGES, "--labels", LABELS, "--mean", "0.2860", "--std",
        "0.3530", "--device", "cpu", "--threads", "2", "--json");

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals(EvalCommand.FORMAT, doc.get("format").asText());
    assertEquals("CPU", doc.get("provider").asText());
    assertEquals(2000, doc.get("samples").asInt());
    assertEquals(256, doc.get("batch").asInt());
    assertEquals(TestModels.entry("resnet20.onnx").get("test_subset_accuracy").asDouble(), doc.get("top1").asDouble(),
        0.001);
    assertTrue(doc.get("top5").asDouble() >= doc.get("top1").asDouble());
    assertTrue(doc.get("loss").asDouble() > 0);
    assertTrue(doc.get("imagesPerSecond").asDouble() > 0);
  }

  @Test
  void tokenDataFeedsEachArrayToItsInputAndAMissingOneIsNamed() throws Exception {
    String bert = TestModels.model(TestModels.BERT).toString();
    String tokens = TestModels.file(TestModels.BERT_CALIBRATION).toString();

    Cli.Result r = Cli.run("eval", bert, "--images", tokens, "--device", "cpu", "--json");
    Cli.Result gpt = Cli.run("eval", TestModels.model(TestModels.GPT).toString(), "--images", tokens, "--device", "cpu");

    assertEquals(0, r.exitCode(), r.err());
    JsonNode doc = new ObjectMapper().readTree(r.out());
    assertEquals(256, doc.get("samples").asInt());
    assertTrue(doc.get("top1").asDouble() > 0.8, doc.toString());
    assertEquals(1, gpt.exitCode());
    assertEquals("onnx-prune: error: the data does not fit " + TestModels.model(TestModels.GPT) + ": the data has an"
        + " array 'attention_mask' but the model has no input of that name; inputs: [input_ids]\n", gpt.err());
  }

  @Test
  void textShowsAccuracyLossAndThroughput() {
    Cli.Result r = Cli.run("eval", MODEL, "--images", IMAGES, "--labels", LABELS, "--mean", "0.2860", "--std",
        "0.3530", "--limit", "100", "--batch", "32", "--device", "cpu");

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().startsWith("model  " + MODEL + " (CPU)\ndata   " + IMAGES + ": 100 samples [1, 28, 28], 10"
        + " classes\ntop-1  "), r.out());
    assertTrue(r.out().matches("(?s).*\\ntop-5  \\d+\\.\\d\\d%\\nloss   \\d\\.\\d{4}\\ntime   \\d+\\.\\d\\d s"
        + " \\([\\d,]+ images/s, batch 32\\)\\n"), r.out());
  }

  @Test
  void missingLabelsAreOneLine() {
    Cli.Result r = Cli.run("eval", MODEL, "--images", IMAGES);

    assertEquals(1, r.exitCode());
    assertEquals("onnx-prune: error: " + IMAGES + " has no labels, and evaluation needs them: give --labels FILE (IDX,"
        + " .npy or .npz), a .npz that holds them, or a folder with one subfolder per class\n", r.err());
  }

  @Test
  void badOptionValuesNameTheOption() {
    assertUsage("--batch must be > 0: 0", "--batch", "0");
    assertUsage("--device must be cpu, cuda or auto: 'gpu'", "--device", "gpu");
    int cpus = Runtime.getRuntime().availableProcessors();
    assertUsage("--threads must be in [0, " + 4 * cpus + "] (0: ONNX Runtime's choice; at most 4 per available"
        + " processor, " + cpus + " here): -1", "--threads", "-1");
    assertUsage("--device-id must be >= 0: -2", "--device-id", "-2");
    assertUsage("--mean and --std go together; give both (or neither)", "--mean", "0.5");
    assertUsage("--std values must be > 0: [0.0]", "--mean", "0.5", "--std", "0");
    assertUsage("--channels must be 1 or 3: 2", "--channels", "2");
    assertUsage("--limit must be >= 0: -5", "--limit", "-5");
  }

  @Test
  void cudaWithoutAGpuFailsWithTheReason() {
    Cli.Result r = Cli.run("eval", MODEL, "--images", IMAGES, "--labels", LABELS, "--limit", "10", "--device", "cuda");

    assertEquals(1, r.exitCode(), r.out());
    assertTrue(r.err().startsWith("onnx-prune: error: device CUDA was asked for, and the CUDA execution provider cannot be started: "),
        r.err());
  }

  @Test
  void dataThatDoesNotFitTheModelIsNamed() throws Exception {
    // 3 channels into a 1-channel model: ONNX Runtime refuses; the message says so in one line
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("eval-rgb");
    java.nio.file.Path cls = java.nio.file.Files.createDirectories(dir.resolve("0"));
    javax.imageio.ImageIO.write(new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_INT_RGB),
        "png", cls.resolve("a.png").toFile());

    Cli.Result r = Cli.run("eval", MODEL, "--images", dir.toString(), "--device", "cpu");

    assertEquals(1, r.exitCode(), r.out());
    assertTrue(r.err().startsWith("onnx-prune: error: "), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
  }

  private static void assertUsage(String message, String... options) {
    String[] args = new String[5 + options.length];
    System.arraycopy(new String[] {"eval", MODEL, "--images", IMAGES, "--labels"}, 0, args, 0, 5);
    args[4] = "--labels=" + LABELS;
    System.arraycopy(options, 0, args, 5, options.length);
    Cli.Result r = Cli.run(args);
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(Cli.usageError("eval", message), r.err());
  }
}
