package dev.onnxprune.errors;

/**
 * Base of every error onnx-prune reports about what it was given: an option value it does not
 * accept ({@link InvalidOptionException}), a model file it cannot read
 * ({@link dev.onnxprune.graph.ModelFormatException}), data that does not fit the model
 * ({@link DataMismatchException}), a target it cannot reach ({@link TargetUnreachableException}),
 * a model with nothing to prune ({@link NothingPrunableException}), or a pruned model that failed
 * its equivalence check. Messages speak the API's terms (option keys such as {@code target.flops});
 * the command line and the Maven plugin translate keys into their own spelling.
 *
 * <p>Unchecked, like {@link IllegalArgumentException}, which it replaces for these cases: a
 * caller catches it where it can tell its user what to change.
 */
public class OnnxPruneException extends RuntimeException {
  public OnnxPruneException(String message) {
    super(message);
  }

  public OnnxPruneException(String message, Throwable cause) {
    super(message, cause);
  }
}
