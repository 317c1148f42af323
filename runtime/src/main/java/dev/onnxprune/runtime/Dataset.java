package dev.onnxprune.runtime;

import java.util.Iterator;

/**
 * Samples for scoring, evaluation and training: a fixed number of samples of one shape, read in
 * batches. Implementations decode on demand; iterating twice gives the same samples in the same
 * order unless the dataset says otherwise.
 */
public interface Dataset {
  /** Number of samples. */
  int size();

  /** Shape of one sample (without the batch axis), e.g. {@code [1, 28, 28]}. */
  long[] sampleShape();

  /** Number of classes when labelled (max label + 1, or as declared), else 0. */
  int numClasses();

  /** Batches of at most {@code batchSize} samples, in order; the last may be smaller. */
  Iterator<Batch> batches(int batchSize);

  /**
   * The files this dataset was read from and how, so that another process (a Spark executor) can
   * open the same samples; null when it was not opened from files ({@link Datasets#open} gives one).
   */
  default DatasetSource source() {
    return null;
  }
}
