package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 10: {@code --threads 100000} never ran (the heap grew by 65 MB/s), and
 * {@code finetune} reading a FIFO waited forever. Both are refused before any work.
 */
class InputLimitsTest {
  static final String VGG = TestModels.model("vgg_bn.onnx").toString();
  static final String IMAGES = TestModels.file("fmnist-calib-images-idx3-ubyte.gz").toString();
  static final String LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz").toString();

  @TempDir
  Path tmp;

  @Test
  void threadsBeyondFourPerProcessorAreAUsageError() {
    int cpus = Runtime.getRuntime().availableProcessors();
    String expected = "onnx-prune: error: --threads must be in [0, " + 4 * cpus + "] (0: ONNX Runtime's choice; at most"
        + " 4 per available processor, " + cpus + " here): 100000";
    Cli.Result r = Cli.run("eval", VGG, "--images", IMAGES, "--labels", LABELS, "--threads", "100000");
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(expected, firstLine(r));
    Path out = tmp.resolve("never.onnx");
    r = Cli.run("finetune", VGG, "-o", out.toString(), "--epochs", "1", "--images", IMAGES, "--labels", LABELS,
        "--threads", "100000");
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(expected, firstLine(r));
    assertFalse(Files.exists(out));
  }

  /** A usage error's line (a hint to --help follows it). */
  private static String firstLine(Cli.Result r) {
    return r.err().lines().findFirst().orElse("");
  }

  @Test
  void aFifoAsDataOrModelIsRefusedWithoutWaiting() throws Exception {
    Path fifo = tmp.resolve("fifo");
    Assumptions.assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo");
    Path out = tmp.resolve("never.onnx");
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      Cli.Result r = Cli.run("finetune", VGG, "-o", out.toString(), "--epochs", "1", "--images", fifo.toString(),
          "--labels", LABELS);
      assertEquals(2, r.exitCode(), r.err());
      assertEquals("onnx-prune: error: --images must be a regular file or a folder, not a FIFO (named pipe): '" + fifo
          + "'", firstLine(r));
      r = Cli.run("prune", VGG, "-o", out.toString(), "--criterion", "taylor", "--flops", "0.3", "--images", IMAGES,
          "--labels", fifo.toString());
      assertEquals(2, r.exitCode(), r.err());
      assertEquals("onnx-prune: error: --labels must be a regular file or a folder, not a FIFO (named pipe): '" + fifo
          + "'", firstLine(r));
      r = Cli.run("prune", fifo.toString(), "-o", out.toString(), "--flops", "0.3");
      assertEquals(2, r.exitCode(), r.err());
      assertEquals("onnx-prune: error: MODEL must be a regular file, not a FIFO (named pipe): '" + fifo + "'",
          firstLine(r));
      // eval checks no outputs; the dataset reader refuses it
      r = Cli.run("eval", VGG, "--images", fifo.toString(), "--labels", LABELS);
      assertEquals(1, r.exitCode(), r.err());
      assertEquals("onnx-prune: error: " + fifo + ": is a FIFO (named pipe), not a regular file; data must be a file"
          + " (or, for images, a folder of class subfolders)\n", r.err());
      r = Cli.run("inspect", fifo.toString());
      assertEquals(1, r.exitCode(), r.err());
      assertEquals("onnx-prune: error: " + fifo + ": is a FIFO (named pipe), not a regular file; an ONNX model must be"
          + " a file\n", r.err());
    });
    assertFalse(Files.exists(out));
  }
}
