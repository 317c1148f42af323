package dev.onnxprune.runtime;

import java.io.IOException;
import java.nio.file.Path;

/** A data file or folder cannot be read as a dataset; the message names it and says what is wrong. */
public final class DatasetException extends IOException {
  private final transient Path file;

  /** {@code "<file>: <what>"}. */
  public DatasetException(Path file, String what) {
    super(file + ": " + what);
    this.file = file;
  }

  public DatasetException(Path file, String what, Throwable cause) {
    super(file + ": " + what, cause);
    this.file = file;
  }

  /** The file or folder at fault. */
  public Path file() {
    return file;
  }
}
