package dev.onnxprune.cli;

/** The exit codes of every onnx-prune command, and their lines in the help. */
final class ExitCodes {
  static final int OK = 0;
  static final int ERROR = 1;
  static final int USAGE = 2;

  static final String OK_LINE = "0:Success.";
  static final String ERROR_LINE = "1:Failed; the reason is one line on stderr (add --verbose for the stack trace).";
  static final String USAGE_LINE = "2:Usage error: an unknown, missing or invalid option or argument; one line says"
      + " which, one where to read more.";

  private ExitCodes() {}
}
