package dev.onnxprune.errors;

/**
 * Data that does not fit the model or itself: a batch whose shape or type is not the model
 * input's, labels outside the model's classes, a label file with another count of entries than
 * its samples, samples that are already normalised when a normalisation is asked for. The message
 * names the input or file and says what was expected.
 */
public class DataMismatchException extends OnnxPruneException {
  public DataMismatchException(String message) {
    super(message);
  }

  public DataMismatchException(String message, Throwable cause) {
    super(message, cause);
  }
}
