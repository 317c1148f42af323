package dev.onnxprune.runtime;

import dev.onnxprune.errors.OnnxPruneException;

/** Long work was cancelled ({@link Progress}); nothing it would have written was written. */
public class CancelledException extends OnnxPruneException {
  public CancelledException(String why) {
    super("cancelled: " + why);
  }
}
