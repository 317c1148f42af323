package dev.onnxprune.cli;

import dev.onnxprune.graph.GraphException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/** Templates of the CLI's error messages, in one place. */
final class Messages {
  private Messages() {}

  static String outputIsDirectory(Path output) {
    return "-o/--output " + output + " is a directory; give the path of the .onnx file to write";
  }

  static String bundledModelMissing(String fileName, String why) {
    return "the bundled example model " + fileName + " is not in the onnx-prune-testmodels jar (" + why
        + "); rebuild with `mvn -pl cli -am package`";
  }

  static String changedByStep(String step, Path output, String difference) {
    return "step '" + step + "' changed what the model computes (" + output + "): " + difference;
  }

  /** The reason of a failure in words, naming the file where the exception knows it. */
  static String describe(Throwable e) {
    if (e instanceof UncheckedIOException && e.getCause() != null) {
      return describe(e.getCause());
    }
    if (e instanceof NoSuchFileException nsf) {
      return nsf.getFile() + ": no such file or directory";
    }
    if (e instanceof AccessDeniedException ad) {
      return ad.getFile() + ": permission denied";
    }
    if (e instanceof NotDirectoryException nd) {
      return nd.getFile() + ": not a directory";
    }
    if (e instanceof FileAlreadyExistsException fe) {
      return fe.getFile() + ": already exists";
    }
    String msg = e.getMessage();
    if (e instanceof IOException || e instanceof CommandFailure || e instanceof GraphException) {
      return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : msg;
    }
    // not a failure we expected: name the exception so a bug report says something
    return "internal error: " + e.getClass().getName() + (msg == null ? "" : ": " + msg);
  }

  /** {@code text} with line breaks folded to spaces, so an error stays one line. */
  static String oneLine(String text) {
    return text.strip().replaceAll("\\s*\\R\\s*", " ");
  }
}
