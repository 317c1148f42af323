package dev.onnxprune.cli;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.graph.GraphException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Locale;

/** Templates of the CLI's error messages, in one place. */
final class Messages {
  private Messages() {}

  /** The one line of every failure: {@code onnx-prune: error: <reason>}, line breaks folded. */
  static String error(String reason) {
    return "onnx-prune: error: " + oneLine(reason);
  }

  /**
   * A usage error's message as picocli words it, made one line of ours: its "Error: " prefix
   * dropped and a capitalised first word in lower case ("Unknown option: '--frobnicate'" becomes
   * "unknown option: '--frobnicate'").
   */
  static String parseError(String picocliMessage) {
    String m = oneLine(String.valueOf(picocliMessage)).replaceFirst("^Error: ", "");
    if (m.length() > 1 && Character.isUpperCase(m.charAt(0)) && Character.isLowerCase(m.charAt(1))) {
      m = Character.toLowerCase(m.charAt(0)) + m.substring(1);
    }
    return m;
  }

  /**
   * The line after a usage error: where to read about the options, with picocli's best guess at
   * what was meant when it has one ({@code onnx-prune: did you mean --flops? try 'onnx-prune prune --help'}).
   */
  static String usageHint(String command, String suggestion) {
    return "onnx-prune: " + (suggestion == null ? "" : "did you mean " + suggestion + "? ") + "try '" + command
        + " --help'";
  }

  /**
   * {@code --spark-master} given where the Spark backend is not on the class path (or the URL is
   * not Spark's): how to get it.
   */
  static String noSpark(String master, String why) {
    if (why.startsWith("needs")) {
      return "--spark-master " + master + " needs the onnx-prune-spark module, which this jar does not carry: run"
          + " through the ./onnx-prune launcher (it builds spark/target/onnx-prune-spark.jar and adds Spark's jars"
          + " when --spark-master is given), or submit spark/target/onnx-prune-spark.jar with spark-submit"
          + " (see README.md, \"Scaling out on Apache Spark\")";
    }
    return "--spark-master " + why;
  }

  /**
   * A configuration error of the library in terms of the command line: its message names the
   * option already ("--flops must be in (0, 1): 1.5"), by its bare name ("sparsity must be in
   * (0, 1): 1.5" becomes "--sparsity must be ..."), or gets it as a prefix ("--nm: N:M needs
   * 0 < N < M: 4:2"). {@code option} null keeps the message as it is.
   */
  static String invalidOption(String option, String libraryMessage) {
    if (option == null || libraryMessage.startsWith(option)) {
      return libraryMessage;
    }
    String bare = option.replaceFirst("^-+", "");
    if (libraryMessage.startsWith(bare + " ")) {
      return "--" + libraryMessage;
    }
    return option + ": " + libraryMessage;
  }

  static String badNm(String value) {
    return "--nm must be N:M with whole numbers, e.g. 2:4: '" + value + "'";
  }

  static String verificationFailed(double maxRelDiff, double tolerance, Path output) {
    return String.format(Locale.ROOT, "verification failed: the pruned model differs from the masked"
        + " original by up to %.3g (relative; tolerance %.0e); %s was not written", maxRelDiff, tolerance, output);
  }

  static String cannotPrune(String libraryMessage) {
    return "cannot prune: " + libraryMessage;
  }

  static String bundledModelMissing(String fileName, String why) {
    return "the bundled example model " + fileName + " is not in the onnx-prune-testmodels jar (" + why
        + "); rebuild with `mvn -pl cli -am package`";
  }

  static String noLabels(Path images) {
    return images + " has no labels, and evaluation needs them: give --labels FILE (IDX, .npy or .npz), a .npz"
        + " that holds them, or a folder with one subfolder per class";
  }

  static String dataDoesNotFit(Path model, String libraryMessage) {
    return "the data does not fit " + model + ": " + libraryMessage;
  }

  static String failedCheck(String step, Path output, String verdict) {
    return "step '" + step + "' failed its check (" + output + "): " + verdict;
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
    if (e instanceof InvalidOptionException ioe) {
      return OptionNames.translate(ioe);
    }
    if (e instanceof OnnxPruneException) {
      return OptionNames.render(e.getMessage());
    }
    String msg = e.getMessage();
    if (e instanceof IOException || e instanceof CommandFailure || e instanceof UsageFailure
        || e instanceof GraphException) {
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
