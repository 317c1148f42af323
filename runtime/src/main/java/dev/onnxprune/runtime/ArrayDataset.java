package dev.onnxprune.runtime;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Random;

/** A dataset held in memory: samples in one row-major float array, optional labels. */
public final class ArrayDataset implements Dataset {
  private final float[] data;
  private final long[] sampleShape;
  private final long[] labels;
  private final int count;
  private final int sampleSize;
  private int numClasses;

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

  private ArrayDataset(float[] data, long[] sampleShape, long[] labels, int numClasses) {
    this(data, sampleShape, labels);
    this.numClasses = Math.max(numClasses, this.numClasses);
  }

  /**
   * The samples in an order shuffled by {@code seed} (the same for the same seed and size),
   * the first {@code limit} of them (0: all). A copy; this dataset is unchanged.
   */
  public ArrayDataset shuffled(long seed, int limit) {
    int[] order = new int[count];
    for (int i = 0; i < count; i++) {
      order[i] = i;
    }
    Random random = new Random(seed);
    for (int i = count - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    int n = limit > 0 ? Math.min(limit, count) : count;
    float[] x = new float[n * sampleSize];
    long[] y = labels == null ? null : new long[n];
    for (int i = 0; i < n; i++) {
      System.arraycopy(data, order[i] * sampleSize, x, i * sampleSize, sampleSize);
      if (y != null) {
        y[i] = labels[order[i]];
      }
    }
    return new ArrayDataset(x, sampleShape, y, numClasses);
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
