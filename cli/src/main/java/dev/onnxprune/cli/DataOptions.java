package dev.onnxprune.cli;

import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Normalization;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The data options of every command that reads data, declared once: {@code --images},
 * {@code --labels}, {@code --mean}, {@code --std}. Every format goes through the library's one
 * opener ({@link Datasets#open}): IDX (gzipped or not), .npy, .npz, or a folder of class
 * subfolders. Commands hold it as an option section ({@code @ArgGroup(validate = false)},
 * initialised), alone or inside their own data section; its options come first there
 * ({@code order} 1 to 4).
 */
final class DataOptions {
  @Option(names = "--images", paramLabel = "PATH", order = 1,
      description = "Samples: an IDX file (gzipped or not), a .npy or .npz file, or a folder with one subfolder of"
          + " images per class.")
  Path images;

  @Option(names = "--labels", paramLabel = "PATH", order = 2,
      description = "Their labels: an IDX, .npy or .npz file (not with a .npz that holds them, nor with an image"
          + " folder).")
  Path labels;

  @Option(names = "--mean", split = ",", paramLabel = "M", order = 3,
      description = "Per-channel means subtracted after 8-bit pixels are scaled to [0, 1] (one value or one per"
          + " channel), e.g. 0.2860 for Fashion-MNIST or 0.485,0.456,0.406 for ImageNet; with --std.")
  float[] mean;

  @Option(names = "--std", split = ",", paramLabel = "S", order = 4,
      description = "Per-channel standard deviations divided by, e.g. 0.3530 or 0.229,0.224,0.225; with --mean.")
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

  /** The options to open --images with: normalised by --mean/--std, with the checks every command makes. */
  DatasetOptions options(String why) throws UsageFailure {
    if (images == null) {
      throw new UsageFailure(why + " needs data: give --images (and --labels)");
    }
    return DatasetOptions.defaults().withNormalization(normalization());
  }

  /**
   * The data, in file order or shuffled by {@code seed}, at most {@code limit} samples (0: all).
   *
   * @param why what needs the data, for the message when --images is missing ("--criterion taylor")
   */
  Dataset open(String why, Long seed, int limit) throws IOException, UsageFailure {
    DatasetOptions o = options(why);
    return Datasets.open(images, labels, UsageFailure.check("--limit", () -> o.withLimit(limit)).withSeed(seed));
  }

  /** {@code images}/{@code labels} (validation data), normalised like --images; null when {@code images} is. */
  Dataset openLike(Path images, Path labels) throws IOException, UsageFailure {
    return images == null ? null
        : Datasets.open(images, labels, DatasetOptions.defaults().withNormalization(normalization()));
  }
}
