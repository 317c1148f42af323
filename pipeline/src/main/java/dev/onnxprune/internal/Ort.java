package dev.onnxprune.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Sessions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
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
   * {@link #run(OrtSession, Map, Set)} with INT64 vectors fed too ({@code longFeeds}: name to
   * data of shape {@code [length]}, e.g. class labels).
   */
  public static Map<String, Tensor> run(OrtSession session, Map<String, Tensor> feeds, Map<String, long[]> longFeeds,
      Set<String> outputs) throws OrtException {
    dev.onnxprune.runtime.Progress.checkCancelled(); // every data criterion's runs come here
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      for (Map.Entry<String, Tensor> e : feeds.entrySet()) {
        float[] d = e.getValue().data();
        FloatBuffer fb = ByteBuffer.allocateDirect(d.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        fb.put(d).rewind();
        in.put(e.getKey(), OnnxTensor.createTensor(Sessions.environment(), fb, e.getValue().shape()));
      }
      for (Map.Entry<String, long[]> e : longFeeds.entrySet()) {
        long[] d = e.getValue();
        LongBuffer lb = ByteBuffer.allocateDirect(d.length * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
        lb.put(d).rewind();
        in.put(e.getKey(), OnnxTensor.createTensor(Sessions.environment(), lb, new long[] {d.length}));
      }
      Map<String, Tensor> out = new LinkedHashMap<>();
      try (OrtSession.Result res = outputs.isEmpty() ? session.run(in) : session.run(in, outputs)) {
        for (Map.Entry<String, OnnxValue> e : res) {
          OnnxTensor t = (OnnxTensor) e.getValue();
          FloatBuffer fb = t.getFloatBuffer();
          float[] f = new float[fb.remaining()];
          fb.get(f);
          out.put(e.getKey(), new Tensor(f, t.getInfo().getShape()));
        }
      }
      return out;
    } finally {
      for (OnnxTensor t : in.values()) {
        t.close();
      }
    }
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
