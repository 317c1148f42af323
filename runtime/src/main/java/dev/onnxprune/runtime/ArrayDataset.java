package dev.onnxprune.runtime;

import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;

/**
 * A dataset held in memory: samples in one row-major float array, optional labels. The float
 * image case of {@link TensorDataset}, with the same batches and shuffle.
 */
public final class ArrayDataset implements Dataset {
  private final TensorDataset data;

  /**
   * @param data all samples, row-major, {@code count * prod(sampleShape)} values
   * @param sampleShape shape of one sample
   * @param labels one class index per sample, or null
   * @throws IllegalArgumentException when the sizes disagree
   */
  public ArrayDataset(float[] data, long[] sampleShape, long[] labels) {
    long per = 1;
    for (long d : sampleShape) {
      per *= d;
    }
    if (per <= 0 || data.length % per != 0) {
      throw new IllegalArgumentException(data.length + " values are not a whole number of samples of shape "
          + Arrays.toString(sampleShape));
    }
    int count = Math.toIntExact(data.length / per);
    if (labels != null && labels.length != count) {
      throw new IllegalArgumentException(count + " samples but " + labels.length + " labels");
    }
    long[] shape = new long[sampleShape.length + 1];
    shape[0] = count;
    System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
    this.data = new TensorDataset(Map.of(Batch.DATA, HostTensor.floats(data, shape)), labels);
  }

  private ArrayDataset(TensorDataset data) {
    this.data = data;
  }

  /**
   * The samples in an order shuffled by {@code seed} (the same for the same seed and size),
   * the first {@code limit} of them (0: all). A copy; this dataset is unchanged.
   */
  public ArrayDataset shuffled(long seed, int limit) {
    return new ArrayDataset(data.shuffled(seed, limit));
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
}
