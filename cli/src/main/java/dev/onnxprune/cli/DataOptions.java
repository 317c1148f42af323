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
 * {@code --labels}, {@code --mean}, {@code --std} and how the files are read ({@code --size},
 * {@code --resize}, {@code --channels}, {@code --npz-keys}). Every format goes through the
 * library's one opener ({@link Datasets#open}): IDX (gzipped or not), .npy, .npz, or a folder of
 * class subfolders. Commands hold it as an option section ({@code @ArgGroup(validate = false)},
 * initialised, defaults as field initialisers), alone or inside their own data section; its
 * options come first there ({@code order} 1 to 8).
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

  @Option(names = "--size", paramLabel = "S", order = 5,
      description = "Image folders: centre-crop to S x S after resizing (default: the images' own size).")
  int size = 0;

  @Option(names = "--resize", paramLabel = "R", order = 6,
      description = "Image folders: resize the shorter side to R before the crop (default: --size).")
  int resize = 0;

  @Option(names = "--channels", paramLabel = "C", order = 7,
      description = "Image folders: 1 (grayscale) or 3 (RGB) (default: as the first image is).")
  int channels = 0;

  @Option(names = "--npz-keys", split = ",", paramLabel = "X,Y", order = 8,
      description = "The .npz arrays of the samples and the labels (default: x,y, else images,labels, else the"
          + " first two).")
  String[] npzKeys;

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
   * The options to open --images with: normalised by --mean/--std and read as the format options
   * say; each refused value names its option.
   *
   * @param why what needs the data, for the message when --images is missing ("--criterion taylor")
   */
  DatasetOptions options(String why) throws UsageFailure {
    if (images == null) {
      throw new UsageFailure(why + " needs data: give --images (and --labels)");
    }
    return format();
  }

  /** The normalisation and the format options, checked. */
  private DatasetOptions format() throws UsageFailure {
    Normalization norm = normalization();
    if (npzKeys != null && npzKeys.length != 2) {
      throw new UsageFailure("--npz-keys needs two names, samples and labels, e.g. x,y: " + String.join(",", npzKeys));
    }
    if (resize < 0) {
      throw new UsageFailure("--resize must be >= 0: " + resize);
    }
    DatasetOptions sized = UsageFailure.check("--size", () -> DatasetOptions.defaults().withSize(size, resize));
    return UsageFailure.check("--channels", () -> sized.withChannels(channels)).withNormalization(norm)
        .withKeys(npzKeys == null ? null : npzKeys[0], npzKeys == null ? null : npzKeys[1]);
  }

  /**
   * The data, in file order or shuffled by {@code seed}, at most {@code limit} samples (0: all).
   *
   * @param why what needs the data, for the message when --images is missing
   */
  Dataset open(String why, Long seed, int limit) throws IOException, UsageFailure {
    DatasetOptions o = options(why);
    return Datasets.open(images, labels, UsageFailure.check("--limit", () -> o.withLimit(limit)).withSeed(seed));
  }

  /** {@code images}/{@code labels} (validation data), read like --images; null when {@code images} is. */
  Dataset openLike(Path images, Path labels) throws IOException, UsageFailure {
    return images == null ? null : Datasets.open(images, labels, format());
  }
}
