package dev.onnxprune.cli;

import picocli.CommandLine.Option;

/** {@code --progress} of the commands that run a pipeline ({@code prune}, {@code finetune}). */
final class ProgressOption {
  @Option(names = "--progress", paramLabel = "FORMAT",
      description = "How stderr reports progress: text (default: a line per phase, epoch and method step) or json"
          + " (the same events as JSON lines, one object per line with an \"event\" field, for machines).")
  String format = "text";

  /** True for JSON lines; refuses a format other than text and json. */
  boolean json() throws UsageFailure {
    return switch (format) {
      case "text" -> false;
      case "json" -> true;
      default -> throw new UsageFailure("--progress must be text or json: " + format);
    };
  }
}
