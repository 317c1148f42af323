package dev.onnxprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.report.HtmlReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * One step of {@code onnx-prune demo}: an onnx-prune command run in the demo's work folder, and the
 * check of what it wrote. The demo prints each command (so that it can be run again by hand), runs
 * it, and fails when its check fails.
 */
interface DemoStep {
  /** The bundled data the steps use, copied into the work folder. */
  record Data(Path trainImages, Path trainLabels, Path testImages, Path testLabels) {}

  /**
   * The onnx-prune arguments that read {@code input} and write into {@code dir}, in the lines the
   * demo prints them on.
   */
  List<List<String>> lines(Path input, Path dir);

  /** The arguments, all of them. */
  default List<String> arguments(Path input, Path dir) {
    return lines(input, dir).stream().flatMap(List::stream).toList();
  }

  /** Checks what the step wrote into {@code dir}; a failed check fails the demo. */
  Check check(Path dir) throws IOException;

  /**
   * A check's outcome: {@code verdict} says what was checked, in a line (the demo's last words, or
   * its error).
   */
  record Check(boolean ok, String verdict) {}

  /**
   * {@code prune} with everything a user cares about: half the FLOPs by L1 filter norm, widths in
   * multiples of 8 (ONNX Runtime's CPU kernels run those fast; 16, the AVX-512 multiple, would keep
   * ResNet-20's 16-wide first stage whole and cost the later stages much more accuracy), verified in
   * ONNX Runtime against the masked input; BatchNorm recalibration and one short epoch of
   * fine-tuning on the bundled training images; top-1 on the bundled test images after every stage;
   * latency before and after; the report folder.
   */
  final class Prune implements DemoStep {
    static final double FLOPS = 0.5;
    /** The output model, in the work folder. */
    static final String OUTPUT = "resnet20-pruned.onnx";
    /** The report folder, in the work folder. */
    static final String REPORT = "report";

    private final Data data;

    Prune(Data data) {
      this.data = data;
    }

    @Override
    public List<List<String>> lines(Path input, Path dir) {
      return List.of(
          List.of("prune", input.toString(), "-o", dir.resolve(OUTPUT).toString(), "--criterion", "l1", "--flops",
              Double.toString(FLOPS), "--round", "8", "--verify"),
          List.of("--images", data.trainImages().toString(), "--labels", data.trainLabels().toString()),
          List.of("--mean", "0.2860", "--std", "0.3530", "--recalibrate-bn", "--epochs", "1", "--batch", "32"),
          List.of("--val-images", data.testImages().toString(), "--val-labels", data.testLabels().toString()),
          List.of("--measure-latency", "32", "--report", dir.resolve(REPORT).toString()));
    }

    @Override
    public Check check(Path dir) throws IOException {
      JsonNode r = new ObjectMapper().readTree(dir.resolve(REPORT).resolve(HtmlReport.JSON).toFile());
      JsonNode prune = r.path("prune");
      boolean passed = prune.path("verify").path("passed").asBoolean(false);
      double achieved = prune.path("achieved").asDouble();
      double pruned = top1(r, "pruned");
      double tuned = top1(r, "fine-tuned");
      boolean recovered = tuned > pruned;
      String verdict = String.format(Locale.ROOT, "%s of the FLOPs removed; verified %s against the masked original"
          + " (max rel diff %.2g); top-1 %s after pruning, %s after recovery", PruneText.percent(achieved),
          passed ? "PASS" : "FAIL", prune.path("verify").path("maxRelDiff").asDouble(Double.NaN), pct(pruned),
          pct(tuned));
      return new Check(passed && achieved >= FLOPS && recovered, verdict + (recovered ? ""
          : "; recovery did not raise it"));
    }

    private static double top1(JsonNode report, String stage) {
      for (JsonNode s : report.path("stages")) {
        if (s.path("name").asText().equals(stage)) {
          return s.path("accuracy").path("top1").asDouble(Double.NaN);
        }
      }
      return Double.NaN;
    }

    private static String pct(double f) {
      return String.format(Locale.ROOT, "%.2f%%", 100 * f);
    }
  }
}
