package dev.onnxprune.runtime;

import java.util.Iterator;

/** A dataset read from files, which knows them ({@link Dataset#source()}). */
final class SourcedDataset implements Dataset {
  private final Dataset data;
  private final DatasetSource source;

  SourcedDataset(Dataset data, DatasetSource source) {
    this.data = data;
    this.source = source;
  }

  @Override
  public int size() {
    return data.size();
  }

  @Override
  public long[] sampleShape() {
    return data.sampleShape();
  }

  @Override
  public int numClasses() {
    return data.numClasses();
  }

  @Override
  public Iterator<Batch> batches(int batchSize) {
    return data.batches(batchSize);
  }

  @Override
  public DatasetSource source() {
    return source;
  }

  @Override
  public String toString() {
    return data.toString();
  }
}
