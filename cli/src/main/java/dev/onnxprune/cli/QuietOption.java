package dev.onnxprune.cli;

import picocli.CommandLine.Option;

/** {@code -q/--quiet} of the commands that draw a progress bar ({@code prune}, {@code eval}, {@code finetune}). */
final class QuietOption {
  @Option(names = {"-q", "--quiet"}, description = "No progress bar (there is none when stderr is not a terminal).")
  boolean on;
}
