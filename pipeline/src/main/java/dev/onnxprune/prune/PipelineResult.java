package dev.onnxprune.prune;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.graph.Model;
import dev.onnxprune.surgery.PrunePlan;
import dev.onnxprune.training.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What {@link PruningPipeline#run} did: the final model, the prune (plan and per-group report),
 * the model after each stage with its accuracy, the time each phase took, and warnings. Written
 * as JSON by {@link #toJson()} ({@link #FORMAT} names the layout).
 *
 * @param format the JSON layout's name and version, {@value #FORMAT}
 * @param input the model file read, or null when the pipeline was given a {@link Model}
 * @param model the final model: pruned, and recovered when recovery ran
 * @param prune the prune step's plan and report (groups with their widths before and after, costs,
 *     verification, a training-time method's trajectory); null when the pipeline only recovered
 * @param stages the model after each stage, in order: {@code original}, {@code pruned}, then
 *     {@code recalibrated} and {@code fine-tuned} when they ran
 * @param fineTuning loss and accuracy per epoch of fine-tuning (empty when none ran)
 * @param phaseSeconds wall time per phase, in the order the phases first ran
 * @param warnings what the user should know (a method stopped short, a model that is not faster, ...)
 * @param output the model file written, or null
 * @param sensitivity the sensitivity curves the allocation used ({@link Sensitivity}), or null
 * @param steps with several prune steps, each step's prune report in order (the last is {@code
 *     prune}'s); empty for one shot
 */
@JsonPropertyOrder({"format", "input", "criterion", "target", "stages", "phaseSeconds", "warnings", "output", "prune",
    "steps", "fineTuning", "sensitivity"})
public record PipelineResult(String format, Path input, @JsonIgnore Model model, @JsonIgnore PruneResult prune, List<Stage> stages,
    List<Trainer.EpochStats> fineTuning, Map<String, Double> phaseSeconds, List<String> warnings, Path output,
    Sensitivity.Result sensitivity, List<PruneReport> steps) {
  /** The name and version of the JSON layout. */
  public static final String FORMAT = "onnx-prune.pipeline/1";

  public PipelineResult {
    steps = steps == null ? List.of() : List.copyOf(steps);
  }

  /** A one-shot result (no step reports). */
  public PipelineResult(String format, Path input, Model model, PruneResult prune, List<Stage> stages,
      List<Trainer.EpochStats> fineTuning, Map<String, Double> phaseSeconds, List<String> warnings, Path output,
      Sensitivity.Result sensitivity) {
    this(format, input, model, prune, stages, fineTuning, phaseSeconds, warnings, output, sensitivity, List.of());
  }

  /**
   * The model after one stage.
   *
   * @param name {@code original}, {@code pruned}, {@code recalibrated} or {@code fine-tuned}
   * @param accuracy on the evaluation data, or null when there was none
   * @param params parameters
   * @param flops FLOPs (a lower bound when some shapes are unknown)
   * @param latencySeconds measured latency of one batch (median), or null when not measured
   * @param weightSparsity fraction of the Conv/Gemm/MatMul weights that are exactly zero
   *     ({@link dev.onnxprune.surgery.WeightSparsity})
   * @param outputError for a model that is not a classifier (or evaluation data without labels):
   *     its outputs against the original model's on the evaluation data; else null
   */
  public record Stage(String name, Accuracy accuracy, long params, long flops, Double latencySeconds,
      double weightSparsity, dev.onnxprune.runtime.OutputError outputError) {
    /** A stage of a dense model with no output error measured (no zero weights counted). */
    public Stage(String name, Accuracy accuracy, long params, long flops, Double latencySeconds) {
      this(name, accuracy, params, flops, latencySeconds, 0, null);
    }
  }

  /**
   * Accuracy of a classifier on labelled data.
   *
   * @param samples samples evaluated
   * @param top1 fraction whose label is the highest score
   * @param top5 fraction whose label is among the five highest
   * @param loss mean cross-entropy
   */
  public record Accuracy(int samples, double top1, double top5, double loss) {}

  /** The stage called {@code name}, if it ran. */
  public Optional<Stage> stage(String name) {
    return stages.stream().filter(s -> s.name().equals(name)).findFirst();
  }

  /** The plan that was applied. */
  public PrunePlan plan() {
    return prune == null ? null : prune.plan();
  }

  /** The prune report: per group, widths and scores; totals; verification; trajectory. */
  public PruneReport report() {
    return prune == null ? null : prune.report();
  }

  /** The criterion or method that chose the channels (in JSON). */
  @com.fasterxml.jackson.annotation.JsonProperty("criterion")
  public String criterion() {
    return prune == null ? null : prune.report().criterion();
  }

  /** The target (in JSON). */
  @com.fasterxml.jackson.annotation.JsonProperty("target")
  public String target() {
    return prune == null ? null : prune.report().target();
  }

  /** The prune report, for the JSON. */
  @com.fasterxml.jackson.annotation.JsonProperty("prune")
  PruneReport pruneReport() {
    return report();
  }

  /** The result as indented JSON. */
  public String toJson() {
    return JsonText.of(this);
  }

  /** Writes {@link #toJson()} to {@code file}, atomically. */
  public void writeJson(Path file) throws IOException {
    JsonText.write(file, toJson());
  }
}
