package dev.onnxprune.cli;

import dev.onnxprune.runtime.Dataset;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The evaluation data of {@code prune} and {@code finetune}: {@code --val-images} and
 * {@code --val-labels}, normalised like {@code --images}; an option section.
 */
final class EvaluationOptions {
  @Option(names = "--val-images", paramLabel = "PATH",
      description = "Evaluation samples (formats as --images): top-1, top-5 and loss before and after every stage"
          + " (and after every epoch of fine-tuning).")
  Path images;

  @Option(names = "--val-labels", paramLabel = "PATH", description = "Their labels.")
  Path labels;

  /** The evaluation data, normalised like {@code data}; null when --val-images is not given. */
  Dataset open(DataOptions data) throws IOException, UsageFailure {
    if (images == null && labels != null) {
      throw new UsageFailure("--val-labels needs --val-images");
    }
    return data.openLike(images, labels);
  }
}
