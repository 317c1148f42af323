package dev.onnxprune.graph;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a readable ONNX model: not protobuf, truncated, corrupt, missing its
 * external data, or inconsistent (an undefined value, a duplicate definition). The message
 * names the file and, where known, the node and what was expected.
 */
public class ModelFormatException extends IOException {
  private final Path file;

  public ModelFormatException(Path file, String message) {
    super(file + ": " + message);
    this.file = file;
  }

  public ModelFormatException(Path file, String message, Throwable cause) {
    super(file + ": " + message, cause);
    this.file = file;
  }

  /** The file that could not be read (may be null for streams). */
  public Path file() {
    return file;
  }
}
