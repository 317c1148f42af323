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
 *   <li>Over the batches k = 0, 1, ...: {@code running = running + (batch - running) / (k + 1)},
 *       i.e. momentum {@code 1 / (k + 1)}: the running statistics end as the plain mean of the
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
    Model out = model.copy();
    List<Node> bns = batchNorms(out.graph());
    if (bns.isEmpty()) {
      return new Result(out, 0, 0, 0, (System.nanoTime() - t0) / 1e9);
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
    Model stats = statsModel(model);
    String input = stats.graph().runtimeInputs().get(0).name();
    int c = bns.size();
    double[][] mean = new double[c][];
    double[][] var = new double[c][];
    int batches = 0;
    int samples = 0;
    try (OrtSession s = sessions.open(stats)) {
      Iterator<Batch> it = data.batches(batchSize);
      while (it.hasNext() && (maxBatches == 0 || batches < maxBatches)) {
        Batch b = it.next();
        if (b.size() < 2) {
          continue;
        }
        try (OnnxTensor x = OrtTensors.create(b.inputs(), b.shape());
            OrtSession.Result r = s.run(Map.of(input, x))) {
          for (int i = 0; i < c; i++) {
            mean[i] = accumulate(mean[i], finite(OrtTensors.floats(r.get(i * 2)), bns.get(i), "mean", batches),
                batches);
            var[i] = accumulate(var[i], finite(OrtTensors.floats(r.get(i * 2 + 1)), bns.get(i), "variance",
                batches), batches);
          }
        }
        batches++;
        samples += b.size();
        progress.accept(samples);
        int total = (data.size() + batchSize - 1) / batchSize;
        dev.onnxprune.runtime.Progress.report(batches, maxBatches == 0 ? total : Math.min(maxBatches, total));
      }
    }
    if (batches == 0) {
      throw new IllegalArgumentException("no batch of at least 2 samples in the calibration data ("
          + data.size() + " samples)");
    }
    Graph g = out.graph();
    for (int i = 0; i < c; i++) {
      set(g, bns.get(i), 3, mean[i]);
      set(g, bns.get(i), 4, var[i]);
    }
    g.removeDeadCode();
    return new Result(out, c, batches, samples, (System.nanoTime() - t0) / 1e9);
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

  /** {@code stats} when every value is finite; else an error naming the node and the batch. */
  private static float[] finite(float[] stats, Node bn, String what, int batch) {
    for (int j = 0; j < stats.length; j++) {
      if (!Float.isFinite(stats[j])) {
        throw new DataMismatchException("BatchNormalization " + bn.describe() + ": the batch " + what + " of channel "
            + j + " is " + stats[j] + " in batch " + (batch + 1) + " of the calibration data; the data holds NaN or"
            + " infinite values, or the activations overflow. Nothing was recalibrated");
      }
    }
    return stats;
  }

  private static double[] accumulate(double[] running, float[] batch, int k) {
    if (running == null) {
      running = new double[batch.length];
    }
    // cumulative average: momentum 1 / (k + 1)
    for (int j = 0; j < batch.length; j++) {
      running[j] += (batch[j] - running[j]) / (k + 1);
    }
    return running;
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
