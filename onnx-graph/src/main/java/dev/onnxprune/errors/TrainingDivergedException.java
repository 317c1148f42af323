package dev.onnxprune.errors;

/**
 * Training produced a value that is not finite: the loss of a step, or a parameter or BatchNorm
 * statistic after an update (a learning rate too large for the model, data with NaN or infinite
 * values). The step that produced it is not applied, and nothing is written. The message names
 * the step (and the epoch where there is one), the value and the learning rate.
 */
public class TrainingDivergedException extends OnnxPruneException {
  private final long step;
  private final String what;

  /**
   * @param step the optimizer step (1-based, counted from the start of training) that produced it
   * @param what what is not finite, e.g. {@code "the loss is NaN"} or
   *     {@code "parameter 'conv1.weight' is Infinity"}
   * @param message the whole message
   */
  public TrainingDivergedException(long step, String what, String message) {
    super(message);
    this.step = step;
    this.what = what;
  }

  /** The optimizer step (1-based, from the start of training) that produced the value. */
  public long step() {
    return step;
  }

  /** What is not finite, e.g. {@code "the loss is NaN"}. */
  public String what() {
    return what;
  }
}
