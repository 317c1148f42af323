package dev.onnxprune.exec;

import dev.onnxprune.runtime.Batch;

/** A worker's share of the data: contiguous batches of it, in data order. */
public interface Shard extends Worker {
  /**
   * The batches, in order; iterable again only for a job that {@link DataJob#rereads()}.
   * Reading them may throw {@link java.io.UncheckedIOException}.
   */
  Iterable<Batch> batches();

  /** Index, in the whole data, of the first batch. */
  int firstBatch();

  /** Index, in the whole data, of the first sample. */
  long firstSample();

  /** Samples in the whole data (all shards). */
  long totalSamples();
}
