package dev.onnxprune.runtime;

import dev.onnxprune.errors.InvalidOptionException;

/**
 * How {@link Datasets#open} reads samples.
 *
 * @param normalization per-channel {@code (x - mean) / std}, or null for none given. Raw 8-bit
 *     pixels (IDX, uint8 .npy, images) are always scaled to [0, 1] first; float arrays are taken
 *     as they are unless a normalization is given.
 * @param limit at most this many samples (0: all); with a seed, taken after shuffling
 * @param seed shuffles the samples in an order fixed by the seed; null keeps the file order
 * @param size image folders: the side of the square center crop (0: the images' own size, which
 *     must then be the same for all)
 * @param resize image folders: the shorter side is resized to this before the crop (0: to {@code size})
 * @param channels image folders: 1 or 3 to force grayscale or RGB (0: as the first image is)
 * @param imagesKey .npz: the array of samples (null: by convention, see {@link Datasets#open})
 * @param labelsKey .npz: the array of labels (null: by convention)
 */
public record DatasetOptions(Normalization normalization, int limit, Long seed, int size, int resize, int channels,
    String imagesKey, String labelsKey) implements java.io.Serializable {
  public DatasetOptions {
    InvalidOptionException.atLeast("data.limit", limit, 0);
    InvalidOptionException.atLeast("data.size", size, 0);
    InvalidOptionException.atLeast("data.resize", resize, 0);
    if (resize > 0 && size > resize) {
      throw new InvalidOptionException("data.size", size, "must be at most data.resize (" + resize + ")");
    }
    if (channels != 0 && channels != 1 && channels != 3) {
      throw new InvalidOptionException("data.channels", channels, "must be 1 or 3");
    }
  }

  /** Everything as the files are: no normalization, all samples in file order. */
  public static DatasetOptions defaults() {
    return new DatasetOptions(null, 0, null, 0, 0, 0, null, null);
  }

  public DatasetOptions withNormalization(Normalization n) {
    return new DatasetOptions(n, limit, seed, size, resize, channels, imagesKey, labelsKey);
  }

  public DatasetOptions withLimit(int n) {
    return new DatasetOptions(normalization, n, seed, size, resize, channels, imagesKey, labelsKey);
  }

  public DatasetOptions withSeed(Long s) {
    return new DatasetOptions(normalization, limit, s, size, resize, channels, imagesKey, labelsKey);
  }

  public DatasetOptions withSize(int crop, int shorterSide) {
    return new DatasetOptions(normalization, limit, seed, crop, shorterSide, channels, imagesKey, labelsKey);
  }

  public DatasetOptions withChannels(int c) {
    return new DatasetOptions(normalization, limit, seed, size, resize, c, imagesKey, labelsKey);
  }

  public DatasetOptions withKeys(String images, String labels) {
    return new DatasetOptions(normalization, limit, seed, size, resize, channels, images, labels);
  }

  /** The normalization to apply, {@link Normalization#NONE} when none was given. */
  Normalization normalizationOrNone() {
    return normalization == null ? Normalization.NONE : normalization;
  }
}
