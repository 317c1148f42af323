package dev.onnxprune.training;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.TrainingDivergedException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.Labels;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a training artifact in ONNX Runtime: holds the state tensors between steps (each step's
 * updated outputs become the next step's inputs, without copying), feeds batches, counts steps.
 * Not thread-safe.
 *
 * <p>On the CPU the session runs a specialised copy of the training step: its Convs on ONNX
 * Runtime's blocked NCHWc kernels ({@link NchwcConvs}), and intra-op threads that sleep rather
 * than spin between ops. The artifact itself stays plain ONNX.
 */
public final class TrainingSession implements AutoCloseable {
  /**
   * Loss (mean over the batch, before the update), how many samples the logits classified right,
   * and the logits {@code [N, K]} row-major (training-mode forward).
   */
  public record StepResult(double loss, int correct, int size, float[] logits) {}

  /** Eval of one batch: mean loss, right answers, and the logits {@code [N, K]} row-major. */
  public record EvalResult(double loss, int correct, int size, float[] logits) {}

  /** Checkpoint metadata key of the step count. */
  public static final String STEPS_KEY = "onnx-prune.steps";

  private final ArtifactSpec spec;
  private final OrtSession train;
  private final OrtSession eval;
  private final Map<String, OnnxTensor> state = new LinkedHashMap<>();
  private final List<OnnxTensor> owned = new ArrayList<>();
  private OrtSession.Result last;
  private long steps;
  private final Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
  private final Map<String, float[]> gradients = new LinkedHashMap<>();
  private final Map<String, float[]> outputs = new LinkedHashMap<>();
  /** The batch and its labels go into direct buffers kept from step to step (ONNX Runtime reads them in place). */
  private final OrtTensors.Slot inputSlot = new OrtTensors.Slot(DataType.FLOAT);
  private final OrtTensors.Slot labelSlot = new OrtTensors.Slot(DataType.INT64);

  private TrainingSession(ArtifactSpec spec, OrtSession train, OrtSession eval, Model checkpoint) throws OrtException {
    this.spec = spec;
    this.train = train;
    this.eval = eval;
    Map<String, Tensor> init = new HashMap<>();
    for (Value v : checkpoint.graph().initializers()) {
      init.put(v.name(), v.initializer());
    }
    for (ArtifactSpec.StateTensor s : spec.state()) {
      Tensor t = init.get(s.name());
      if (t == null) {
        throw new IllegalArgumentException("the checkpoint has no tensor '" + s.name() + "' that the artifact needs");
      }
      OnnxTensor o = toOrt(t);
      owned.add(o);
      state.put(s.name(), o);
    }
  }

  /** Opens the artifact written by {@link TrainingArtifact#export} into {@code dir}. */
  public static TrainingSession open(Path dir, Sessions sessions) throws IOException, OrtException {
    ArtifactSpec spec = ArtifactSpec.read(dir.resolve(TrainingArtifact.SPEC));
    Model ck = OnnxModels.read(dir.resolve(spec.checkpoint()));
    OrtSession e = sessions.open(dir.resolve(spec.eval()));
    OrtSession t;
    try {
      t = "CPU".equals(sessions.provider()) ? openTrainStep(OnnxModels.read(dir.resolve(spec.trainStep())), sessions)
          : sessions.open(dir.resolve(spec.trainStep()));
    } catch (OrtException | RuntimeException ex) {
      e.close();
      throw ex;
    }
    return new TrainingSession(spec, t, e, ck);
  }

  /** Opens an artifact built in memory. */
  public static TrainingSession open(TrainingArtifact a, Sessions sessions) throws OrtException {
    OrtSession e = sessions.open(a.eval());
    OrtSession t;
    try {
      t = "CPU".equals(sessions.provider()) ? openTrainStep(a.trainStep().copy(), sessions)
          : sessions.open(a.trainStep());
    } catch (OrtException | RuntimeException ex) {
      e.close();
      throw ex;
    }
    return new TrainingSession(a.spec(), t, e, a.checkpoint());
  }

  /**
   * On the CPU the training step's Convs run on ONNX Runtime's blocked kernels ({@link
   * NchwcConvs}); {@code step} is a copy that this may change.
   */
  private static OrtSession openTrainStep(Model step, Sessions sessions) throws OrtException {
    if (NchwcConvs.enabled()) {
      NchwcConvs.apply(step);
    }
    return sessions.open(OnnxModels.toBytes(step), SPINNING);
  }

  /**
   * The training step's intra-op threads sleep between ops instead of spinning: on CPU cores
   * shared with other jobs, spinning threads ran the step 2.5 to 4 times slower (bench/README);
   * {@code -Donnxprune.spin=1} keeps ONNX Runtime's default.
   */
  private static final Map<String, String> SPINNING = Map.of("session.intra_op.allow_spinning",
      System.getProperty("onnxprune.spin", "0"));

  public ArtifactSpec spec() {
    return spec;
  }

  /** Steps run so far. */
  public long steps() {
    return steps;
  }

  /**
   * One optimizer step on {@code batch} (labels required) with learning rate {@code lr}.
   *
   * <p>A step whose loss is not finite, or after which a parameter or buffer (a BatchNorm
   * statistic) holds a value that is not finite, is not applied: the state stays as it was before
   * the step and the step count too.
   *
   * @throws IllegalArgumentException when the batch has no labels, or {@code lr} is not a finite
   *     float
   * @throws dev.onnxprune.errors.DataMismatchException when a label is outside the model's classes
   * @throws TrainingDivergedException when the step's loss or updated state is not finite
   */
  public StepResult step(Batch batch, double lr) throws OrtException {
    return step(batch, lr, Map.of());
  }

  /**
   * One optimizer step of an artifact that distils ({@link ArtifactSpec#teacher}): {@code teacher}
   * holds the teacher's value of each matched output on this batch, by output name; otherwise as
   * {@link #step(Batch, double)}.
   *
   * @throws IllegalArgumentException when the batch lacks labels the step needs, a teacher value is
   *     missing, or {@code lr} is not a finite float
   */
  public StepResult step(Batch batch, double lr, Map<String, Runner.Output> teacher) throws OrtException {
    if (!Float.isFinite((float) lr)) {
      throw new IllegalArgumentException("the learning rate must be a finite float: " + lr);
    }
    return run(batch, lr, true, teacher);
  }

  /**
   * Runs the training step on {@code batch} without keeping its result: the loss, the logits and
   * the {@link #gradient gradient outputs} at the current parameters, with no update of the
   * parameters, the optimizer state, the running statistics or the step count. BatchNormalization
   * uses batch statistics as in a step (when the artifact trains it that way).
   */
  public StepResult probe(Batch batch) throws OrtException {
    return run(batch, 0, false, Map.of());
  }

  /**
   * Sets the extra graph input {@code name} ({@link ArtifactSpec#feeds}, e.g. a channel mask) to
   * {@code values} of {@code shape} for every later step, probe and evaluation, until set again.
   *
   * @throws IllegalArgumentException when the artifact has no such input, or the sizes disagree
   */
  public void feed(String name, float[] values, long... shape) throws OrtException {
    if (spec.feeds().stream().noneMatch(f -> f.name().equals(name))) {
      throw new IllegalArgumentException(Messages.unknownName("extra input", name,
          spec.feeds().stream().map(ArtifactSpec.Feed::name).toList()));
    }
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n != values.length) {
      throw new IllegalArgumentException("input '" + name + "': " + values.length + " values for shape "
          + java.util.Arrays.toString(shape));
    }
    OnnxTensor old = feeds.put(name, OrtTensors.create(values, shape));
    if (old != null) {
      old.close();
    }
  }

  /**
   * The gradient output for {@code name} ({@link TrainingOptions.Builder#gradientOutputs}) of the
   * last {@link #step} or {@link #probe}: dL/d{@code name} of the batch-mean loss, row-major.
   *
   * @throws IllegalArgumentException when the artifact does not output it
   * @throws IllegalStateException before the first step or probe
   */
  public float[] gradient(String name) {
    if (!spec.gradients().containsKey(name)) {
      throw new IllegalArgumentException(Messages.unknownName("gradient output", name,
          List.copyOf(spec.gradients().keySet())));
    }
    float[] g = gradients.get(name);
    if (g == null) {
      throw new IllegalStateException("no step or probe has run yet");
    }
    return g.clone();
  }

  /**
   * The extra output {@code name} ({@link TrainingOptions.Builder#extraOutputs}) of the last
   * {@link #step} or {@link #probe}, row-major.
   *
   * @throws IllegalArgumentException when the artifact does not output it
   * @throws IllegalStateException before the first step or probe
   */
  public float[] output(String name) {
    if (!spec.extraOutputs().contains(name)) {
      throw new IllegalArgumentException(Messages.unknownName("extra output", name, spec.extraOutputs()));
    }
    float[] v = outputs.get(name);
    if (v == null) {
      throw new IllegalStateException("no step or probe has run yet");
    }
    return v.clone();
  }

  /**
   * The current value of the state tensor {@code name} (a parameter, optimizer state or buffer),
   * row-major.
   *
   * @throws IllegalArgumentException when there is no such state tensor
   */
  public float[] get(String name) {
    return floats(stateTensor(name));
  }

  /**
   * Replaces the value of the state tensor {@code name} (same size): a proximal step, a mask
   * reversal, weights restored from a snapshot.
   *
   * @throws IllegalArgumentException when there is no such state tensor or the size differs
   */
  public void set(String name, float[] values) throws OrtException {
    OnnxTensor t = stateTensor(name);
    long[] shape = t.getInfo().getShape();
    if (t.getInfo().getNumElements() != values.length) {
      throw new IllegalArgumentException("state tensor '" + name + "' has " + t.getInfo().getNumElements()
          + " values, not " + values.length);
    }
    OnnxTensor fresh = OrtTensors.create(values, shape);
    owned.add(fresh); // freed after the next step, like the checkpoint's tensors
    state.put(name, fresh);
  }

  private OnnxTensor stateTensor(String name) {
    OnnxTensor t = state.get(name);
    if (t == null) {
      throw new IllegalArgumentException(Messages.unknownName("state tensor", name, List.copyOf(state.keySet())));
    }
    return t;
  }

  private StepResult run(Batch batch, double lr, boolean commit, Map<String, Runner.Output> teacher)
      throws OrtException {
    if (batch.labels() == null && !spec.unlabelled()) {
      throw new IllegalArgumentException("a training batch needs labels");
    }
    if (batch.labels() != null && !spec.unlabelled() && spec.labels() != null) {
      Labels.check(batch.labels(), 0, spec.numClasses(), spec.classesOf() + " (samples counted in the batch)");
    }
    Map<String, OnnxTensor> in = new LinkedHashMap<>(state);
    List<OnnxTensor> temp = new ArrayList<>();
    try {
      in.put(spec.input(), inputSlot.fill(HostTensor.floats(batch.inputs(), batch.shape())));
      if (!spec.unlabelled()) {
        in.put(spec.labels(), labelSlot.fill(HostTensor.longs(batch.labels(), batch.size())));
      }
      for (Map.Entry<String, String> e : spec.teacher().entrySet()) {
        Runner.Output t = teacher.get(e.getKey());
        if (t == null) {
          throw new IllegalArgumentException("the training step distils output '" + e.getKey() + "' and was given"
              + " no teacher value for it");
        }
        temp.add(put(in, e.getValue(), OrtTensors.create(t.values(), t.shape())));
      }
      temp.add(put(in, spec.learningRate(), OrtTensors.scalar((float) lr)));
      if (spec.step() != null) {
        temp.add(put(in, spec.step(), OrtTensors.scalar(steps + 1)));
      }
      putFeeds(in);
      OrtSession.Result r = train.run(in);
      StepResult result;
      try {
        OnnxTensor logits = (OnnxTensor) r.get(spec.logits()).orElseThrow();
        float[] lf = floats(logits);
        int correct = batch.labels() == null || spec.numClasses() <= 0 ? 0
            : correct(lf, (int) logits.getInfo().getShape()[1], batch.labels());
        result = new StepResult(scalar(r.get(spec.loss()).orElseThrow()), correct, batch.size(), lf);
        keepGradients(r);
      } catch (RuntimeException | OrtException e) {
        r.close();
        throw e;
      }
      if (!commit) {
        r.close();
        return result;
      }
      try {
        checkFinite(r, result.loss(), lr);
      } catch (RuntimeException | OrtException e) {
        r.close();
        throw e;
      }
      for (ArtifactSpec.StateTensor s : spec.state()) {
        state.put(s.name(), (OnnxTensor) r.get(s.updated()).orElseThrow());
      }
      // The previous state lives in the previous result (or the checkpoint tensors): free it now.
      if (last != null) {
        last.close();
      }
      owned.forEach(OnnxTensor::close);
      owned.clear();
      last = r;
      steps++;
      return result;
    } finally {
      temp.forEach(OnnxTensor::close);
    }
  }

  /**
   * Refuses a step whose loss, or one of whose updated parameters and buffers, is not finite
   * (optimizer state is left out: it reaches the parameters at the next step, where this sees it).
   */
  private void checkFinite(OrtSession.Result r, double loss, double lr) throws OrtException {
    long step = steps + 1;
    if (!Double.isFinite(loss)) {
      throw diverged(step, "the loss is " + loss, lr);
    }
    for (ArtifactSpec.StateTensor s : spec.state()) {
      if (s.kind().equals(ArtifactSpec.OPTIMIZER)) {
        continue;
      }
      FloatBuffer fb = ((OnnxTensor) r.get(s.updated()).orElseThrow()).getFloatBuffer();
      for (int i = 0, n = fb.limit(); i < n; i++) {
        float v = fb.get(i);
        if (!Float.isFinite(v)) {
          throw diverged(step, s.kind() + " '" + s.name() + "' is " + v + " at index " + i + " after the update",
              lr);
        }
      }
    }
  }

  private static TrainingDivergedException diverged(long step, String what, double lr) {
    return new TrainingDivergedException(step, what, "training diverged at step " + step + ": " + what
        + " (learning rate " + lr + "); the step was not applied. Lower the learning rate, or check the data for"
        + " NaN or infinite values");
  }

  /** Loss and logits of {@code batch} under the current parameters (inference mode). */
  public EvalResult evaluate(Batch batch) throws OrtException {
    Map<String, OnnxTensor> in = new LinkedHashMap<>();
    for (ArtifactSpec.StateTensor s : spec.state()) {
      if (!s.kind().equals(ArtifactSpec.OPTIMIZER)) {
        in.put(s.name(), state.get(s.name()));
      }
    }
    List<OnnxTensor> temp = new ArrayList<>();
    try {
      temp.add(put(in, spec.input(), OrtTensors.create(batch.inputs(), batch.shape())));
      putFeeds(in);
      boolean scored = spec.labels() != null && batch.labels() != null;
      if (spec.labels() != null) {
        long[] labels = batch.labels() != null ? batch.labels() : new long[batch.size()];
        Labels.check(labels, 0, spec.numClasses(), spec.classesOf() + " (samples counted in the batch)");
        temp.add(put(in, spec.labels(), OrtTensors.create(labels, labels.length)));
      }
      try (OrtSession.Result r = eval.run(in)) {
        OnnxTensor logits = (OnnxTensor) r.get(spec.logits()).orElseThrow();
        float[] out = floats(logits);
        double loss = !scored ? Double.NaN : scalar(r.get(spec.loss()).orElseThrow());
        int correct = !scored ? 0 : correct(out, (int) logits.getInfo().getShape()[1], batch.labels());
        return new EvalResult(loss, correct, batch.size(), out);
      }
    } finally {
      temp.forEach(OnnxTensor::close);
    }
  }

  /** The current value of every state tensor (copies), by name. */
  public Map<String, Tensor> state() throws OrtException {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, OnnxTensor> e : state.entrySet()) {
      out.put(e.getKey(), Tensor.ofFloats(e.getValue().getInfo().getShape(), floats(e.getValue())));
    }
    return out;
  }

  /** Writes the current state as a checkpoint (the format of {@value TrainingArtifact#CHECKPOINT}). */
  public void saveCheckpoint(Path file) throws IOException, OrtException {
    saveCheckpoint(file, Map.of());
  }

  /**
   * Writes the current state as a checkpoint, with {@code metadata} added to the model's
   * metadata (the step count is always there as {@value #STEPS_KEY}). The write is atomic.
   */
  public void saveCheckpoint(Path file, Map<String, String> metadata) throws IOException, OrtException {
    Graph g = new Graph("checkpoint");
    for (Map.Entry<String, Tensor> e : state().entrySet()) {
      g.addInitializer(e.getKey(), e.getValue());
    }
    Model m = new Model(g);
    m.opsets().add(new OpsetId("", 17));
    m.setIrVersion(8L);
    m.setProducerName("onnx-prune");
    m.metadata().putAll(metadata);
    m.metadata().put(STEPS_KEY, Long.toString(steps));
    OnnxModels.write(m, file);
  }

  /**
   * Replaces the state (parameters, optimizer state, buffers) by the tensors of a checkpoint
   * written by {@link #saveCheckpoint} (or an artifact's initial checkpoint), and the step count
   * by its {@value #STEPS_KEY} (0 when absent). Returns the checkpoint's metadata.
   *
   * @throws IllegalArgumentException when the checkpoint lacks a state tensor of this artifact
   *     or holds one of another shape (it was written for other training options or another model)
   */
  public Map<String, String> restore(Path checkpoint) throws IOException, OrtException {
    Model ck = OnnxModels.read(checkpoint);
    Map<String, Tensor> init = new HashMap<>();
    for (Value v : ck.graph().initializers()) {
      init.put(v.name(), v.initializer());
    }
    List<OnnxTensor> fresh = new ArrayList<>();
    Map<String, OnnxTensor> next = new LinkedHashMap<>();
    try {
      for (ArtifactSpec.StateTensor s : spec.state()) {
        Tensor t = init.get(s.name());
        if (t == null) {
          throw new IllegalArgumentException(checkpoint + ": no tensor '" + s.name() + "' that the training step"
              + " needs; the checkpoint was written for other training options (optimizer) or another model");
        }
        long[] want = s.shape().stream().mapToLong(Long::longValue).toArray();
        if (!java.util.Arrays.equals(want, t.dims())) {
          throw new IllegalArgumentException(checkpoint + ": tensor '" + s.name() + "' has shape " + t.shape()
              + ", the training step needs " + java.util.Arrays.toString(want) + "; it belongs to another model");
        }
        OnnxTensor o = toOrt(t);
        fresh.add(o);
        next.put(s.name(), o);
      }
    } catch (RuntimeException | OrtException e) {
      fresh.forEach(OnnxTensor::close);
      throw e;
    }
    if (last != null) {
      last.close();
      last = null;
    }
    owned.forEach(OnnxTensor::close);
    owned.clear();
    owned.addAll(fresh);
    state.putAll(next);
    String s = ck.metadata().get(STEPS_KEY);
    steps = s == null ? 0 : Long.parseLong(s);
    return Map.copyOf(ck.metadata());
  }

  /** A copy of the inference model {@code model} with the current parameters and buffers. */
  public Model applyTo(Model model) throws OrtException {
    return TrainingArtifact.applyState(model, state());
  }

  @Override
  public void close() throws OrtException {
    if (last != null) {
      last.close();
    }
    owned.forEach(OnnxTensor::close);
    feeds.values().forEach(OnnxTensor::close);
    inputSlot.close();
    labelSlot.close();
    train.close();
    eval.close();
  }

  private void putFeeds(Map<String, OnnxTensor> in) {
    for (ArtifactSpec.Feed f : spec.feeds()) {
      OnnxTensor t = feeds.get(f.name());
      if (t == null) {
        throw new IllegalStateException("the artifact has an extra input '" + f.name() + "' (shape " + f.shape()
            + ") that nothing fed; call feed() first");
      }
      in.put(f.name(), t);
    }
  }

  private void keepGradients(OrtSession.Result r) throws OrtException {
    for (Map.Entry<String, String> e : spec.gradients().entrySet()) {
      gradients.put(e.getKey(), floats((OnnxTensor) r.get(e.getValue()).orElseThrow()));
    }
    for (String name : spec.extraOutputs()) {
      outputs.put(name, floats((OnnxTensor) r.get(name).orElseThrow()));
    }
  }

  private static float[] floats(OnnxTensor t) {
    return OrtTensors.floats(t);
  }

  private static OnnxTensor put(Map<String, OnnxTensor> in, String name, OnnxTensor t) {
    in.put(name, t);
    return t;
  }

  private static double scalar(OnnxValue v) {
    return OrtTensors.floats(v)[0];
  }

  /** Samples whose largest logit (row-major {@code [N, k]}) is at their label. */
  private static int correct(float[] fb, int k, long[] labels) {
    int right = 0;
    for (int i = 0; i < labels.length; i++) {
      int best = 0;
      for (int j = 1; j < k; j++) {
        if (fb[i * k + j] > fb[i * k + best]) {
          best = j;
        }
      }
      right += best == labels[i] ? 1 : 0;
    }
    return right;
  }

  private static OnnxTensor toOrt(Tensor t) throws OrtException {
    if (t.dataType() != DataType.FLOAT) {
      throw new IllegalArgumentException("state tensor of " + t.dataType() + "; the session holds FLOAT state");
    }
    return OrtTensors.create(t);
  }
}
