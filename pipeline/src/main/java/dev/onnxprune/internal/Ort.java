package dev.onnxprune.internal;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.OrtTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Small helpers to run float models in ONNX Runtime for the data-driven criteria. */
public final class Ort {
  private Ort() {}

  /** A float tensor: row-major data and its shape. */
  public record Tensor(float[] data, long[] shape) {
    public static Tensor of(float[] data, long... shape) {
      return new Tensor(data, shape);
    }
  }

  /**
   * Runs {@code session} on {@code feeds} and returns the requested outputs (all outputs when
   * {@code outputs} is empty), by name.
   */
  public static Map<String, Tensor> run(OrtSession session, Map<String, Tensor> feeds, Set<String> outputs)
      throws OrtException {
    return run(session, feeds, Map.of(), outputs);
  }

  /**
   * {@link #run(OrtSession, Map, Set)} with inputs of any element type fed too ({@code typed}:
   * the batch's token ids, class labels, ...). Outputs must be FLOAT.
   */
  public static Map<String, Tensor> run(OrtSession session, Map<String, Tensor> feeds, Map<String, HostTensor> typed,
      Set<String> outputs) throws OrtException {
    dev.onnxprune.runtime.Progress.checkCancelled(); // every data criterion's runs come here
    Map<String, HostTensor> in = new LinkedHashMap<>(typed);
    feeds.forEach((name, t) -> in.put(name, HostTensor.floats(t.data(), t.shape())));
    Map<String, Tensor> out = new LinkedHashMap<>();
    OrtTensors.run(session, in, outputs).forEach((name, t) -> out.put(name, new Tensor(t.floats(), t.shape())));
    return out;
  }

  /** Work that runs ONNX Runtime. */
  public interface Call<T> {
    public T call() throws OrtException;
  }

  /** {@code call}'s result; ONNX Runtime's failure rethrown as {@link #failure}. */
  public static <T> T unchecked(String what, Call<T> call) {
    try {
      return call.call();
    } catch (OrtException e) {
      throw failure(what, e);
    }
  }

  /**
   * ONNX Runtime's failure {@code e} while doing {@code what}, unchecked: {@code "<what> in ONNX
   * Runtime: <its message>"}.
   */
  public static UncheckedIOException failure(String what, OrtException e) {
    return new UncheckedIOException(new IOException(what + " in ONNX Runtime: " + e.getMessage(), e));
  }

  /**
   * The model's one runtime input.
   *
   * @throws IllegalArgumentException when it has several
   */
  public static Value singleInput(Model model) {
    List<Value> ins = model.graph().runtimeInputs();
    if (ins.size() != 1) {
      throw new IllegalArgumentException("data-driven criteria need a model with one input (the images); it has "
          + ins.size() + ": " + ins.stream().map(Value::name).toList());
    }
    return ins.get(0);
  }

  /**
   * Mean softmax cross-entropy of each row of {@code logits} [n, k] against {@code labels} (each
   * label in {@code [0, k)}: {@link dev.onnxprune.runtime.Labels#check}).
   */
  public static double[] crossEntropy(float[] logits, int n, long[] labels) {
    int k = logits.length / n;
    dev.onnxprune.runtime.Labels.check(labels, 0, k, "the model's " + k + " outputs (samples counted in the batch)");
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < k; c++) {
        max = Math.max(max, logits[i * k + c]);
      }
      double sum = 0;
      for (int c = 0; c < k; c++) {
        sum += Math.exp(logits[i * k + c] - max);
      }
      out[i] = Math.log(sum) + max - logits[i * k + (int) labels[i]];
    }
    return out;
  }

  /** Index of the largest entry of each row of {@code logits} [n, k]. */
  public static long[] argmax(float[] logits, int n) {
    int k = logits.length / n;
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      int best = 0;
      for (int c = 1; c < k; c++) {
        if (logits[i * k + c] > logits[i * k + best]) {
          best = c;
        }
      }
      out[i] = best;
    }
    return out;
  }

  /** {@code x} ([n, ...] with {@code per} values per sample) repeated {@code times} times along axis 0. */
  public static float[] repeat(float[] x, int times) {
    float[] out = new float[x.length * times];
    for (int t = 0; t < times; t++) {
      System.arraycopy(x, 0, out, t * x.length, x.length);
    }
    return out;
  }

  /** {@code labels} repeated {@code times} times. */
  public static long[] repeatLabels(long[] labels, int times) {
    long[] out = new long[labels.length * times];
    for (int t = 0; t < times; t++) {
      System.arraycopy(labels, 0, out, t * labels.length, labels.length);
    }
    return out;
  }

  /** {@code shape} with axis 0 multiplied by {@code times}. */
  public static long[] repeatShape(long[] shape, int times) {
    long[] s = shape.clone();
    s[0] *= times;
    return s;
  }
}
