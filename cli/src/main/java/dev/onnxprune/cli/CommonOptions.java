package dev.onnxprune.cli;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.graph.GraphException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Options every command shares ({@code --verbose}/{@code --debug}), the command's output
 * streams, and the one place that turns a failure into an exit code and a one-line message.
 */
public final class CommonOptions {
  @Spec(Spec.Target.MIXEE)
  CommandSpec mixee;

  @Option(names = {"-v", "--verbose", "--debug"},
      description = "Print more detail, and the stack trace when a command fails.")
  boolean verbose;

  /** The body of a command: returns its exit code or throws. */
  @FunctionalInterface
  interface Body {
    int run() throws Exception;
  }

  /** Where the command's results go (stdout unless redirected by the caller of picocli). */
  PrintWriter out() {
    return mixee.commandLine().getOut();
  }

  /** Where messages go (stderr unless redirected). */
  PrintWriter err() {
    return mixee.commandLine().getErr();
  }

  boolean verbose() {
    return verbose;
  }

  /**
   * Runs {@code body}; a failure prints {@code onnx-prune: error: <reason>} (one line) to
   * stderr and gives {@link ExitCodes#ERROR}; a {@link UsageFailure} (a bad option value) prints
   * the same line and a hint ({@link Messages#usageHint}) and gives {@link ExitCodes#USAGE}, as
   * picocli's own usage errors do through {@link Main#commandLine()}.
   */
  int run(Body body) {
    try {
      int code = body.run();
      out().flush();
      return code;
    } catch (ParameterException e) {
      throw e;
    } catch (UsageFailure | InvalidOptionException e) {
      // a value the library refused is a usage error, in the command line's words
      out().flush();
      err().println(Messages.error(Messages.describe(e)));
      err().println(Messages.usageHint(mixee.qualifiedName(), null));
      err().flush();
      return ExitCodes.USAGE;
    } catch (Exception e) {
      out().flush();
      PrintWriter err = err();
      err.println(Messages.error(Messages.describe(e)));
      if (verbose) {
        e.printStackTrace(err);
      } else if (!isExpected(e)) {
        err.println("onnx-prune: run with --verbose for the stack trace");
      }
      err.flush();
      return ExitCodes.ERROR;
    }
  }

  private static boolean isExpected(Exception e) {
    return e instanceof IOException || e instanceof UncheckedIOException || e instanceof GraphException
        || e instanceof CommandFailure || e instanceof OnnxPruneException;
  }
}
