package dev.onnxprune.training;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.Sessions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Re-estimates the running statistics of every BatchNormalization from calibration data, with no
 * weight update: what PyTorch does with {@code momentum=None} (cumulative averaging) and a forward
 * pass in training mode over the data, as after pruning, where every BatchNormalization sees
 * inputs with other statistics than those it was trained on.
 *
 * <ol>
 *   <li>A statistics graph: the model with each BatchNormalization on batch statistics (the
 *       training form of {@code NormGrads}, so the layers after it see what they see in training),
 *       whose outputs are each BatchNormalization's batch mean and unbiased batch variance (over N
 *       and the spatial axes, the variance times {@code M / (M - 1)} as PyTorch's running
 *       variance takes it).
 *   <li>Over the batches: {@code running = (sum of the batch statistics) / batches}, what
 *       momentum {@code 1 / (k + 1)} at batch k gives: the running statistics are the plain mean of the
 *       per-batch statistics (each batch weighs the same, as in PyTorch). Batches of fewer than
 *       two samples are skipped.
 *   <li>The model's running mean and variance initializers are replaced (one that several
 *       BatchNormalizations share is un-shared). Weights and every other initializer are kept.
 * </ol>
 */
public final class BnRecalibration {
  /**
   * @param model the model with re-estimated statistics
   * @param batchNorms BatchNormalization nodes recalibrated
   * @param batches batches averaged
   * @param samples samples seen
   * @param seconds wall time
   */
  public record Result(Model model, int batchNorms, int batches, int samples, double seconds) {}

  private BnRecalibration() {}

  /** {@link #run(Model, Dataset, int, int, Sessions, IntConsumer)} with no progress. */
  public static Result run(Model model, Dataset data, int batchSize, int maxBatches, Sessions sessions)
      throws OrtException {
    return run(model, data, batchSize, maxBatches, sessions, done -> {});
  }

  /**
   * Recalibrates {@code model} (not changed) on {@code data} in batches of {@code batchSize}
   * (labels not needed), at most {@code maxBatches} of them (0: all). A model without
   * BatchNormalization comes back as a copy. {@code progress} hears the samples done.
   *
   * @throws IllegalArgumentException when the batch size is below 2, or a BatchNormalization's
   *     statistics are not FLOAT
   * @throws GradientException when the model cannot be rewritten (opset below 13, BatchNormalization
   *     already in training mode, shapes unknown)
   * @throws OrtException when ONNX Runtime fails (for example, the data does not fit the model)
   * @throws DataMismatchException when a batch's statistics are not finite (NaN or infinite data)
   */
  public static Result run(Model model, Dataset data, int batchSize, int maxBatches, Sessions sessions,
      IntConsumer progress) throws OrtException {
    if (batchSize < 2) {
      throw new IllegalArgumentException("batch statistics need batches of at least 2 samples: " + batchSize);
    }
    if (maxBatches < 0) {
      throw new IllegalArgumentException("the number of batches must be >= 0 (0: all): " + maxBatches);
    }
    long t0 = System.nanoTime();
    Model stats = statisticsModel(model);
    if (stats == null) {
      return new Result(model.copy(), 0, 0, 0, (System.nanoTime() - t0) / 1e9);
    }
    Sums sums = new Sums(model);
    try (OrtSession s = sessions.open(stats)) {
      Iterator<Batch> it = data.batches(batchSize);
      int total = (data.size() + batchSize - 1) / batchSize;
      while (it.hasNext() && (maxBatches == 0 || sums.batches < maxBatches)) {
        if (sums.add(s, it.next())) {
          progress.accept(sums.samples);
          dev.onnxprune.runtime.Progress.report(sums.batches, maxBatches == 0 ? total : Math.min(maxBatches, total));
        }
      }
    }
    return finish(model, sums, t0, data.size());
  }

  /**
   * The statistics graph of {@code model} (outputs 2i and 2i+1: batch mean and unbiased batch
   * variance of its i-th BatchNormalization in graph order), or null when it has none.
   *
   * @throws IllegalArgumentException when a BatchNormalization's statistics are not FLOAT initializers
   * @throws GradientException when the model cannot be rewritten
   */
  public static Model statisticsModel(Model model) {
    List<Node> bns = batchNorms(model.graph());
    if (bns.isEmpty()) {
      return null;
    }
    for (Node n : bns) {
      for (int i = 3; i <= 4; i++) {
        Tensor t = Parameters.source(n.input(i));
        if (t == null || t.dataType() != DataType.FLOAT) {
          throw new IllegalArgumentException("BatchNormalization " + n.describe() + ": its running "
              + (i == 3 ? "mean" : "variance") + " must be a FLOAT initializer to be recalibrated");
        }
      }
    }
    return statsModel(model);
  }

  /**
   * Sums of the per-batch statistics over some batches: the running statistics are their mean
   * ({@code sum / batches}). Sums over disjoint shards of the data add up ({@link #add(Sums)}).
   */
  public static final class Sums implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final String[] names;
    private final double[][] sums;
    private int batches;
    private int samples;

    /** Empty sums for the BatchNormalizations of {@code model} (the model, not its statistics graph). */
    public Sums(Model model) {
      List<Node> bns = batchNorms(model.graph());
      names = new String[2 * bns.size()];
      for (int i = 0; i < names.length; i++) {
        names[i] = bns.get(i / 2).describe();
      }
      sums = new double[names.length][];
    }

    private Sums(Sums other) {
      names = other.names.clone();
      sums = new double[other.sums.length][];
      for (int i = 0; i < sums.length; i++) {
        sums[i] = other.sums[i] == null ? null : other.sums[i].clone();
      }
      batches = other.batches;
      samples = other.samples;
    }

    /** A copy of these sums. */
    public Sums copy() {
      return new Sums(this);
    }

    public int batches() {
      return batches;
    }

    public int samples() {
      return samples;
    }

    /**
     * Runs batch {@code b} through {@code session} (of the statistics graph) and adds its
     * statistics; false (nothing added) for a batch of fewer than 2 samples.
     *
     * @throws DataMismatchException when a statistic is not finite
     */
    public boolean add(OrtSession session, Batch b) throws OrtException {
      if (b.size() < 2) {
        return false;
      }
      String input = session.getInputNames().iterator().next();
      try (OnnxTensor x = OrtTensors.create(b.inputs(), b.shape());
          OrtSession.Result r = session.run(Map.of(input, x))) {
        for (int i = 0; i < names.length; i++) {
          float[] f = OrtTensors.floats(r.get(i));
          for (int j = 0; j < f.length; j++) {
            if (!Float.isFinite(f[j])) {
              throw new DataMismatchException("BatchNormalization " + names[i] + ": the batch "
                  + (i % 2 == 0 ? "mean" : "variance") + " of channel " + j + " is " + f[j] + " in batch " + (batches + 1)
                  + " of the calibration data; the data holds NaN or infinite values, or the activations overflow."
                  + " Nothing was recalibrated");
            }
          }
          if (sums[i] == null) {
            sums[i] = new double[f.length];
          }
          for (int j = 0; j < f.length; j++) {
            sums[i][j] += f[j];
          }
        }
      }
      batches++;
      samples += b.size();
      return true;
    }

    /** Adds another shard's sums to these. */
    public void add(Sums other) {
      for (int i = 0; i < sums.length; i++) {
        if (other.sums[i] == null) {
          continue;
        }
        if (sums[i] == null) {
          sums[i] = other.sums[i].clone();
        } else {
          for (int j = 0; j < sums[i].length; j++) {
            sums[i][j] += other.sums[i][j];
          }
        }
      }
      batches += other.batches;
      samples += other.samples;
    }
  }

  /**
   * {@code model} (not changed) with the running statistics of every BatchNormalization set to the
   * mean of the per-batch statistics in {@code sums}; {@code t0} is when the work began
   * ({@link System#nanoTime()}), {@code dataSize} the samples there were (for the message when no
   * batch counted).
   */
  public static Result finish(Model model, Sums sums, long t0, int dataSize) {
    if (sums.batches == 0) {
      throw new IllegalArgumentException("no batch of at least 2 samples in the calibration data ("
          + dataSize + " samples)");
    }
    Model out = model.copy();
    List<Node> bns = batchNorms(out.graph());
    Graph g = out.graph();
    for (int i = 0; i < bns.size(); i++) {
      set(g, bns.get(i), 3, mean(sums.sums[2 * i], sums.batches));
      set(g, bns.get(i), 4, mean(sums.sums[2 * i + 1], sums.batches));
    }
    g.removeDeadCode();
    return new Result(out, bns.size(), sums.batches, sums.samples, (System.nanoTime() - t0) / 1e9);
  }

  private static double[] mean(double[] sum, int batches) {
    double[] m = new double[sum.length];
    for (int j = 0; j < m.length; j++) {
      m[j] = sum[j] / batches;
    }
    return m;
  }

  /** The BatchNormalization nodes in inference form (one output), in graph order. */
  static List<Node> batchNorms(Graph g) {
    List<Node> out = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (n.is("BatchNormalization") && n.attrLong("training_mode", 0) == 0
          && (n.outputCount() == 1 || n.output(1) == null)) {
        out.add(n);
      }
    }
    return out;
  }

  /**
   * The statistics graph: outputs 2i and 2i+1 are the batch mean and unbiased batch variance of the
   * i-th BatchNormalization (graph order), each BatchNormalization normalising with them.
   */
  static Model statsModel(Model model) {
    Model work = model.copy();
    Models.prepare(work);
    ShapeInference.infer(work);
    Graph g = work.graph();
    GradContext ctx = new GradContext(work);
    List<Value[]> stats = new ArrayList<>();
    for (Node n : batchNorms(g)) {
      Value runMean = n.input(3);
      Value runVar = n.input(4);
      // momentum 0: the "updated running statistics" are the batch statistics themselves
      n.setAttribute(Attribute.of("momentum", 0f));
      NormGrads.toTraining(ctx, n, RunningVariance.UNBIASED);
      stats.add(new Value[] {ctx.bufferUpdates.get(runMean), ctx.bufferUpdates.get(runVar)});
    }
    Models.clearOutputs(g);
    for (int i = 0; i < stats.size(); i++) {
      Value[] s = stats.get(i);
      Models.exposeAs(ctx, s[0], g.uniqueName("bn" + i + ".batch_mean"), s[0].type());
      Models.exposeAs(ctx, s[1], g.uniqueName("bn" + i + ".batch_var"), s[1].type());
    }
    g.removeDeadCode();
    return work;
  }

  /** Gives input {@code slot} of {@code bn} the values {@code v}, in an initializer of its own. */
  private static void set(Graph g, Node bn, int slot, double[] v) {
    Value old = bn.input(slot);
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    Tensor t = Tensor.ofFloats(new long[] {v.length}, f);
    if (old.isInitializer() && old.uses().size() == 1 && !old.isGraphOutput()) {
      old.setInitializer(t);
    } else {
      String base = bn.name() == null || bn.name().isEmpty() ? old.name() : bn.name();
      Value fresh = g.addInitializer(g.uniqueName(base + (slot == 3 ? ".running_mean" : ".running_var")), t);
      bn.replaceInput(slot, fresh);
    }
  }
}
