package dev.onnxprune.training;

/**
 * A graph cannot be differentiated or turned into a training artifact: an op on the path from
 * the parameters to the loss has no gradient rule, a shape that a rule needs is unknown, an
 * attribute is outside what the rule handles, or an option names something the model lacks.
 * The message names the node, op or value and says what to change.
 */
public class GradientException extends RuntimeException {
  public GradientException(String message) {
    super(message);
  }
}
