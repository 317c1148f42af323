package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.onnxprune.graph.ModelFormatException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files that are not readable ONNX models give a {@link ModelFormatException} that names the
 * file and says what is wrong; no model is returned, so a read-then-write never creates its
 * output.
 */
class CorruptModelFileTest {
  @TempDir
  Path dir;

  /** Reads {@code in} and writes it to {@code out}, as a CLI conversion does; asserts the failure. */
  private ModelFormatException assertConversionFails(Path in, String expectedReason) throws IOException {
    Path out = dir.resolve("out.onnx");
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.write(OnnxModels.read(in), out));
    assertEquals(in, e.file());
    assertTrue(e.getMessage().startsWith(in + ": "), e.getMessage());
    assertTrue(e.getMessage().contains(expectedReason), "'" + e.getMessage() + "' should say '" + expectedReason + "'");
    assertFalse(Files.exists(out), "the output was created");
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(), s.filter(p -> !p.equals(in)).toList(), "stray files beside the input");
    }
    return e;
  }

  @Test
  void modelTruncatedAtHalfIsReportedAsTruncated() throws IOException {
    byte[] bytes = Files.readAllBytes(TestModels.model("resnet20.onnx"));
    Path half = Files.write(dir.resolve("half.onnx"), Arrays.copyOf(bytes, bytes.length / 2));
    assertConversionFails(half, "truncated or corrupt");
  }

  @Test
  void randomBytesAreNotAModel() throws IOException {
    byte[] noise = new byte[4096];
    new Random(42).nextBytes(noise);
    Path f = Files.write(dir.resolve("noise.onnx"), noise);
    assertConversionFails(f, "ONNX model");
  }

  @Test
  void textFileIsNotAModel() throws IOException {
    Path f = Files.writeString(dir.resolve("notes.onnx"), "This is a README, not a model.\nSecond line.\n",
        StandardCharsets.UTF_8);
    assertConversionFails(f, "ONNX model");
  }

  @Test
  void jpegIsNotAModel() throws IOException {
    byte[] jpeg = {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01,
        0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, (byte) 0xFF, (byte) 0xDB, 0x00, 0x43, 0x00};
    Path f = Files.write(dir.resolve("photo.onnx"), jpeg);
    assertConversionFails(f, "not a valid ONNX model");
  }

  /** Issue 16, point 10: a FIFO as the model waited for a writer forever. */
  @Test
  void aFifoIsRefusedWithoutWaitingForAWriter() throws Exception {
    Path fifo = dir.resolve("model.onnx");
    org.junit.jupiter.api.Assumptions.assumeTrue(
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo");
    org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
        () -> assertConversionFails(fifo, "is a FIFO (named pipe), not a regular file; an ONNX model must be a file"));
  }

  @Test
  void emptyFileIsReportedAsEmpty() throws IOException {
    Path f = Files.createFile(dir.resolve("empty.onnx"));
    assertConversionFails(f, "empty file");
  }

  @Test
  void directoryIsReportedAsADirectory() throws IOException {
    Path d = Files.createDirectory(dir.resolve("model.onnx"));
    assertConversionFails(d, "is a directory");
  }

  @Test
  void missingFileIsReportedAsMissing() throws IOException {
    assertConversionFails(dir.resolve("absent.onnx"), "no such file");
  }

  @Test
  void inMemoryBytesAreReportedUnderTheGivenName() {
    Path name = Path.of("upload.onnx");
    ModelFormatException e = assertThrows(ModelFormatException.class,
        () -> OnnxModels.read("plain text".getBytes(StandardCharsets.UTF_8), name));
    assertEquals(name, e.file());
  }

  /**
   * Cuts and bit flips anywhere in a real model: the reader either returns a model or throws
   * ModelFormatException, never another exception (a corrupt file must not surface as an NPE).
   */
  @Test
  void truncationsAndBitFlipsAnywhereGiveAModelOrModelFormatException() throws IOException {
    byte[] bytes = Files.readAllBytes(TestModels.model("vgg_bn.onnx"));
    Random random = new Random(7);
    int rejected = 0;
    Path f = dir.resolve("mutant.onnx");
    for (int i = 0; i < 300; i++) {
      byte[] mutant;
      String what;
      if (i % 3 == 0) {
        int cut = 1 + random.nextInt(bytes.length - 1);
        mutant = Arrays.copyOf(bytes, cut);
        what = "cut at " + cut;
      } else {
        mutant = bytes.clone();
        int at = i < 150 ? random.nextInt(Math.min(bytes.length, 4096)) : random.nextInt(bytes.length);
        mutant[at] ^= (byte) (1 << random.nextInt(8));
        what = "bit flip at " + at;
      }
      Files.write(f, mutant);
      try {
        OnnxModels.toBytes(OnnxModels.read(f));
      } catch (ModelFormatException e) {
        rejected++;
        assertTrue(e.getMessage().startsWith(f + ": "), what + ": " + e.getMessage());
      } catch (IOException | RuntimeException e) {
        fail(what + ": " + e, e);
      }
    }
    assertTrue(rejected > 50, "only " + rejected + " of 300 mutants were rejected; the mutations are too weak");
  }
}
