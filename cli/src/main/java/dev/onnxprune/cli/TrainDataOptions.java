package dev.onnxprune.cli;

import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Normalization;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The data of fine-tuning and BatchNorm recalibration, shared by {@code finetune} and {@code
 * prune}: {@code --images/--labels}, {@code --val-images/--val-labels}, {@code --mean/--std},
 * {@code --limit}. Formats as {@code eval} reads them ({@link Datasets}).
 */
public final class TrainDataOptions {
  @Option(names = "--images", paramLabel = "PATH",
      description = "Training samples: an IDX, .npy or .npz file, or a folder of class subfolders.")
  Path images;

  @Option(names = "--labels", paramLabel = "PATH",
      description = "Training labels: an IDX, .npy or .npz file (not with a .npz that holds them or an image folder).")
  Path labels;

  @Option(names = "--val-images", paramLabel = "PATH",
      description = "Validation samples, evaluated (loss, top-1) before training and after every epoch.")
  Path valImages;

  @Option(names = "--val-labels", paramLabel = "PATH", description = "Validation labels.")
  Path valLabels;

  @Option(names = "--mean", split = ",", paramLabel = "M",
      description = "Per-channel means subtracted after scaling pixels to [0, 1], e.g. 0.2860 (Fashion-MNIST).")
  float[] mean;

  @Option(names = "--std", split = ",", paramLabel = "S",
      description = "Per-channel standard deviations divided by, e.g. 0.3530.")
  float[] std;

  @Option(names = "--limit", paramLabel = "N", defaultValue = "0",
      description = "Train on N samples drawn by --seed (default ${DEFAULT-VALUE}: all).")
  int limit;

  /** True when training data was given. */
  boolean given() {
    return images != null;
  }

  /** Checks the combinations; {@code why} names what needs the data ("--finetune-epochs"). */
  void check(String why) throws UsageFailure {
    if (images == null) {
      throw new UsageFailure(why + " needs training data: give --images (and --labels)");
    }
    MeanStd.checkPaired(mean, std);
    if ((valImages == null) && valLabels != null) {
      throw new UsageFailure("--val-labels needs --val-images");
    }
    if (limit < 0) {
      throw new UsageFailure("--limit must be >= 0: " + limit);
    }
    normalization();
  }

  Normalization normalization() throws UsageFailure {
    return MeanStd.normalization(mean, std);
  }

  /** What a black pixel becomes after normalisation, per channel: the crop padding's fill. */
  float[] blackPixel() throws UsageFailure {
    Normalization n = normalization();
    if (n == null) {
      return new float[] {0f};
    }
    int c = Math.max(n.mean().length, n.std().length);
    float[] f = new float[c];
    for (int i = 0; i < c; i++) {
      f[i] = -n.mean()[n.mean().length == 1 ? 0 : i] / n.std()[n.std().length == 1 ? 0 : i];
    }
    return f;
  }

  /** The training data, in an order shuffled by {@code seed}, the first --limit samples. */
  Dataset training(long seed) throws IOException, UsageFailure {
    DatasetOptions o = DatasetOptions.defaults().withNormalization(normalization()).withSeed(seed).withLimit(limit);
    return Datasets.open(images, labels, o);
  }

  /** The validation data, or null. */
  Dataset validation() throws IOException, UsageFailure {
    if (valImages == null) {
      return null;
    }
    return Datasets.open(valImages, valLabels, DatasetOptions.defaults().withNormalization(normalization()));
  }
}
