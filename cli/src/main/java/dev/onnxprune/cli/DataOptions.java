package dev.onnxprune.cli;

import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Normalization;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The data options every command that reads data declares through this one mixin: {@code --images},
 * {@code --labels}, {@code --mean}, {@code --std}. Every format goes through the library's one
 * opener ({@link Datasets#open}): IDX (gzipped or not), .npy, .npz, or a folder of class
 * subfolders.
 */
final class DataOptions {
  @Option(names = "--images", paramLabel = "PATH",
      description = "Samples: an IDX file (gzipped or not), a .npy or .npz file, or a folder with one subfolder of"
          + " images per class.")
  Path images;

  @Option(names = "--labels", paramLabel = "PATH",
      description = "Their labels: an IDX, .npy or .npz file (not with a .npz that holds them, nor with an image"
          + " folder).")
  Path labels;

  @Option(names = "--mean", split = ",", paramLabel = "M",
      description = "Per-channel means subtracted after 8-bit pixels are scaled to [0, 1] (one value or one per"
          + " channel), e.g. 0.2860 for Fashion-MNIST; with --std.")
  float[] mean;

  @Option(names = "--std", split = ",", paramLabel = "S",
      description = "Per-channel standard deviations divided by, e.g. 0.3530; with --mean.")
  float[] std;

  /** True when data was given. */
  boolean given() {
    return images != null;
  }

  /** The normalisation of --mean/--std, null when neither is given. */
  Normalization normalization() throws UsageFailure {
    if ((mean == null) != (std == null)) {
      throw new UsageFailure("--mean and --std go together; give both (or neither)");
    }
    return mean == null ? null : UsageFailure.check(null, () -> new Normalization(mean, std));
  }

  /** What a black pixel becomes after the normalisation: the random crop's padding. */
  float[] zeroPixel() throws UsageFailure {
    Normalization n = normalization();
    return n == null ? new float[] {0f} : n.zeroPixel();
  }

  /**
   * The data, in file order or shuffled by {@code seed}, at most {@code limit} samples (0: all).
   *
   * @param why what needs the data, for the message when --images is missing ("--criterion taylor")
   */
  Dataset open(String why, Long seed, int limit) throws IOException, UsageFailure {
    if (images == null) {
      throw new UsageFailure(why + " needs data: give --images (and --labels)");
    }
    DatasetOptions o = UsageFailure.check("--limit", () -> DatasetOptions.defaults().withLimit(limit))
        .withNormalization(normalization()).withSeed(seed);
    return Datasets.open(images, labels, o);
  }

  /** Validation data of {@code --val-images}/{@code --val-labels}, normalised like the training data; null when none. */
  Dataset validation(Path valImages, Path valLabels) throws IOException, UsageFailure {
    if (valImages == null) {
      if (valLabels != null) {
        throw new UsageFailure("--val-labels needs --val-images");
      }
      return null;
    }
    return Datasets.open(valImages, valLabels, DatasetOptions.defaults().withNormalization(normalization()));
  }
}
