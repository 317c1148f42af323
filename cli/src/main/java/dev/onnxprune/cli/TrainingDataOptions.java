package dev.onnxprune.cli;

import dev.onnxprune.runtime.Dataset;
import java.io.IOException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/**
 * The training data of {@code prune} and {@code finetune}: {@link DataOptions} and how many of its
 * samples, in what order ({@code --limit}, {@code --seed}). An option section, defaults as field
 * initialisers.
 */
final class TrainingDataOptions {
  @ArgGroup(validate = false)
  DataOptions data = new DataOptions();

  @Option(names = "--limit", paramLabel = "N", order = 10,
      description = "Train on N samples of --images drawn by --seed (default ${DEFAULT-VALUE}: all); the"
          + " calibration of a data-driven criterion has --calib-limit.")
  int limit = 0;

  @Option(names = "--seed", paramLabel = "S", order = 11,
      description = "Seed of the shuffling and augmentation of training and of --limit's draw; in prune also of the"
          + " random criterion and aofp's random ablations, in finetune of --scratch (default ${DEFAULT-VALUE}).")
  long seed = 0;

  /** The training data: --images shuffled by --seed, at most --limit samples. */
  Dataset open(String why) throws IOException, UsageFailure {
    return data.open(why, seed, limit);
  }
}
