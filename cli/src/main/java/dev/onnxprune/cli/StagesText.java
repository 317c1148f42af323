package dev.onnxprune.cli;

import dev.onnxprune.cli.TextTable.Align;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.surgery.WeightSparsity;
import java.io.PrintWriter;
import java.util.Locale;

/** The stages of a pipeline run as a table: accuracy, costs and latency after each. */
final class StagesText {
  private StagesText() {}

  /** Prints the table (a blank line first); nothing when there is only one stage and no accuracy. */
  static void print(PipelineResult r, PrintWriter out) {
    boolean accuracy = r.stages().stream().anyMatch(s -> s.accuracy() != null);
    boolean latency = r.stages().stream().anyMatch(s -> s.latencySeconds() != null);
    boolean error = r.stages().stream().anyMatch(s -> s.outputError() != null);
    if (!accuracy && !latency && !error) {
      return;
    }
    boolean sparse = r.stages().stream().anyMatch(s -> s.weightSparsity() >= WeightSparsity.MASKED_AT);
    TextTable t = new TextTable("  ", Align.LEFT, Align.RIGHT, Align.RIGHT, Align.RIGHT, Align.RIGHT, Align.RIGHT,
        Align.RIGHT, Align.RIGHT, Align.RIGHT);
    t.row("stage", "top-1", "top-5", "loss", "params", "FLOPs", "latency", sparse ? "zero weights" : "",
        error ? "output error" : "");
    for (PipelineResult.Stage s : r.stages()) {
      PipelineResult.Accuracy a = s.accuracy();
      t.row(s.name(), a == null ? "-" : pct(a.top1()), a == null ? "-" : pct(a.top5()),
          a == null ? "-" : String.format(Locale.ROOT, "%.4f", a.loss()), Units.count(s.params()),
          Units.count(s.flops()), s.latencySeconds() == null ? "-"
              : String.format(Locale.ROOT, "%.2f ms", 1e3 * s.latencySeconds()),
          sparse ? pct(s.weightSparsity()) : "", s.outputError() == null ? error ? "-" : ""
              : String.format(Locale.ROOT, "%.4g", s.outputError().relative()));
    }
    out.println();
    t.print(out);
  }

  private static String pct(double f) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * f);
  }
}
