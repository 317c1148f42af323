package dev.onnxprune.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs one model in one ONNX Runtime session, batch after batch.
 *
 * <p>Each array of a batch feeds its model input ({@link InputBinding}: the batch's data array
 * goes to the data input, the graph's first runtime input unless {@link #dataInput(String)} names
 * another; named arrays, e.g. {@code input_ids} and {@code attention_mask}, to the inputs of
 * those names), in the element type the model declares for it, from a direct buffer in native
 * byte order that is reused across batches and reallocated only when a batch is larger than any
 * before ({@link OrtTensors.Slot}). Extra float inputs (masks, for example) are set once with
 * {@link #setInput} and kept for every later run. Outputs come back
 * as {@code float[]}; after the first run at a batch size, the requested outputs are written by
 * ONNX Runtime straight into pre-allocated direct buffers ({@code run(inputs, pinnedOutputs)};
 * the Java API has no IOBinding), from which they are copied once into the caller's arrays.
 *
 * <p>Not thread-safe: one runner per thread. {@link #close()} closes the session and every
 * tensor the runner made.
 */
public final class Runner implements AutoCloseable {
  /** A fetched output: values in row-major order, and the shape ONNX Runtime gave them. */
  public record Output(float[] values, long[] shape) {}

  /** Batch sizes whose output buffers are kept (the full batches and the last, smaller one). */
  private static final int PINNED_SIZES = 2;

  private final Model model;
  private final OrtSession session;
  private final String provider;
  private final Set<String> sessionInputs;
  private final List<String> outputNames;
  private InputBinding binding;

  private final Map<String, Fed> extras = new LinkedHashMap<>();
  /** One reused buffer and tensor per input that batches feed. */
  private final Map<String, OrtTensors.Slot> slots = new HashMap<>();

  private boolean pinning = true;
  /** Output shapes seen per batch size, for pinning; and the pinned buffers per batch size. */
  private final Map<Long, Map<String, long[]>> seenShapes = new HashMap<>();
  private final LinkedHashMap<Long, Map<String, Fed>> pinned = new LinkedHashMap<>(4, 0.75f, true);

  /** A tensor over a direct buffer that this runner owns. */
  private record Fed(FloatBuffer buffer, OnnxTensor tensor, long[] shape) {}

  private Runner(Model model, OrtSession session, String provider) throws OrtException {
    this.model = model;
    this.session = session;
    this.provider = provider;
    this.sessionInputs = new LinkedHashSet<>(session.getInputNames());
    this.outputNames = model.graph().outputs().stream().map(Value::name).toList();
    this.binding = InputBinding.of(model);
  }

  /**
   * Reads {@code modelFile} (for its input shapes and output ops) and opens a session over it
   * (external data is found beside the file).
   *
   * @throws IOException when the model cannot be read
   * @throws OrtException when ONNX Runtime cannot load it, or {@code --device cuda} cannot start
   */
  public static Runner open(Sessions sessions, Path modelFile) throws IOException, OrtException {
    Model model = OnnxModels.read(modelFile);
    OrtSession session = sessions.open(modelFile);
    return create(model, session, sessions.provider());
  }

  /** Opens a session over {@code model} as it is in memory ({@link Sessions#open(Model)}: bytes, or a file when large). */
  public static Runner open(Sessions sessions, Model model) throws OrtException {
    OrtSession session = sessions.open(model);
    return create(model, session, sessions.provider());
  }

  private static Runner create(Model model, OrtSession session, String provider) throws OrtException {
    try {
      return new Runner(model, session, provider);
    } catch (OrtException | RuntimeException e) {
      session.close();
      throw e;
    }
  }

  /** The model this runner runs. */
  public Model model() {
    return model;
  }

  /** The execution provider of the session: "CPU" or "CUDA". */
  public String provider() {
    return provider;
  }

  /** The input that the batches' data array feeds. */
  public String dataInput() {
    return binding.dataInput();
  }

  /**
   * Makes {@code name} the input that batches feed.
   *
   * @throws IllegalArgumentException when the model has no such input
   */
  public Runner dataInput(String name) {
    requireInput(name);
    binding = binding.withDataInput(name);
    return this;
  }

  /** The model's outputs, in graph order. */
  public List<String> outputNames() {
    return outputNames;
  }

  /**
   * Turns the pre-allocated outputs off (on by default); only for outputs whose shape depends
   * on the data rather than on the batch size. A run whose pinned outputs do not fit turns it
   * off by itself.
   */
  public Runner pinOutputs(boolean on) {
    if (!on) {
      clearPinned();
    }
    pinning = on;
    return this;
  }

  /**
   * Sets a float input other than the data input, e.g. a channel mask; it is fed to every
   * later run until set again. The values are copied.
   *
   * @throws IllegalArgumentException when the model has no such input, it is the data input,
   *     or {@code shape} does not hold {@code values.length} values
   */
  public void setInput(String name, float[] values, long[] shape) throws OrtException {
    requireInput(name);
    if (name.equals(binding.dataInput())) {
      throw new IllegalArgumentException("'" + name + "' is the data input; batches feed it");
    }
    if (count(shape) != values.length) {
      throw new IllegalArgumentException("input '" + name + "': shape " + Arrays.toString(shape) + " holds "
          + count(shape) + " values, got " + values.length);
    }
    Fed old = extras.get(name);
    FloatBuffer buf = old != null && old.buffer.capacity() == values.length ? old.buffer
        : OrtTensors.floatBuffer(values.length);
    if (old != null) {
      old.tensor.close();
    }
    buf.clear();
    buf.put(values).flip();
    extras.put(name, new Fed(buf, OrtTensors.wrap(buf, shape), shape.clone()));
  }

  /** Runs one batch and returns the model's first output. */
  public float[] run(Batch batch) throws OrtException {
    return run(batch, List.of(outputNames.get(0))).get(outputNames.get(0)).values();
  }

  /**
   * Runs one batch and fetches {@code outputs} (float tensors), in the order asked.
   *
   * @throws IllegalArgumentException when an output is unknown or not float, or an input has no
   *     value (set it with {@link #setInput})
   * @throws DataMismatchException when an array of the batch names no model input or does not fit
   *     its declared shape, or the batch lacks an input the model has
   * @throws OrtException when ONNX Runtime fails
   */
  public Map<String, Output> run(Batch batch, List<String> outputs) throws OrtException {
    Map<String, Output> out = new LinkedHashMap<>();
    for (String name : outputs) {
      out.put(name, null);
    }
    execute(batch, outputs, (name, buffer, shape) -> {
      float[] v = new float[buffer.remaining()];
      buffer.get(v);
      out.put(name, new Output(v, shape));
    });
    return out;
  }

  /**
   * Runs one batch and writes output {@code output} into {@code into} from index 0 (no
   * allocation per batch).
   *
   * @return the output's shape
   * @throws IllegalArgumentException when {@code into} is too small, and as {@link #run(Batch, List)}
   */
  public long[] run(Batch batch, String output, float[] into) throws OrtException {
    long[][] shape = new long[1][];
    execute(batch, List.of(output), (name, buffer, s) -> {
      if (buffer.remaining() > into.length) {
        throw new IllegalArgumentException("output '" + name + "' " + Arrays.toString(s) + " has "
            + buffer.remaining() + " values; the array holds " + into.length);
      }
      buffer.get(into, 0, buffer.remaining());
      shape[0] = s;
    });
    return shape[0];
  }

  @FunctionalInterface
  private interface Sink {
    void accept(String name, FloatBuffer values, long[] shape);
  }

  private void execute(Batch batch, List<String> outputs, Sink sink) throws OrtException {
    for (String name : outputs) {
      if (!outputNames.contains(name)) {
        throw new IllegalArgumentException("the model has no output '" + name + "'; outputs: " + outputNames);
      }
    }
    Map<String, OnnxTensor> inputs = feed(batch);
    for (Map.Entry<String, Fed> e : extras.entrySet()) {
      inputs.put(e.getKey(), e.getValue().tensor);
    }
    for (String name : sessionInputs) {
      if (!inputs.containsKey(name) && batch.isFloat()) {
        throw new IllegalArgumentException("model input '" + name + "' has no value; set it with setInput");
      } else if (!inputs.containsKey(name)) {
        throw new DataMismatchException("model input '" + name + "' has no value; set it with setInput or give the"
            + " data an array of that name (it holds " + batch.describe() + ")");
      }
    }
    Set<String> wanted = new LinkedHashSet<>(outputs);
    long n = batch.shape()[0];
    Map<String, Fed> pins = pinning ? pinsFor(n, wanted) : null;
    if (pins != null) {
      Map<String, OnnxTensor> into = new HashMap<>();
      pins.forEach((name, fed) -> into.put(name, fed.tensor));
      try (OrtSession.Result r = session.run(inputs, into)) {
        for (String name : outputs) {
          Fed p = pins.get(name);
          sink.accept(name, p.buffer.duplicate().clear(), p.shape.clone());
        }
        return;
      } catch (OrtException e) {
        // a shape that depends on the data, not on the batch size: run without pinned outputs from now on
        pinOutputs(false);
      }
    }
    try (OrtSession.Result r = session.run(inputs, wanted)) {
      Map<String, long[]> shapes = new HashMap<>();
      for (String name : outputs) {
        OnnxValue v = r.get(name).orElseThrow();
        if (!(v instanceof OnnxTensor t) || t.getInfo().type != OnnxJavaType.FLOAT) {
          throw new IllegalArgumentException("output '" + name + "' is " + v.getInfo() + ", not a float tensor");
        }
        long[] shape = t.getInfo().getShape();
        shapes.put(name, shape);
        sink.accept(name, t.getFloatBuffer(), shape);
      }
      if (pinning) {
        seenShapes.computeIfAbsent(n, k -> new HashMap<>()).putAll(shapes);
      }
    }
  }

  /** Pinned output buffers for batch size {@code n}, or null until every output's shape is known. */
  private Map<String, Fed> pinsFor(long n, Set<String> wanted) throws OrtException {
    Map<String, long[]> shapes = seenShapes.get(n);
    if (shapes == null || !shapes.keySet().containsAll(wanted)) {
      return null;
    }
    Map<String, Fed> pins = pinned.computeIfAbsent(n, k -> new HashMap<>());
    for (String name : wanted) {
      if (!pins.containsKey(name)) {
        long[] shape = shapes.get(name);
        FloatBuffer buf = OrtTensors.floatBuffer(Math.toIntExact(count(shape)));
        pins.put(name, new Fed(buf, OrtTensors.wrap(buf, shape), shape));
      }
    }
    while (pinned.size() > PINNED_SIZES) {
      Map.Entry<Long, Map<String, Fed>> eldest = pinned.entrySet().iterator().next();
      eldest.getValue().values().forEach(f -> f.tensor.close());
      pinned.remove(eldest.getKey());
    }
    Map<String, Fed> subset = new HashMap<>();
    for (String name : wanted) {
      subset.put(name, pins.get(name));
    }
    return subset;
  }

  /** Copies each array of the batch into its input's slot; the tensors by input name. */
  private Map<String, OnnxTensor> feed(Batch batch) throws OrtException {
    Map<String, OnnxTensor> inputs = new HashMap<>();
    for (Map.Entry<String, HostTensor> e : batch.features().entrySet()) {
      String name = binding.inputFor(e.getKey());
      if (extras.containsKey(name)) {
        throw new IllegalArgumentException("input '" + name + "' is fed by both the batch and setInput");
      }
      binding.checkShape(name, e.getValue().shape());
      OrtTensors.Slot slot = slots.get(name);
      if (slot == null) {
        slot = new OrtTensors.Slot(binding.typeOf(name));
        slots.put(name, slot);
      }
      inputs.put(name, slot.fill(e.getValue()));
    }
    return inputs;
  }

  private void requireInput(String name) {
    if (!sessionInputs.contains(name)) {
      throw new IllegalArgumentException("the model has no input '" + name + "'; inputs: " + sessionInputs);
    }
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private void clearPinned() {
    for (Map<String, Fed> pins : pinned.values()) {
      pins.values().forEach(f -> f.tensor.close());
    }
    pinned.clear();
    seenShapes.clear();
  }

  /** Closes the session and every tensor this runner made. */
  @Override
  public void close() throws OrtException {
    slots.values().forEach(OrtTensors.Slot::close);
    slots.clear();
    clearPinned();
    extras.values().forEach(f -> f.tensor.close());
    extras.clear();
    session.close();
  }
}
