package dev.onnxprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.OnnxModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

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

  /** Checks the files the step wrote against {@code input}; a failed check fails the demo. */
  Check check(Path input, Path output) throws IOException;

  /**
   * A check's outcome: {@code cell} is its word in the demo's table, {@code verdict} explains it
   * (under the table, or in the demo's error).
   */
  record Check(boolean ok, String cell, String verdict) {}

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
    public Check check(Path input, Path output) throws IOException {
      return ModelComparison.firstDifference(OnnxModels.read(input), OnnxModels.read(output))
          .map(d -> new Check(false, "differs", d))
          .orElseGet(() -> new Check(true, "identical", "same graph, attributes and weights as its input, bit for bit"));
    }
  }

  /**
   * {@code prune}: half the FLOPs by L1 filter norm, verified in ONNX Runtime against the input
   * with the removed channels masked; the check reads the step's report.
   */
  final class Prune implements DemoStep {
    static final double FLOPS = 0.5;

    @Override
    public String title() {
      return "prune";
    }

    /** The report beside the output: {@code 2-prune.onnx} has {@code 2-prune.report.json}. */
    static Path report(Path output) {
      String name = output.getFileName().toString().replaceFirst("\\.onnx$", "");
      return output.resolveSibling(name + ".report.json");
    }

    @Override
    public List<String> arguments(Path input, Path output) {
      return List.of("prune", input.toString(), "-o", output.toString(), "--criterion", "l1", "--flops",
          Double.toString(FLOPS), "--verify", "--report", report(output).toString());
    }

    @Override
    public Check check(Path input, Path output) throws IOException {
      JsonNode r = new ObjectMapper().readTree(report(output).toFile()).path("prune");
      JsonNode v = r.path("verify");
      double achieved = r.path("achieved").asDouble();
      boolean passed = v.path("passed").asBoolean(false);
      String verdict = String.format(Locale.ROOT, "%s of FLOPs removed; verified %s against its input with the"
          + " removed channels masked (max rel diff %.2g); report %s", PruneText.percent(achieved),
          passed ? "PASS" : "FAIL", v.path("maxRelDiff").asDouble(Double.NaN), report(output).getFileName());
      return new Check(passed && achieved >= FLOPS, passed ? "verify PASS" : "verify FAIL", verdict);
    }
  }
}
