package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.AtomicFiles;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.WriteOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 13: a write that the disk refuses ("No space left on device", "File too large")
 * said so without naming the file. A child JVM writes under a file-size limit of 16 KiB ({@code
 * ulimit -f}: the operating system refuses the write as a full disk would, with an error that names
 * no file), and its error must name the file it was writing. Nothing is left behind.
 */
class WriteErrorNamesTheFileTest {
  @TempDir
  Path dir;

  /** The child: writes what {@code args[0]} says to {@code args[1]}, printing the error's message. */
  public static void main(String[] args) {
    Path out = Path.of(args[1]);
    try {
      switch (args[0]) {
        case "model" -> OnnxModels.write(KillDuringWriteTest.model("m", 1), out);
        case "external" -> OnnxModels.write(KillDuringWriteTest.model("m", 1), out, WriteOptions.withExternalData());
        default -> AtomicFiles.write(out, "report", new byte[64 << 10]);
      }
      System.out.println("written");
    } catch (IOException e) {
      System.out.println("error: " + e.getMessage());
    }
  }

  @Timeout(60)
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"model", "external", "report"})
  void aWriteTheDiskRefusesNamesTheFile(String what) throws Exception {
    Path out = dir.resolve("out.onnx");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child;
    try {
      child = new ProcessBuilder("bash", "-c", "ulimit -f 16 && exec \"$0\" \"$@\"", java, "-Xmx128m",
          "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
          WriteErrorNamesTheFileTest.class.getName(), what, out.toString()).redirectErrorStream(true).start();
    } catch (IOException e) {
      Assumptions.abort("no bash to set a file-size limit: " + e.getMessage());
      return;
    }
    assertTrue(child.waitFor(50, TimeUnit.SECONDS));
    String said = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    Assumptions.assumeFalse(said.equals("written"), "the file-size limit did not apply here");
    Path named = what.equals("external") ? dir.resolve("out.onnx.data") : out;
    assertTrue(said.startsWith("error: " + named + ": cannot write it: "), said);
    assertTrue(said.endsWith("File too large"), said);
    try (var files = Files.list(dir)) {
      assertEquals(List.of(), files.toList(), "nothing is left behind");
    }
  }
}
