package dev.onnxprune.internal;

import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The first {@code limit} samples of a dataset, read once in batches and held in memory: for work
 * that runs over the same samples many times, from several threads (a held batch is only read).
 */
public final class HeldData implements Dataset {
  private final List<Batch> batches;
  private final int batchSize;
  private final int size;
  private final long[] sampleShape;
  private final int numClasses;

  private HeldData(List<Batch> batches, int batchSize, Dataset source) {
    this.batches = List.copyOf(batches);
    this.batchSize = batchSize;
    this.size = batches.stream().mapToInt(Batch::size).sum();
    this.sampleShape = source.sampleShape();
    this.numClasses = source.numClasses();
  }

  /** Reads {@code data} in batches of {@code batchSize}, stopping after {@code limit} samples (0: all). */
  public static HeldData of(Dataset data, int batchSize, int limit) {
    List<Batch> out = new ArrayList<>();
    int left = limit > 0 ? Math.min(limit, data.size()) : data.size();
    Iterator<Batch> it = data.batches(batchSize);
    while (left > 0 && it.hasNext()) {
      Batch b = it.next().firstRows(left);
      out.add(b);
      left -= b.size();
    }
    return new HeldData(out, batchSize, data);
  }

  /** The held batches, in order. */
  public List<Batch> batches() {
    return batches;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public long[] sampleShape() {
    return sampleShape.clone();
  }

  @Override
  public int numClasses() {
    return numClasses;
  }

  /**
   * The held batches.
   *
   * @throws IllegalArgumentException when {@code batchSize} is smaller than the batches were read in
   */
  @Override
  public Iterator<Batch> batches(int batchSize) {
    if (batchSize < this.batchSize) {
      throw new IllegalArgumentException("these samples are held in batches of " + this.batchSize + "; asked for "
          + batchSize);
    }
    return batches.iterator();
  }
}
