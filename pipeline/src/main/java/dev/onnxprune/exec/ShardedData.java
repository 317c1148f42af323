package dev.onnxprune.exec;

import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetSource;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Data as a backend splits it: batches of {@code batchSize} samples, the first {@code limit}
 * samples (0: all), at most {@code maxBatches} batches (0: all). A shard is a range of batch
 * indices; every backend cuts the same batches, so a shard's batches are the in-process batches.
 * A remote worker reads its range from the files the data came from ({@link Dataset#source()});
 * data that did not come from files travels from the driver (held batches only).
 */
public final class ShardedData implements Serializable {
  private static final long serialVersionUID = 1L;

  private final transient Dataset dataset;
  private final transient List<Batch> held;
  private final DatasetSource source;
  private final int batchSize;
  private final int limit;
  private final int batches;
  private final long samples;

  private ShardedData(Dataset dataset, List<Batch> held, int batchSize, int limit, int maxBatches) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be > 0: " + batchSize);
    }
    this.dataset = dataset;
    this.held = held;
    this.source = dataset.source();
    this.batchSize = batchSize;
    this.limit = limit;
    if (held != null) {
      this.batches = held.size();
      this.samples = held.stream().mapToLong(Batch::size).sum();
    } else {
      long s = limit > 0 ? Math.min(limit, dataset.size()) : dataset.size();
      int b = (int) ((s + batchSize - 1) / batchSize);
      if (maxBatches > 0 && b > maxBatches) {
        b = maxBatches;
        s = Math.min(s, (long) b * batchSize);
      }
      this.batches = b;
      this.samples = s;
    }
  }

  /** {@code data} in batches of {@code batchSize}: the first {@code limit} samples (0: all), at most {@code maxBatches} batches (0: all). */
  public static ShardedData of(Dataset data, int batchSize, int limit, int maxBatches) {
    return new ShardedData(data, null, batchSize, limit, maxBatches);
  }

  /** Batches already read from {@code data} (in batches of {@code batchSize}, the first {@code limit} samples). */
  public static ShardedData held(Dataset data, List<Batch> batches, int batchSize, int limit) {
    return new ShardedData(data, List.copyOf(batches), batchSize, limit, 0);
  }

  /** Number of batches. */
  public int batchCount() {
    return batches;
  }

  /** Number of samples. */
  public long samples() {
    return samples;
  }

  public int batchSize() {
    return batchSize;
  }

  /** The files a remote worker reads, or null when the data must travel from the driver. */
  public DatasetSource source() {
    return source;
  }

  /** On the driver: every batch, in order (held ones, or read from the dataset as iterated). */
  public Iterable<Batch> all() {
    if (held != null) {
      return held;
    }
    if (dataset == null) {
      throw new IllegalStateException("the data is on the driver only");
    }
    return () -> range(dataset.batches(batchSize), 0, batches);
  }

  /** On the driver: every batch, held in memory (read now unless held already). */
  public List<Batch> hold() {
    List<Batch> out = new ArrayList<>();
    all().forEach(out::add);
    return out;
  }

  /**
   * On a worker: batches {@code [from, to)}, read from the files ({@link #source()}) on each iteration.
   *
   * @throws IllegalStateException when the data has no files
   */
  public Iterable<Batch> read(int from, int to) {
    if (source == null) {
      throw new IllegalStateException("the data did not come from files a worker can read");
    }
    return () -> {
      try {
        return range(source.open().batches(batchSize), from, to);
      } catch (IOException e) {
        throw new UncheckedIOException("opening " + source.images(), e);
      }
    };
  }

  /** Batches {@code [from, to)} of {@code all}, the one holding sample {@code limit} cut there. */
  private Iterator<Batch> range(Iterator<Batch> all, int from, int to) {
    for (int i = 0; i < from && all.hasNext(); i++) {
      all.next();
    }
    return new Iterator<>() {
      int next = from;

      @Override
      public boolean hasNext() {
        return next < to && all.hasNext();
      }

      @Override
      public Batch next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        Batch b = all.next();
        long start = (long) next * batchSize;
        next++;
        return start + b.size() > samples ? b.firstRows((int) (samples - start)) : b;
      }
    };
  }
}
