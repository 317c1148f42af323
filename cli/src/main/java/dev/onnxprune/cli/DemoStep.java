package dev.onnxprune.cli;

import dev.onnxprune.graph.Model;
import java.nio.file.Path;
import java.util.List;

/**
 * One stage of {@code onnx-prune demo}: an onnx-prune command that makes a new model file
 * from the previous stage's, and the check of how the two relate. The demo runs its steps in
 * order and shows a before/after column per step.
 */
interface DemoStep {
  /** Short name, the column header in the demo's table (e.g. "convert"). */
  String title();

  /** The onnx-prune arguments that read {@code input} and write {@code output}. */
  List<String> arguments(Path input, Path output);

  /**
   * Checks {@code output} against {@code input} (both freshly read); a failed check fails the
   * demo.
   */
  Check check(Model input, Model output);

  /** A check's outcome; {@code verdict} explains it (under the demo's table, or in its error). */
  record Check(boolean ok, String verdict) {}

  /** {@code convert}: the round trip, which must give the same graph, attributes and weights. */
  final class RoundTrip implements DemoStep {
    @Override
    public String title() {
      return "convert";
    }

    @Override
    public List<String> arguments(Path input, Path output) {
      return List.of("convert", input.toString(), "-o", output.toString());
    }

    @Override
    public Check check(Model input, Model output) {
      return ModelComparison.firstDifference(input, output)
          .map(d -> new Check(false, d))
          .orElseGet(() -> new Check(true, "same graph, attributes and weights as its input, bit for bit"));
    }
  }
}
