package dev.onnxprune.runtime;

/**
 * A batch of samples: {@code inputs} in row-major order with {@code shape} (batch first, e.g.
 * NCHW), and {@code labels} (class indices, one per sample) or null when the data has none.
 */
public record Batch(float[] inputs, long[] shape, long[] labels) {
  public Batch {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n != inputs.length) {
      throw new IllegalArgumentException("batch shape " + java.util.Arrays.toString(shape) + " holds " + n
          + " values, inputs has " + inputs.length);
    }
    if (labels != null && labels.length != shape[0]) {
      throw new IllegalArgumentException("batch of " + shape[0] + " samples has " + labels.length + " labels");
    }
  }

  /** Number of samples. */
  public int size() {
    return (int) shape[0];
  }
}
