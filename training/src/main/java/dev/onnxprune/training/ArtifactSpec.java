package dev.onnxprune.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.onnxprune.graph.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The description of an exported training artifact, written as {@value TrainingArtifact#SPEC}
 * beside the models: which file is which, the names of the inputs and outputs of the training
 * step, and every state tensor with the output that carries its next value.
 *
 * <p>A training loop: load the checkpoint's tensors as the current state; per batch feed the
 * state, {@code input}, {@code labels} (INT64 class indices), {@code learningRate} (FLOAT scalar)
 * and, when not null, {@code step} (INT64 scalar, the 1-based count of this step); read {@code
 * loss} and {@code logits}; then each state tensor's {@code updated} output is its value for the
 * next step. The eval model takes the {@code parameter} and {@code buffer} state tensors (same
 * names), {@code input} and {@code labels}, and gives {@code loss} and {@code logits}.
 *
 * @param version format version (1)
 * @param trainStep file of the training-step model
 * @param eval file of the eval model
 * @param checkpoint file of the checkpoint (an ONNX model holding one initializer per state tensor)
 * @param input name of the batch input
 * @param inputShape its shape, symbolic dimensions as strings
 * @param labels name of the labels input, or null when the model is not a classifier (its first
 *     output is not {@code [N, K]}: no cross-entropy, and the eval model has no loss)
 * @param learningRate name of the learning-rate input
 * @param step name of the step-count input, or null when the optimizer needs none
 * @param loss name of the loss output (mean cross-entropy over the batch)
 * @param logits name of the logits output
 * @param numClasses K of the logits {@code [N, K]}
 * @param optimizer the optimizer's type and hyper-parameters
 * @param batchNorm {@code training} or {@code inference}, and the running variance kind
 * @param labelSmoothing the cross-entropy's label smoothing
 * @param state every state tensor, parameters first, then optimizer state, then buffers
 * @param frozen initializers frozen by request
 * @param feeds the model's other graph inputs (e.g. channel masks), fed by the caller to both the
 *     training step and the eval model; empty for a model with one input
 * @param gradients value name -> the training step's output carrying the loss gradient with
 *     respect to it ({@link TrainingOptions.Builder#gradientOutputs}); empty when none asked
 * @param extraOutputs forward values the training step also outputs, under their own names
 *     ({@link TrainingOptions.Builder#extraOutputs})
 * @param unlabelled true when the training step takes no {@code labels} (its loss is distillation
 *     alone); {@code labels} is then the eval model's input only
 * @param teacher model output -> the training step's input carrying the teacher's value of it
 *     ({@link Distillation}); empty without distillation
 */
public record ArtifactSpec(int version, String trainStep, String eval, String checkpoint, String input,
    List<Object> inputShape, String labels, String learningRate, String step, String loss, String logits,
    long numClasses, Map<String, Object> optimizer, Map<String, String> batchNorm, double labelSmoothing,
    List<StateTensor> state, List<String> frozen, List<Feed> feeds, Map<String, String> gradients,
    List<String> extraOutputs, boolean unlabelled, Map<String, String> teacher) {

  public ArtifactSpec {
    teacher = teacher == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(teacher));
    feeds = feeds == null ? List.of() : List.copyOf(feeds);
    extraOutputs = extraOutputs == null ? List.of() : List.copyOf(extraOutputs);
    gradients = gradients == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(gradients));
  }

  /**
   * An extra graph input the caller feeds.
   *
   * @param name its input name
   * @param shape its dimensions, symbolic ones as strings
   */
  public record Feed(String name, List<Object> shape) {}

  /** Kinds of state tensor. */
  public static final String PARAMETER = "parameter";
  public static final String OPTIMIZER = "optimizer";
  public static final String BUFFER = "buffer";

  /**
   * One state tensor.
   *
   * @param name its input name (and initializer name in the checkpoint)
   * @param updated the training step's output holding its next value
   * @param kind {@link #PARAMETER}, {@link #OPTIMIZER} or {@link #BUFFER}
   * @param parameter for optimizer state, the parameter it belongs to; else null
   * @param shape its dimensions
   */
  public record StateTensor(String name, String updated, String kind, String parameter, List<Long> shape) {}

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Writes the description as JSON to {@code file}, atomically ({@link AtomicFiles#write}). */
  public void write(Path file) throws IOException {
    AtomicFiles.write(file, "output", JSON.writeValueAsBytes(this));
  }

  /**
   * @throws IOException when the file is missing or not an artifact description
   */
  public static ArtifactSpec read(Path file) throws IOException {
    try {
      return JSON.readValue(file.toFile(), ArtifactSpec.class);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IOException(file + ": not a training artifact description: " + e.getOriginalMessage(), e);
    }
  }

  /** The logits named as a label's check names them: {@code "output 'logits' [N, 10]"}. */
  public String classesOf() {
    return "output '" + logits + "' [N, " + numClasses + "]";
  }

  /** The state tensors of one kind, in order. */
  public List<StateTensor> state(String kind) {
    return state.stream().filter(s -> s.kind().equals(kind)).toList();
  }
}
