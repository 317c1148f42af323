package dev.onnxprune.training;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Use;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.Sessions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Puts BatchNormalization back after every convolution that has none, as in a model exported
 * with BatchNorm folded into its convolutions (PyTorch's default eval-mode export), so that the
 * model trains as it was trained: each convolution's output normalised by batch statistics.
 *
 * <ol>
 *   <li>Targets: every Conv and ConvTranspose with a constant FLOAT weight whose output is not a
 *       graph output and does not feed a BatchNormalization.
 *   <li>Statistics: the per-channel mean {@code m} and variance {@code v} of each target's output
 *       over the calibration data (the model's own outputs, computed in ONNX Runtime: batch means of
 *       {@code x} and {@code x^2} over every axis but the channel axis, averaged over batches).
 *   <li>Each target's output goes through a new BatchNormalization (epsilon 1e-5, momentum 0.9)
 *       with running mean {@code m}, running variance {@code v}, scale {@code sqrt(v + eps)} and
 *       bias {@code m}: in inference form it computes the identity, so the model's function is
 *       unchanged; in training form it normalises by the batch and restores the calibration scale.
 *   <li>The new nodes carry {@link #MARK} as their doc string, so that the folding after training
 *       can fold exactly them back ({@code BatchNormFolding.marked}).
 * </ol>
 *
 * <p>Inserted into the unpruned model, the BatchNorms are pruned with their convolution's channels;
 * BatchNorm recalibration then re-estimates their running statistics on the pruned model, as for a
 * model exported with BatchNorm kept, while their scale and bias keep the original model's channel
 * statistics as the target.
 */
public final class BatchNormInsertion {
  /** The doc string of an inserted BatchNormalization. */
  public static final String MARK = "onnx-prune: BatchNormalization inserted for training; folded back after it";
  private static final float EPSILON = 1e-5f;

  /**
   * @param model the model with the BatchNormalizations inserted
   * @param inserted names of the new BatchNormalization nodes, in graph order
   * @param samples calibration samples the statistics came from
   * @param seconds wall time
   */
  public record Result(Model model, List<String> inserted, int samples, double seconds) {}

  private BatchNormInsertion() {}

  /** The convolutions of {@code model} that a run would put a BatchNormalization after. */
  public static List<Node> targets(Model model) {
    List<Node> out = new ArrayList<>();
    for (Node n : model.graph().nodes()) {
      if (!(n.is("Conv") || n.is("ConvTranspose")) || n.outputCount() < 1 || n.output(0) == null) {
        continue;
      }
      Value w = n.input(1);
      if (w == null || w.initializer() == null || w.initializer().dataType() != DataType.FLOAT) {
        continue;
      }
      Value y = n.output(0);
      if (y.isGraphOutput() || y.uses().isEmpty()
          || y.uses().stream().anyMatch(u -> u.node().is("BatchNormalization"))) {
        continue;
      }
      out.add(n);
    }
    return out;
  }

  /**
   * Inserts the BatchNormalizations into a copy of {@code model}, their statistics from at most
   * {@code maxBatches} batches (0: all) of {@code batchSize} samples of {@code data} (labels not
   * needed). A model with no target comes back as a copy, with nothing inserted.
   *
   * @throws IllegalArgumentException when the batch size is below 1 or the data is empty
   * @throws GradientException when the model cannot be rewritten (opset below 13)
   * @throws OrtException when ONNX Runtime fails (for example, the data does not fit the model)
   */
  public static Result run(Model model, Dataset data, int batchSize, int maxBatches, Sessions sessions)
      throws OrtException {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be >= 1: " + batchSize);
    }
    long t0 = System.nanoTime();
    Model out = model.copy();
    List<Node> targets = targets(out);
    if (targets.isEmpty()) {
      return new Result(out, List.of(), 0, (System.nanoTime() - t0) / 1e9);
    }
    double[][][] stats = statistics(model, targets, data, batchSize, maxBatches, sessions);
    int samples = (int) stats[0][0][0];
    Graph g = out.graph();
    List<String> inserted = new ArrayList<>();
    for (int i = 0; i < targets.size(); i++) {
      inserted.add(insertAfter(g, targets.get(i), stats[1][i], stats[2][i]));
    }
    return new Result(out, List.copyOf(inserted), samples, (System.nanoTime() - t0) / 1e9);
  }

  /** Inserts one BatchNormalization after {@code conv} computing the identity at (mean, var). */
  private static String insertAfter(Graph g, Node conv, double[] mean, double[] var) {
    Value y = conv.output(0);
    int c = mean.length;
    float[] scale = new float[c];
    float[] bias = new float[c];
    float[] m = new float[c];
    float[] v = new float[c];
    for (int j = 0; j < c; j++) {
      m[j] = (float) mean[j];
      v[j] = (float) Math.max(0, var[j]);
      scale[j] = (float) Math.sqrt(v[j] + (double) EPSILON);
      bias[j] = m[j];
    }
    String base = (conv.name() == null || conv.name().isEmpty() ? y.name() : conv.name()) + "/inserted_bn";
    long[] dims = {c};
    List<Value> ins = List.of(y, g.addInitializer(g.uniqueName(base + ".weight"), Tensor.ofFloats(dims, scale)),
        g.addInitializer(g.uniqueName(base + ".bias"), Tensor.ofFloats(dims, bias)),
        g.addInitializer(g.uniqueName(base + ".running_mean"), Tensor.ofFloats(dims, m)),
        g.addInitializer(g.uniqueName(base + ".running_var"), Tensor.ofFloats(dims, v)));
    List<Use> uses = List.copyOf(y.uses());
    Node bn = g.addNodeAfter(conv, "BatchNormalization", g.uniqueNodeName(base), ins,
        List.of(g.uniqueName(y.name() + "_bn")), Attribute.of("epsilon", EPSILON), Attribute.of("momentum", 0.9f));
    bn.setDocString(MARK);
    bn.output(0).setType(y.type());
    for (Use u : uses) {
      u.node().replaceInput(u.index(), bn.output(0));
    }
    return bn.name();
  }

  /**
   * {samples}, then per target the mean and the (biased) variance of each output channel, from
   * the batch means of x and x^2 computed in ONNX Runtime.
   */
  private static double[][][] statistics(Model model, List<Node> targets, Dataset data, int batchSize,
      int maxBatches, Sessions sessions) throws OrtException {
    Model work = model.copy();
    Models.prepare(work);
    ShapeInference.infer(work);
    Graph g = work.graph();
    GradContext ctx = new GradContext(work);
    Models.clearOutputs(g);
    int k = targets.size();
    for (int i = 0; i < k; i++) {
      Node t = targets.get(i);
      Value y = g.lookup(t.output(0).name());
      int rank = t.input(1).initializer().rank();
      long[] axes = new long[rank - 1];
      axes[0] = 0;
      for (int a = 2; a < rank; a++) {
        axes[a - 1] = a;
      }
      ctx.insertBefore(null, "stats/" + i);
      Value m = ctx.reduceMean(y, axes, false);
      Value m2 = ctx.reduceMean(ctx.mul(y, y), axes, false);
      ValueType type = new ValueType.TensorType(DataType.FLOAT, Shape.of(channels(t)));
      Models.exposeAs(ctx, m, g.uniqueName("stats" + i + ".mean"), type);
      Models.exposeAs(ctx, m2, g.uniqueName("stats" + i + ".mean_sq"), type);
    }
    g.removeDeadCode();
    double[][] mean = new double[k][];
    double[][] sq = new double[k][];
    int batches = 0;
    int samples = 0;
    String input = g.runtimeInputs().get(0).name();
    try (OrtSession s = sessions.open(work)) {
      Iterator<Batch> it = data.batches(batchSize);
      while (it.hasNext() && (maxBatches == 0 || batches < maxBatches)) {
        Batch b = it.next();
        dev.onnxprune.runtime.Progress.checkCancelled();
        try (OnnxTensor x = OrtTensors.create(b.inputs(), b.shape());
            OrtSession.Result r = s.run(Map.of(input, x))) {
          // weighted by samples: the last batch may be short
          for (int i = 0; i < k; i++) {
            mean[i] = accumulate(mean[i], OrtTensors.floats(r.get(2 * i)), b.size(), samples);
            sq[i] = accumulate(sq[i], OrtTensors.floats(r.get(2 * i + 1)), b.size(), samples);
          }
        }
        batches++;
        samples += b.size();
      }
    }
    if (samples == 0) {
      throw new IllegalArgumentException("no calibration sample to take the convolutions' statistics from");
    }
    double[][] var = new double[k][];
    for (int i = 0; i < k; i++) {
      var[i] = new double[mean[i].length];
      for (int j = 0; j < var[i].length; j++) {
        var[i][j] = Math.max(0, sq[i][j] - mean[i][j] * mean[i][j]);
      }
    }
    return new double[][][] {{{samples}}, mean, var};
  }

  /** Output channels of a Conv ({@code W[M, C/g, ...]}) or ConvTranspose ({@code W[C, M/g, ...]}). */
  private static long channels(Node conv) {
    long[] d = conv.input(1).initializer().dims();
    return conv.is("Conv") ? d[0] : d[1] * conv.attrLong("group", 1);
  }

  private static double[] accumulate(double[] running, float[] batch, int n, int seen) {
    if (running == null) {
      running = new double[batch.length];
    }
    for (int j = 0; j < batch.length; j++) {
      running[j] += (batch[j] - running[j]) * n / (seen + n);
    }
    return running;
  }
}
