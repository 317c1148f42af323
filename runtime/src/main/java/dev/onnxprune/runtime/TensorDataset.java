package dev.onnxprune.runtime;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * A dataset held in memory as one or more arrays of any element type with the samples on axis 0,
 * e.g. token ids {@code input_ids} INT64 {@code [N, L]} and {@code attention_mask}, with optional
 * labels. Batches hold the same keys ({@link Batch#DATA} for the one array of unnamed data);
 * {@link ArrayDataset} is the case of one float array.
 */
public final class TensorDataset implements Dataset {
  private final Map<String, HostTensor> arrays;
  private final long[] labels;
  private final int count;
  private int numClasses;

  /**
   * @param arrays the arrays by model input name, or one under {@link Batch#DATA}; all with the
   *     same number of samples on axis 0
   * @param labels one class index per sample, or null
   * @throws IllegalArgumentException when the counts disagree
   */
  public TensorDataset(Map<String, HostTensor> arrays, long[] labels) {
    Batch all = new Batch(arrays, labels); // checks keys, counts and labels
    this.arrays = all.features();
    this.labels = labels;
    this.count = all.size();
    this.numClasses = labels == null ? 0 : (int) Arrays.stream(labels).max().orElse(-1) + 1;
  }

  /**
   * The samples in an order shuffled by {@code seed} (the same for the same seed and size), the
   * first {@code limit} of them (0: all); a copy, this dataset is unchanged.
   */
  public TensorDataset shuffled(long seed, int limit) {
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
    Map<String, HostTensor> out = new LinkedHashMap<>();
    arrays.forEach((k, t) -> {
      HostTensor picked = t.rows(0, n);
      int per = n == 0 ? 0 : picked.size() / n;
      for (int i = 0; i < n; i++) {
        System.arraycopy(t.data(), order[i] * per, picked.data(), i * per, per);
      }
      out.put(k, picked);
    });
    long[] y = null;
    if (labels != null) {
      y = new long[n];
      for (int i = 0; i < n; i++) {
        y[i] = labels[order[i]];
      }
    }
    TensorDataset d = new TensorDataset(out, y);
    d.numClasses = Math.max(d.numClasses, numClasses);
    return d;
  }

  /** The arrays' keys and element types, e.g. "input_ids INT64[256, 12], attention_mask INT64[256, 12]". */
  public String describe() {
    return new Batch(arrays, null).describe();
  }

  @Override
  public int size() {
    return count;
  }

  /** Shape of one sample of the first array. */
  @Override
  public long[] sampleShape() {
    long[] s = arrays.values().iterator().next().shape();
    return Arrays.copyOfRange(s, 1, s.length);
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
        Map<String, HostTensor> f = new LinkedHashMap<>();
        int from = next;
        arrays.forEach((k, t) -> f.put(k, t.rows(from, from + n)));
        long[] y = labels == null ? null : Arrays.copyOfRange(labels, from, from + n);
        next += n;
        return new Batch(f, y);
      }
    };
  }
}
