package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.WriteOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer killed (SIGKILL, no clean-up of any kind) at any step of writing a model with external
 * data over an existing model that has its own data leaves the old model with its old data or the
 * new model with its new data, never one with the other's data. A child JVM writes and pauses at
 * the named step (the writer's {@code onnxprune.test.pauseWriteAt} hook); this test then kills it.
 */
class KillDuringWriteTest {
  private static final int FLOATS = 4096;

  @TempDir
  Path dir;

  /** Two 16 KiB weights (so the data file is written in more than one step), all equal to {@code value}. */
  static Model model(String name, float value) {
    Graph g = new Graph(name);
    List<Value> weights = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      float[] data = new float[FLOATS];
      Arrays.fill(data, value);
      weights.add(g.addInitializer("w" + i, Tensor.ofFloats(new long[] {FLOATS}, data)));
    }
    g.addOutput(g.addNode("Sum", "sum", weights, List.of("y")).output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  /** The child: writes the new model over {@code args[0]}, with external data. */
  public static void main(String[] args) throws IOException {
    OnnxModels.write(model("new", 2), Path.of(args[0]), WriteOptions.withExternalData());
  }

  /** "old" or "new" when {@code file} is exactly that model, with its weights; else what it holds. */
  private static String whichModel(Path file) {
    Model m;
    try {
      m = OnnxModels.read(file);
    } catch (IOException e) {
      return "unreadable: " + e.getMessage();
    }
    String name = m.graph().name();
    float want = "old".equals(name) ? 1 : "new".equals(name) ? 2 : Float.NaN;
    for (Value w : m.graph().initializers()) {
      float[] got = w.initializer().toFloatArray();
      for (float f : got) {
        if (f != want) {
          return "model '" + name + "' with a weight " + w.name() + " of " + f + " (its own are " + want + ")";
        }
      }
    }
    return m.graph().initializers().size() == 2 ? name : "model '" + name + "' without its weights";
  }

  @ParameterizedTest(name = "killed at {0}: {1}")
  @CsvSource({
      "data-partly-written, old",
      "data-written, old",
      "model-written, old",
      "data-renamed, old",
      "model-renamed, new",
      "done, new"})
  @Timeout(60)
  void killedWriterLeavesTheOldModelWithItsDataOrTheNewOneWithItsData(String step, String expected)
      throws Exception {
    Path out = dir.resolve("m.onnx");
    OnnxModels.write(model("old", 1), out, WriteOptions.withExternalData());
    assertEquals("old", whichModel(out));

    Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Donnxprune.test.pauseWriteAt=" + step,
        "-cp", System.getProperty("java.class.path"), KillDuringWriteTest.class.getName(), out.toString())
        .redirectErrorStream(true).start();
    try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(),
        StandardCharsets.UTF_8))) {
      StringBuilder seen = new StringBuilder();
      String line;
      while ((line = lines.readLine()) != null && !line.equals("paused at " + step)) {
        seen.append(line).append('\n');
      }
      assertNotNull(line, "the child never reached step " + step + ":\n" + seen);
      child.destroyForcibly(); // SIGKILL: no finally blocks, no shutdown hooks
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    } finally {
      child.destroyForcibly();
    }

    assertEquals(expected, whichModel(out));
  }
}
