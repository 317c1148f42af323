package dev.onnxprune.runtime;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * Where a dataset's samples are and how they are read: what {@link Datasets#open} was given, with
 * the paths made absolute. Another process that sees the same files (a Spark executor on a shared
 * file system) opens the same samples in the same order with {@link #open()}.
 *
 * @param images the samples' file or folder, absolute
 * @param labels the labels' file, absolute, or null
 * @param options how the samples are read
 */
public record DatasetSource(String images, String labels, DatasetOptions options) implements Serializable {
  /** Opens the samples again ({@link Datasets#open}). */
  public Dataset open() throws IOException {
    return Datasets.open(Path.of(images), labels == null ? null : Path.of(labels), options);
  }
}
