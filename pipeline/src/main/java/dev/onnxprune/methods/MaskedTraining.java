package dev.onnxprune.methods;

import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.internal.Ort;
import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.training.ArtifactSpec;
import dev.onnxprune.training.TrainingArtifact;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingOptions;
import dev.onnxprune.training.TrainingSession;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The machinery the {@link TrainingMethod}s share: a training session of the model being pruned
 * with one channel-mask input per prunable group ({@link MaskInsertion#inputs}, one mask for the
 * whole batch), the masks it is fed, batches drawn from the training data, the gradients with
 * respect to the masks, validation, the costs and widths that removals imply, and writing the
 * trained parameters back into the model.
 *
 * <p>A mask entry of 0 ablates a channel in the forward pass and, because the mask multiplies
 * the channel where it enters its consumers, gives the weights reading it no gradient through it;
 * 1 keeps it; values between (adversarial PGD) scale it.
 */
final class MaskedTraining implements AutoCloseable {
  private final ChannelAnalysis analysis;
  private final MethodSetup setup;
  private final TrainingSession session;
  private final TrainingData.Stream stream;
  private final Map<Integer, String> maskInputs;
  private final float[][] masks;
  private final PlanCost cost;
  private final long baseFlops;
  private final int batchSize;
  private final long start = System.nanoTime();

  /**
   * Adds to the training step's graph once the masks are in, before the artifact is built (AOFP's
   * scoring paths): may add graph inputs (fed through {@link #session()} before the first step)
   * and outputs ({@link TrainingOptions.Builder#extraOutputs}).
   */
  interface Extension {
    /**
     * @param copy the analysis of the working copy, made before the masks were inserted
     * @param consumers {@code copy.consumerInputs()} from before the masks were inserted
     * @param maskInputs the mask input of each prunable group
     * @param options the training step's options, to add outputs to
     */
    void extend(ChannelAnalysis copy, List<ChannelAnalysis.ConsumerInput> consumers, Map<Integer, String> maskInputs,
        TrainingOptions.Builder options);
  }

  /**
   * @param analysis the analysis of the model being pruned (not changed until {@link #writeBack})
   * @param setup data, sessions, batch size, seed
   * @param options the training step (optimizer, BN mode, frozen parameters); the masks'
   *     gradients are added to its outputs when {@code maskGradients}
   * @param data the training data in memory (shared between sessions of one method)
   */
  MaskedTraining(ChannelAnalysis analysis, MethodSetup setup, TrainingOptions.Builder options, boolean maskGradients,
      TrainingData data) {
    this(analysis, setup, options, maskGradients, data, null);
  }

  /** As above, with {@code extension} (may be null) adding to the graph before the artifact is built. */
  MaskedTraining(ChannelAnalysis analysis, MethodSetup setup, TrainingOptions.Builder options, boolean maskGradients,
      TrainingData data, Extension extension) {
    this.analysis = analysis;
    this.setup = setup;
    Model work = analysis.model().copy();
    ChannelAnalysis copy = ChannelAnalysis.analyze(work);
    if (copy.groups().size() != analysis.groups().size()) {
      throw new IllegalStateException("the copy of the model analyses into " + copy.groups().size()
          + " groups, the model into " + analysis.groups().size());
    }
    List<ChannelAnalysis.ConsumerInput> consumers = extension == null ? null : copy.consumerInputs();
    MaskInsertion mi = MaskInsertion.inputs(copy).rows(1);
    PassManager.run(work, mi);
    this.maskInputs = new LinkedHashMap<>(mi.maskInputs());
    if (maskGradients) {
      options.gradientOutputs(maskInputs.values());
    }
    if (extension != null) {
      extension.extend(copy, consumers, java.util.Collections.unmodifiableMap(maskInputs), options);
    }
    TrainingArtifact artifact = TrainingArtifact.build(work, options.build());
    data.checkLabels(artifact.spec().numClasses(), artifact.spec().classesOf());
    this.masks = new float[analysis.groups().size()][];
    try {
      this.session = TrainingSession.open(artifact, setup.sessions());
      for (Map.Entry<Integer, String> e : maskInputs.entrySet()) {
        float[] ones = new float[analysis.groups().get(e.getKey()).size()];
        Arrays.fill(ones, 1f);
        masks[e.getKey()] = ones;
        session.feed(e.getValue(), ones, 1, ones.length);
      }
    } catch (OrtException e) {
      throw new UncheckedIOException(new java.io.IOException("ONNX Runtime could not open the training step: "
          + e.getMessage(), e));
    }
    this.batchSize = Math.min(setup.batchSize(), data.count());
    this.stream = data.stream(batchSize, setup.seed(), setup.augmentation());
    this.cost = PlanCost.of(analysis);
    this.baseFlops = cost.baseline().flops();
  }

  TrainingSession session() {
    return session;
  }

  ChannelAnalysis analysis() {
    return analysis;
  }

  /** Ids of the groups that have a mask (the prunable ones). */
  List<Integer> groups() {
    return new ArrayList<>(maskInputs.keySet());
  }

  /** The current mask of group {@code id} (a copy). */
  float[] mask(int id) {
    return masks[id].clone();
  }

  /** Feeds {@code values} as group {@code id}'s mask from the next step on. */
  void setMask(int id, float[] values) {
    String name = maskInputs.get(id);
    if (name == null) {
      throw new IllegalArgumentException("group " + id + " has no mask (not prunable)");
    }
    try {
      session.feed(name, values, 1, values.length);
    } catch (OrtException e) {
      throw ort(e);
    }
    masks[id] = values.clone();
  }

  /** Samples in every training batch. */
  int batchSize() {
    return batchSize;
  }

  /** The next training batch. */
  Batch nextBatch() {
    return stream.next();
  }

  /** Epochs begun. */
  int epoch() {
    return stream.epoch();
  }

  int batchesPerEpoch() {
    return stream.batchesPerEpoch();
  }

  /** One optimizer step on the next batch. */
  TrainingSession.StepResult step(double lr) {
    dev.onnxprune.runtime.Progress.checkCancelled();
    try {
      return session.step(stream.next(), lr);
    } catch (OrtException e) {
      throw ort(e);
    }
  }

  /** The loss, logits and mask gradients on {@code b}, changing nothing. */
  TrainingSession.StepResult probe(Batch b) {
    try {
      return session.probe(b);
    } catch (OrtException e) {
      throw ort(e);
    }
  }

  /** dL/dmask of group {@code id} from the last step or probe (needs {@code maskGradients}). */
  float[] maskGradient(int id) {
    return session.gradient(maskInputs.get(id));
  }

  /**
   * Top-1 on up to {@link MethodSetup#validationLimit} validation samples (inference mode, current
   * masks), or null without validation data.
   */
  Double validate() {
    if (setup.validation() == null) {
      return null;
    }
    long right = 0;
    int n = 0;
    Iterator<Batch> it = setup.validation().batches(Math.min(256, setup.validationLimit()));
    try {
      while (it.hasNext() && n < setup.validationLimit()) {
        Batch b = it.next();
        TrainingSession.EvalResult r = session.evaluate(b);
        right += r.correct();
        n += r.size();
      }
    } catch (OrtException e) {
      throw ort(e);
    }
    return n == 0 ? null : (double) right / n;
  }

  /** Channels whose mask is exactly 0, per group (the removals the masks imply). */
  Map<Integer, int[]> zeroed() {
    Map<Integer, int[]> out = new LinkedHashMap<>();
    for (int id : maskInputs.keySet()) {
      float[] m = masks[id];
      int[] z = java.util.stream.IntStream.range(0, m.length).filter(i -> m[i] == 0f).toArray();
      if (z.length > 0) {
        out.put(id, z);
      }
    }
    return out;
  }

  /** FLOPs of the network with {@code removals} made. */
  long flops(Map<Integer, int[]> removals) {
    return cost.evaluate(removals).flops();
  }

  long baseFlops() {
    return baseFlops;
  }

  /** Group id -> channels kept under {@code removals}, for every masked group. */
  Map<Integer, Integer> widths(Map<Integer, int[]> removals) {
    Map<Integer, Integer> w = new LinkedHashMap<>();
    for (int id : maskInputs.keySet()) {
      ChannelGroup g = analysis.groups().get(id);
      int[] r = removals.get(id);
      w.put(id, g.size() - (r == null ? 0 : r.length));
    }
    return w;
  }

  /** A trajectory point for {@code removals} now; tells the setup's listener. */
  TrajectoryPoint point(long step, String event, Map<Integer, int[]> removals, double loss, Double accuracy) {
    long f = flops(removals);
    TrajectoryPoint p = new TrajectoryPoint(step, event, (System.nanoTime() - start) / 1e9, f,
        (double) f / baseFlops, widths(removals), loss, accuracy);
    setup.listener().accept(p);
    return p;
  }

  /** The current parameters and running statistics, by name (the optimizer state is not copied). */
  Map<String, Tensor> parameters() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (ArtifactSpec.StateTensor s : session.spec().state()) {
      if (!s.kind().equals(ArtifactSpec.OPTIMIZER)) {
        long[] dims = s.shape().stream().mapToLong(Long::longValue).toArray();
        out.put(s.name(), Tensor.ofFloats(dims, session.get(s.name())));
      }
    }
    return out;
  }

  /** Sets every parameter and buffer this session shares (by name) with {@code values}. */
  void load(Map<String, Tensor> values) {
    try {
      for (ArtifactSpec.StateTensor s : session.spec().state()) {
        Tensor t = values.get(s.name());
        if (t != null && !s.kind().equals(ArtifactSpec.OPTIMIZER)) {
          session.set(s.name(), t.toFloatArray());
        }
      }
    } catch (OrtException e) {
      throw ort(e);
    }
  }

  /** Writes the trained parameters and running statistics into the model being pruned. */
  void writeBack() {
    TrainingArtifact.applyStateInPlace(analysis.model(), parameters());
  }

  static UncheckedIOException ort(OrtException e) {
    return new UncheckedIOException(new java.io.IOException("ONNX Runtime failed in a training step: "
        + e.getMessage(), e));
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw ort(e);
    }
  }
}
