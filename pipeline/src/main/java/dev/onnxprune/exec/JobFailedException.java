package dev.onnxprune.exec;

import dev.onnxprune.errors.OnnxPruneException;

/** A job failed on a backend, after the retries it allows. */
public final class JobFailedException extends OnnxPruneException {
  public JobFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
