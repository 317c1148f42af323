package dev.onnxprune.training;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.shape.ShapeInference;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training artifact of an inference model: a training-step model, an eval model and a
 * checkpoint, all plain ONNX (standard ops, opset 17 or the model's own if newer) that stock
 * ONNX Runtime runs on CPU or CUDA, plus a JSON description ({@link ArtifactSpec}).
 *
 * <p><b>Training step</b> ({@value #TRAIN_STEP}). Inputs: every parameter (same name as its
 * initializer), the optimizer state {@code <param>.momentum} (SGD) or {@code <param>.exp_avg} and
 * {@code <param>.exp_avg_sq} (Adam), the BatchNormalization running statistics, the batch input,
 * {@value #LABELS} (INT64 {@code [N]}), {@value #LEARNING_RATE} (FLOAT scalar) and, for Adam,
 * {@value #STEP} (INT64 scalar, 1 for the first step). Outputs: {@value Loss#OUTPUT} (mean
 * softmax cross-entropy, label smoothing as configured), the logits, then {@code <name>.updated}
 * for every state input. Forward with BatchNormalization on batch statistics and Dropout on (as
 * configured), reverse-mode gradients ({@link Autodiff}'s rules), optimizer update ({@link
 * Optimizer}).
 *
 * <p><b>Eval</b> ({@value #EVAL}): the inference function with parameters and buffers as inputs
 * (same names), plus {@value #LABELS}; outputs {@value Loss#OUTPUT} (no label smoothing) and the
 * logits.
 *
 * <p><b>Checkpoint</b> ({@value #CHECKPOINT}): an ONNX model with no nodes whose initializers are
 * the initial state (parameters and buffers from the model, optimizer state zero), readable by
 * {@link OnnxModels#read} or any ONNX tool. {@link #applyState} writes trained values back into
 * the inference model.
 */
public final class TrainingArtifact {
  public static final String TRAIN_STEP = "train_step.onnx";
  public static final String EVAL = "eval.onnx";
  public static final String CHECKPOINT = "checkpoint.onnx";
  public static final String SPEC = "artifact.json";
  public static final String LABELS = "labels";
  public static final String LEARNING_RATE = "learning_rate";
  public static final String STEP = "step";
  /** Suffix of the output carrying a state tensor's next value. */
  public static final String UPDATED = ".updated";

  private final Model trainStep;
  private final Model eval;
  private final Model checkpoint;
  private final ArtifactSpec spec;

  private TrainingArtifact(Model trainStep, Model eval, Model checkpoint, ArtifactSpec spec) {
    this.trainStep = trainStep;
    this.eval = eval;
    this.checkpoint = checkpoint;
    this.spec = spec;
  }

  public Model trainStep() {
    return trainStep;
  }

  public Model eval() {
    return eval;
  }

  public Model checkpoint() {
    return checkpoint;
  }

  public ArtifactSpec spec() {
    return spec;
  }

  /**
   * Builds the artifact and writes it into {@code dir} (created if needed): {@value #TRAIN_STEP},
   * {@value #EVAL}, {@value #CHECKPOINT}, {@value #SPEC}.
   *
   * @throws GradientException when the model cannot be differentiated (the message names the node)
   */
  public static ArtifactSpec export(Model model, TrainingOptions options, Path dir) throws IOException {
    TrainingArtifact a = build(model, options);
    a.write(dir);
    return a.spec;
  }

  /** Writes the four files into {@code dir} (created if needed). */
  public void write(Path dir) throws IOException {
    Files.createDirectories(dir);
    OnnxModels.write(trainStep, dir.resolve(TRAIN_STEP));
    OnnxModels.write(eval, dir.resolve(EVAL));
    OnnxModels.write(checkpoint, dir.resolve(CHECKPOINT));
    spec.write(dir.resolve(SPEC));
  }

  /**
   * Builds the artifact in memory. The model is not changed.
   *
   * @throws GradientException when the model cannot be differentiated, or an option names
   *     something the model lacks
   */
  public static TrainingArtifact build(Model model, TrainingOptions o) {
    // ---- training step
    Model work = model.copy();
    Models.prepare(work);
    ShapeInference.infer(work);
    Graph g = work.graph();
    Value batch = input(g, o.input());
    Value logits = output(g, o.logits());
    List<ArtifactSpec.Feed> feeds = new ArrayList<>();
    for (Value v : g.runtimeInputs()) {
      if (v != batch) {
        feeds.add(new ArtifactSpec.Feed(v.name(), shapeList(v.shape())));
      }
    }
    Parameters ps = Parameters.lift(work, o);
    GradContext ctx = new GradContext(work);
    for (Node n : new ArrayList<>(g.nodes())) {
      if (n.is("BatchNormalization") && o.batchNormMode() == BatchNormMode.TRAINING) {
        NormGrads.toTraining(ctx, n, o.runningVariance());
      } else if (n.is("Dropout") && o.dropout()) {
        LayoutGrads.toTraining(ctx, n);
      }
    }
    ctx.useShapeData(ShapeInference.infer(work));
    logits = g.lookup(logits.name()); // a rewritten BatchNormalization may have produced it
    boolean classifier = isClassifier(ctx, logits);
    Value labels = o.labels() ? addInput(g, LABELS, DataType.INT64, batchShape(logits)) : null;
    Map<Value, Value> seeds = new IdentityHashMap<>();
    Map<String, String> teacher = new LinkedHashMap<>();
    Value loss;
    if (o.distillation() == null) {
      loss = LossBuilder.crossEntropy(ctx, logits, labels, o.labelSmoothing(), seeds);
    } else {
      Map<Value, Value> teacherValues = new LinkedHashMap<>();
      List<Value> matched = o.distillation().kind() == Distillation.Kind.KL ? List.of(logits)
          : List.copyOf(g.outputs());
      for (Value y : matched) {
        Value t = addInput(g, Distillation.teacherInput(y.name()), ctx.dtype(y), y.shape());
        teacherValues.put(y, t);
        teacher.put(y.name(), t.name());
      }
      if (o.distillation().kind() == Distillation.Kind.KL && !classifier) {
        throw new GradientException("distillation by KL divergence needs logits of shape [N, K]; output '"
            + logits.name() + "' has " + logits.shape() + " (distil by mean-squared error instead)");
      }
      loss = LossBuilder.distillation(ctx, o.distillation(), logits, classifier ? labels : null,
          o.labelSmoothing(), teacherValues, seeds);
    }
    List<Value> params = new ArrayList<>();
    for (Parameters.Entry e : ps.parameters) {
      params.add(ps.inputs.get(e.name()));
    }
    Map<String, Value> extraTargets = new LinkedHashMap<>();
    for (String name : o.gradientOutputs()) {
      Value v = g.lookup(name);
      if (v == null || !(v.isGraphInput() || ps.inputs.containsKey(name))) {
        List<String> known = new ArrayList<>(Models.names(g.runtimeInputs()));
        throw new GradientException(Messages.unknownName("value whose gradient to output", name, known));
      }
      extraTargets.put(name, v);
    }
    List<Value> targets = new ArrayList<>(params);
    extraTargets.values().stream().filter(v -> !params.contains(v)).forEach(targets::add);
    Map<Value, Value> grads = ctx.differentiate(seeds, targets);

    Value lr = addInput(g, LEARNING_RATE, DataType.FLOAT, Shape.scalar());
    Value step = o.optimizer().needsStep() ? addInput(g, STEP, DataType.INT64, Shape.scalar()) : null;
    OptimizerGraph opt = new OptimizerGraph(ctx, o.optimizer(), lr, step);
    Models.clearOutputs(g);
    Models.exposeAs(ctx, loss, Loss.OUTPUT, loss.type());
    g.addOutput(logits);
    Map<String, String> gradientOutputs = new LinkedHashMap<>();
    for (String name : o.extraOutputs()) {
      Value v = g.lookup(name);
      if (v == null) {
        throw new GradientException(Messages.unknownName("value to output", name, Models.names(g.outputs())));
      }
      if (!v.isGraphOutput()) {
        g.addOutput(v);
      }
    }
    for (Map.Entry<String, Value> e : extraTargets.entrySet()) {
      String out = Autodiff.gradientName(e.getKey());
      Models.exposeAs(ctx, grads.get(e.getValue()), out, e.getValue().type());
      gradientOutputs.put(e.getKey(), out);
    }
    List<ArtifactSpec.StateTensor> state = new ArrayList<>();
    List<ArtifactSpec.StateTensor> optState = new ArrayList<>();
    Map<String, Tensor> initial = new LinkedHashMap<>();
    for (Parameters.Entry e : ps.parameters) {
      Value p = ps.inputs.get(e.name());
      List<Value> st = new ArrayList<>();
      for (String s : o.optimizer().stateNames()) {
        String name = e.name() + "." + s;
        st.add(addInput(g, name, e.initial().dataType(), e.initial().shape()));
        optState.add(stateTensor(name, ArtifactSpec.OPTIMIZER, e.name(), e.initial()));
      }
      List<Value> next = opt.update(e.name(), p, grads.get(p), mask(ctx, e, o), st);
      Models.exposeAs(ctx, next.get(0), e.name() + UPDATED, p.type());
      for (int i = 0; i < st.size(); i++) {
        Models.exposeAs(ctx, next.get(i + 1), st.get(i).name() + UPDATED, p.type());
      }
      state.add(stateTensor(e.name(), ArtifactSpec.PARAMETER, null, e.initial()));
      initial.put(e.name(), e.initial());
    }
    for (ArtifactSpec.StateTensor s : optState) {
      initial.put(s.name(), zeros(initial.get(s.parameter())));
    }
    state.addAll(optState);
    for (Parameters.Entry e : ps.buffers) {
      Value in = ps.inputs.get(e.name());
      Value next = ctx.bufferUpdates.get(in);
      if (next == null) {
        throw new IllegalStateException("no update for buffer " + e.name());
      }
      Models.exposeAs(ctx, next, e.name() + UPDATED, in.type());
      state.add(stateTensor(e.name(), ArtifactSpec.BUFFER, null, e.initial()));
      initial.put(e.name(), e.initial());
    }
    g.removeDeadCode();
    work.setDocString("onnx-prune training step: forward (training mode), softmax cross-entropy, reverse-mode"
        + " gradients and the optimizer update; see artifact.json");

    // ---- eval
    Model ev = evalModel(model, o);

    // ---- checkpoint
    Graph cg = new Graph("checkpoint");
    for (Map.Entry<String, Tensor> e : initial.entrySet()) {
      cg.addInitializer(e.getKey(), e.getValue());
    }
    Model ck = new Model(cg);
    ck.opsets().add(new OpsetId("", Math.max(Models.MIN_OPSET, model.defaultOpsetVersion())));
    ck.setIrVersion(8L);
    ck.setProducerName("onnx-prune");
    ck.setDocString("onnx-prune training checkpoint: one initializer per state tensor of the training step");

    ArtifactSpec spec = new ArtifactSpec(1, TRAIN_STEP, EVAL, CHECKPOINT, batch.name(), shapeList(batch.shape()),
        classifier ? LABELS : null, LEARNING_RATE, step == null ? null : STEP, Loss.OUTPUT, logits.name(),
        classifier ? ctx.dims(logits)[1] : 0, describe(o.optimizer()), batchNorm(o),
        o.labelSmoothing(), state, List.copyOf(o.frozen()), feeds, gradientOutputs, o.extraOutputs(),
        !o.labels(), teacher);
    return new TrainingArtifact(work, ev, ck, spec);
  }

  private static Model evalModel(Model model, TrainingOptions o) {
    Model work = model.copy();
    Models.prepare(work);
    ShapeInference.infer(work);
    Graph g = work.graph();
    Value logits = output(g, o.logits());
    Parameters.lift(work, o);
    GradContext ctx = new GradContext(work);
    Models.clearOutputs(g);
    if (isClassifier(ctx, logits)) {
      Value labels = addInput(g, LABELS, DataType.INT64, batchShape(logits));
      Value loss = LossBuilder.crossEntropy(ctx, logits, labels, 0, null);
      Models.exposeAs(ctx, loss, Loss.OUTPUT, loss.type());
    }
    g.addOutput(logits);
    g.removeDeadCode();
    work.setDocString("onnx-prune eval model: the inference function with parameters as inputs, and its loss");
    return work;
  }

  /**
   * A copy of the inference model {@code model} with the values in {@code state} (by name:
   * parameters and buffers; other names are ignored) as its initializers. A parameter that the
   * model shares through an {@code Identity} gets an initializer of its own.
   */
  public static Model applyState(Model model, Map<String, Tensor> state) {
    Model out = model.copy();
    applyStateInPlace(out, state);
    return out;
  }

  /**
   * {@link #applyState} on {@code model} itself: initializers get the values in {@code state};
   * a parameter the model shares through an {@code Identity} gets an initializer of its own,
   * which the Identity's consumers read (the nodes stay; only their input changes).
   */
  public static void applyStateInPlace(Model model, Map<String, Tensor> state) {
    Graph g = model.graph();
    for (Map.Entry<String, Tensor> e : state.entrySet()) {
      Value v = g.lookup(e.getKey());
      if (v == null) {
        continue;
      }
      if (v.isInitializer()) {
        v.setInitializer(e.getValue());
      } else if (v.producer() != null && v.producer().is("Identity")) {
        Node id = v.producer();
        Value init = g.addInitializer(g.uniqueName(v.name() + "__trained"), e.getValue());
        v.replaceAllUsesWith(init);
        for (int i = 0; i < g.outputs().size(); i++) {
          if (g.outputs().get(i) == v) {
            g.setOutput(i, init);
          }
        }
        g.removeNode(id);
        init.rename(e.getKey());
      }
    }
    g.removeDeadCode();
  }

  /** Logits {@code [N, K]} with K known: a classifier's, which a cross-entropy applies to. */
  private static boolean isClassifier(GradContext ctx, Value logits) {
    long[] d = ctx.dims(logits);
    return d.length == 2 && d[1] > 0;
  }

  private static Value mask(GradContext ctx, Parameters.Entry e, TrainingOptions o) {
    Tensor m = o.weightMasks().get(e.name());
    if (m == null && o.maskZeroWeights() && isWeight(ctx.g.lookup(e.name()), e.initial())) {
      float[] w = e.initial().toFloatArray();
      float[] z = new float[w.length];
      boolean any = false;
      for (int i = 0; i < w.length; i++) {
        z[i] = w[i] == 0f ? 0f : 1f;
        any |= w[i] == 0f;
      }
      m = any ? Tensor.ofFloats(e.initial().dims(), z) : null;
    }
    if (m == null) {
      return null;
    }
    if (!java.util.Arrays.equals(m.dims(), e.initial().dims())) {
      throw new GradientException("the mask of '" + e.name() + "' has shape " + m.shape() + ", the parameter "
          + e.initial().shape());
    }
    return ctx.constant(e.name() + ".mask", m.dataType() == DataType.FLOAT ? m : Tensor.ofFloats(m.dims(),
        m.toFloatArray()));
  }

  /** True for the weight (not bias) of a Conv, ConvTranspose, Gemm or MatMul. */
  private static boolean isWeight(Value lifted, Tensor initial) {
    for (dev.onnxprune.graph.Use u : lifted.uses()) {
      Node n = u.node();
      if ((n.is("Conv") || n.is("ConvTranspose")) && u.index() == 1 || n.is("MatMul")
          || n.is("Gemm") && u.index() < 2) {
        return true;
      }
    }
    return initial.rank() >= 2;
  }

  private static ArtifactSpec.StateTensor stateTensor(String name, String kind, String param, Tensor t) {
    List<Long> shape = new ArrayList<>();
    for (long d : t.dims()) {
      shape.add(d);
    }
    return new ArtifactSpec.StateTensor(name, name + UPDATED, kind, param, shape);
  }

  private static Tensor zeros(Tensor like) {
    return GradContext.tensorOf(like.dataType(), like.dims(), new double[(int) like.elementCount()]);
  }

  private static Map<String, String> batchNorm(TrainingOptions o) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("mode", o.batchNormMode().name().toLowerCase());
    m.put("runningVariance", o.runningVariance().name().toLowerCase());
    return m;
  }

  private static Map<String, Object> describe(Optimizer o) {
    Map<String, Object> m = new LinkedHashMap<>();
    if (o instanceof Optimizer.Sgd s) {
      m.put("type", "sgd");
      m.put("momentum", s.momentum());
      m.put("dampening", s.dampening());
      m.put("nesterov", s.nesterov());
      m.put("weightDecay", s.weightDecay());
    } else {
      Optimizer.Adam a = (Optimizer.Adam) o;
      m.put("type", a.decoupled() ? "adamw" : "adam");
      m.put("beta1", a.beta1());
      m.put("beta2", a.beta2());
      m.put("epsilon", a.epsilon());
      m.put("weightDecay", a.weightDecay());
    }
    return m;
  }

  private static List<Object> shapeList(Shape s) {
    List<Object> out = new ArrayList<>();
    if (s != null) {
      for (var d : s.dims()) {
        out.add(d.isKnown() ? (Object) d.get() : d.isSymbolic() ? d.param() : "?");
      }
    }
    return out;
  }

  private static Shape batchShape(Value logits) {
    Shape s = logits.shape();
    return s == null || s.rank() < 1 ? null : Shape.of(List.of(s.dim(0)));
  }

  private static Value addInput(Graph g, String name, DataType t, Shape shape) {
    if (g.lookup(name) != null) {
      throw new GradientException("the training step needs an input named '" + name + "', but the model already"
          + " has a value of that name; rename it in the model");
    }
    return g.addInput(name, new ValueType.TensorType(t, shape));
  }

  private static Value input(Graph g, String name) {
    List<Value> ins = g.runtimeInputs();
    if (name == null) {
      if (ins.isEmpty()) {
        throw new GradientException("the model has no input to feed batches to");
      }
      return ins.get(0);
    }
    for (Value v : ins) {
      if (v.name().equals(name)) {
        return v;
      }
    }
    throw new GradientException(Messages.unknownName("input", name, Models.names(ins)));
  }

  private static Value output(Graph g, String name) {
    List<Value> outs = g.outputs();
    if (name == null) {
      if (outs.isEmpty()) {
        throw new GradientException("the model has no output to take as logits");
      }
      return outs.get(0);
    }
    for (Value v : outs) {
      if (v.name().equals(name)) {
        return v;
      }
    }
    throw new GradientException(Messages.unknownName("logits output", name, Models.names(outs)));
  }
}
