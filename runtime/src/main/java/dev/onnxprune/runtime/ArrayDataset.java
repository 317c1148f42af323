package dev.onnxprune.runtime;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;

/** A dataset held in memory: samples in one row-major float array, optional labels. */
public final class ArrayDataset implements Dataset {
  private final float[] data;
  private final long[] sampleShape;
  private final long[] labels;
  private final int count;
  private final int sampleSize;
  private final int numClasses;

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
    this.sampleSize = Math.toIntExact(per);
    this.count = data.length / sampleSize;
    if (labels != null && labels.length != count) {
      throw new IllegalArgumentException(count + " samples but " + labels.length + " labels");
    }
    this.data = data;
    this.sampleShape = sampleShape.clone();
    this.labels = labels;
    this.numClasses = labels == null ? 0 : (int) Arrays.stream(labels).max().orElse(-1) + 1;
  }

  @Override
  public int size() {
    return count;
  }

  @Override
  public long[] sampleShape() {
    return sampleShape.clone();
  }

  @Override
  public int numClasses() {
    return numClasses;
  }

  @Override
  public Iterator<Batch> batches(int batchSize) {
    if (batchSize <= 0) {
      throw new IllegalArgumentException("batch size must be > 0: " + batchSize);
    }
    return new Iterator<>() {
      private int next;

      @Override
      public boolean hasNext() {
        return next < count;
      }

      @Override
      public Batch next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        int n = Math.min(batchSize, count - next);
        float[] x = Arrays.copyOfRange(data, next * sampleSize, (next + n) * sampleSize);
        long[] y = labels == null ? null : Arrays.copyOfRange(labels, next, next + n);
        long[] shape = new long[sampleShape.length + 1];
        shape[0] = n;
        System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
        next += n;
        return new Batch(x, shape, y);
      }
    };
  }
}
