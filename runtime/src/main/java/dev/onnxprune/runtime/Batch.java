package dev.onnxprune.runtime;

import dev.onnxprune.graph.DataType;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A batch of samples: the model inputs it feeds, each a {@link HostTensor} with the batch on axis
 * 0, and {@code labels} (class indices, one per sample) or null when the data has none.
 *
 * <p>Most data is one array, fed to the model's data input whatever its name (key {@link #DATA}):
 * images as FLOAT {@code [N, C, H, W]} ({@link #Batch(float[], long[], long[])}), or token ids as
 * INT64 {@code [N, L]}. Data for a model with several inputs names each by its model input, e.g.
 * {@code input_ids} and {@code attention_mask}. Arrays are held, not copied.
 *
 * @param features the inputs, by model input name or {@link #DATA}, in order
 * @param labels one class index per sample, or null
 */
public record Batch(Map<String, HostTensor> features, long[] labels) implements java.io.Serializable {
  /** Key of the one array that goes to the model's data input, whatever that input's name. */
  public static final String DATA = "";

  public Batch {
    if (features.isEmpty()) {
      throw new IllegalArgumentException("a batch needs at least one input");
    }
    features = Collections.unmodifiableMap(new LinkedHashMap<>(features));
    int n = -1;
    for (Map.Entry<String, HostTensor> e : features.entrySet()) {
      HostTensor t = e.getValue();
      if (t.shape().length == 0) {
        throw new IllegalArgumentException("input '" + e.getKey() + "' is a scalar; batches have the samples on axis 0");
      }
      if (n >= 0 && t.rows() != n) {
        throw new IllegalArgumentException("input '" + e.getKey() + "' has " + t.rows() + " samples, the others " + n);
      }
      n = t.rows();
    }
    if (features.containsKey(DATA) && features.size() > 1) {
      throw new IllegalArgumentException("a batch with several inputs names each of them");
    }
    if (labels != null && labels.length != n) {
      throw new IllegalArgumentException("batch of " + n + " samples has " + labels.length + " labels");
    }
  }

  /**
   * Float samples for the data input: {@code inputs} in row-major order with {@code shape} (batch
   * first, e.g. NCHW).
   */
  public Batch(float[] inputs, long[] shape, long[] labels) {
    this(Map.of(DATA, HostTensor.floats(inputs, shape)), labels);
  }

  /** Samples of any element type for the data input. */
  public static Batch of(HostTensor data, long[] labels) {
    return new Batch(Map.of(DATA, data), labels);
  }

  /** True when the batch is one FLOAT array for the data input (images). */
  public boolean isFloat() {
    HostTensor d = features.get(DATA);
    return d != null && d.type() == DataType.FLOAT;
  }

  /**
   * The float samples of a batch of one FLOAT array, row-major.
   *
   * @throws IllegalStateException when the batch holds other inputs (token ids, several inputs):
   *     the caller handles float images only
   */
  public float[] inputs() {
    if (!isFloat()) {
      throw new IllegalStateException("this needs one float input (images); the data holds " + describe());
    }
    return features.get(DATA).floats();
  }

  /** Shape of the samples (of the first input when there are several), batch first. */
  public long[] shape() {
    return features.values().iterator().next().shape();
  }

  /** Number of samples. */
  public int size() {
    return features.values().iterator().next().rows();
  }

  /** The first {@code n} samples (copies of them; this batch when it has no more). */
  public Batch firstRows(int n) {
    if (n >= size()) {
      return this;
    }
    Map<String, HostTensor> f = new LinkedHashMap<>();
    features.forEach((k, t) -> f.put(k, t.rows(0, n)));
    return new Batch(f, labels == null ? null : Arrays.copyOf(labels, n));
  }

  /** The inputs, e.g. "input_ids INT64[8, 12], attention_mask INT64[8, 12]". */
  public String describe() {
    StringBuilder b = new StringBuilder();
    features.forEach((k, t) -> b.append(b.length() > 0 ? ", " : "").append(k.equals(DATA) ? "" : k + " ").append(t));
    return b.toString();
  }
}
