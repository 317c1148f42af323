package dev.onnxprune.training;

import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Labels;
import java.util.Iterator;
import java.util.SplittableRandom;

/**
 * Labelled training data held in memory, for batches in any order: what {@link Trainer} and the
 * training-time pruning methods draw their shuffled, augmented batches from.
 */
public final class TrainingData {
  private final float[] x;
  private final long[] y;
  private final long[] sampleShape;
  private final int count;
  private final int size;

  private TrainingData(float[] x, long[] y, long[] sampleShape, int count, int size) {
    this.x = x;
    this.y = y;
    this.sampleShape = sampleShape;
    this.count = count;
    this.size = size;
  }

  /**
   * Reads all of {@code d} into memory.
   *
   * @throws IllegalArgumentException when the data has no labels
   */
  public static TrainingData of(Dataset d) {
    return of(d, true);
  }

  /**
   * Reads all of {@code d} into memory; with {@code labels} false, labels are not needed (and
   * batches have none).
   *
   * @throws IllegalArgumentException when {@code labels} and the data has none
   */
  public static TrainingData of(Dataset d, boolean labels) {
    long[] shape = d.sampleShape();
    long per = 1;
    for (long v : shape) {
      per *= v;
    }
    int size = Math.toIntExact(per);
    int count = d.size();
    float[] x = new float[Math.multiplyExact(count, size)];
    long[] y = labels ? new long[count] : null;
    int at = 0;
    Iterator<Batch> it = d.batches(1024);
    while (it.hasNext()) {
      Batch b = it.next();
      if (labels && b.labels() == null) {
        throw new IllegalArgumentException("the training data has no labels");
      }
      System.arraycopy(b.inputs(), 0, x, at * size, b.inputs().length);
      if (labels) {
        System.arraycopy(b.labels(), 0, y, at, b.size());
      }
      at += b.size();
    }
    if (at != count) {
      throw new IllegalStateException("the dataset said " + count + " samples and gave " + at);
    }
    return new TrainingData(x, y, shape, count, size);
  }

  /**
   * Refuses a label outside {@code [0, classes)}, naming the sample by its index in the data
   * ({@link Labels#check}).
   *
   * @param where what has the classes, e.g. {@code "output 'logits' [N, 10]"}
   */
  public void checkLabels(long classes, String where) {
    if (y != null) {
      Labels.check(y, 0, classes, where);
    }
  }

  /** Number of samples. */
  public int count() {
    return count;
  }

  /** The {@code n} samples {@code order[from .. from + n)} as one batch (copies). */
  public Batch batch(int[] order, int from, int n) {
    float[] bx = new float[n * size];
    long[] by = y == null ? null : new long[n];
    for (int i = 0; i < n; i++) {
      int k = order[from + i];
      System.arraycopy(x, k * size, bx, i * size, size);
      if (by != null) {
        by[i] = y[k];
      }
    }
    long[] shape = new long[sampleShape.length + 1];
    shape[0] = n;
    System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
    return new Batch(bx, shape, by);
  }

  /** 0 .. n-1, shuffled by {@code random} when it is not null. */
  public static int[] order(int n, SplittableRandom random) {
    int[] order = new int[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    if (random != null) {
      for (int i = n - 1; i > 0; i--) {
        int j = random.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    return order;
  }

  /**
   * An endless stream of training batches of {@code batchSize}: epoch after epoch, each shuffled
   * and augmented by a generator fixed by ({@code seed}, epoch), as {@link Trainer} draws them.
   */
  public Stream stream(int batchSize, long seed, Augmentation augmentation) {
    if (batchSize < 2 || batchSize > count) {
      throw new IllegalArgumentException("batch size " + batchSize + " with " + count + " training samples");
    }
    return new Stream(batchSize, seed, augmentation);
  }

  /** See {@link #stream}. */
  public final class Stream {
    private final int batchSize;
    private final long seed;
    private final Augmentation augmentation;
    private int epoch = -1;
    private int position;
    private int[] order;
    private SplittableRandom random;

    private Stream(int batchSize, long seed, Augmentation augmentation) {
      this.batchSize = batchSize;
      this.seed = seed;
      this.augmentation = augmentation;
    }

    /** The next batch (full size; the tail of an epoch that does not fill one is skipped). */
    public Batch next() {
      if (order == null || position + batchSize > count) {
        epoch++;
        random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        order = order(count, random);
        position = 0;
      }
      Batch b = batch(order, position, batchSize);
      position += batchSize;
      augmentation.apply(b.inputs(), b.shape(), random);
      return b;
    }

    /** Epochs begun so far, counting from 1 after the first batch. */
    public int epoch() {
      return epoch + 1;
    }

    /** Batches in one epoch. */
    public int batchesPerEpoch() {
      return count / batchSize;
    }
  }
}
