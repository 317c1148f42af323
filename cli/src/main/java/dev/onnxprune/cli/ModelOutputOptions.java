package dev.onnxprune.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Where a command that writes a model writes it, declared once for {@code convert}, {@code prune},
 * {@code mask} and {@code finetune}: {@code -o/--output} (required) and {@code --external-data}.
 * A mixin, not an option section: picocli enforces {@code required} only outside sections.
 */
final class ModelOutputOptions {
  @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT",
      description = "The .onnx file to write (atomically: a temporary file, then a rename).")
  Path file;

  @Option(names = "--external-data",
      description = "Write every tensor of 1 KiB or more to OUT.<hash>.data, a data file beside OUT (default: all"
          + " data inside OUT, unless the model is over protobuf's 2 GiB limit).")
  boolean externalData;
}
