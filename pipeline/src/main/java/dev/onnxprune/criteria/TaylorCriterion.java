package dev.onnxprune.criteria;

import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.internal.Ort;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.Shard;
import dev.onnxprune.exec.Sums;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.training.Autodiff;
import dev.onnxprune.training.GradientException;
import dev.onnxprune.training.Loss;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Taylor criterion (Molchanov et al. 2017, "Pruning Convolutional Neural Networks for Resource
 * Efficient Inference", Section 2.2): the first-order Taylor estimate of the loss change when a
 * channel's activation is removed. For calibration sample n and channel c,
 * <pre>
 *   t[n,c] = sum over the positions i where channel c enters its consumers of  a[n,i] * dL_n/da[n,i]
 *   score[c] = (1/N) sum_n |t[n,c]|
 * </pre>
 * The absolute value is taken per sample, then averaged over the N calibration samples, so
 * samples on which removing the channel would raise the loss and samples on which it would lower
 * it do not cancel. {@code L_n} is the softmax cross-entropy of sample n against its label, or,
 * when the dataset has no labels, against the model's own argmax prediction (as {@link
 * OracleCriterion} does). Scores are non-negative, in nats of per-sample loss, and
 * comparable across groups, which global allocation relies on. (The paper averages over positions
 * instead of summing, which rescales each layer by its spatial size.) "Where channel c enters its
 * consumers" is where {@link MaskInsertion} masks it: the inputs of the convs and linear layers
 * that read it, so a channel read by several consumers sums over all of them.
 *
 * <p><b>How.</b> A copy of the model gets a mask input per prunable group ({@link
 * MaskInsertion#inputs}), fed all ones, one row per sample: with {@code m = 1}, {@code
 * dL/dm[n,c] = t[n,c]}. {@link Autodiff} builds the gradient graph of the cross-entropy, which is
 * the batch mean {@code (1/B) sum_n L_n}; its gradient is therefore {@code t / B}, and is
 * multiplied back by the batch size B. The graph is differentiated with respect to the broadcast
 * masks (the operand of each masking {@code Mul}, one row of positions per sample), and the last
 * step to {@code dL/dm}, the adjoint of MaskInsertion's Gather/Pad/Reshape (a sum over the
 * positions that carry each channel), is done here: that step is only an index map. BatchNorm
 * runs in inference mode: the gradient of the model being pruned.
 *
 * <p><b>Merged samples.</b> Where a group's channels enter a consumer with the samples merged into
 * another axis (PyTorch's attention feeds its out-projection {@code [seq * batch, width]}), one mask
 * per sample cannot be broadcast ({@link MaskInsertion#unmasked}); those groups are scored by a
 * second gradient graph with one mask row for the batch, fed one sample at a time, so that {@code
 * dL/dm} is still each sample's {@code t[n,c]}. That costs a session run per calibration sample.
 *
 * <p><b>Cost.</b> One forward and backward pass over the calibration samples (plus one forward
 * pass for the predictions when the data has no labels). {@link ScoringStats#forwardEquivalents}
 * counts a gradient pass as 3 forward passes (a backward pass does about twice a forward pass's
 * arithmetic); no ablations.
 */
final class TaylorCriterion extends SampledCriterion {
  private double[][] signedSums;

  TaylorCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    super(data, sessions, options);
  }

  @Override
  public String name() {
    return "taylor";
  }

  /**
   * From the last scoring, by group id then unit: {@code sum_n t[n,c]} without the absolute
   * value, the derivative of the loss summed over the calibration samples with respect to a
   * mask on the channel (at 1); null before the first scoring.
   */
  double[][] lastSignedSums() {
    return signedSums;
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    return Ort.unchecked(name() + " scoring", () -> run(analysis));
  }

  private double[][] run(ChannelAnalysis analysis) throws OrtException {
    long t0 = System.nanoTime();
    Model masked = analysis.model().copy();
    InputBinding samples = InputBinding.of(masked);
    String logits = masked.graph().outputs().get(0).name();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    // read before masking: afterwards the consumers read the masked copies
    List<ConsumerInput> consumerInputs = a.consumerInputs();
    MaskInsertion mi = MaskInsertion.inputs(a);
    PassManager.run(masked, mi);
    Gradients gradients = Gradients.of(masked, consumerInputs, logits);
    Map<String, ConsumerInput> positions = gradients.positions();
    String labels = gradients.labels();
    Model gradModel = gradients.model();
    Map<String, String> gradOutputs = gradients.outputs();

    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    boolean labelled = cal.labelled();
    dev.onnxprune.graph.Shape ls = gradModel.graph().lookup(logits).shape();
    if (labelled && ls != null && ls.rank() == 2 && ls.dim(1).isKnown()) {
      // the loss compares each label with the classes 0..K-1 (the loss needs K known): one outside them
      // would match none, silently
      cal.checkLabels(ls.dim(1).get(), "output '" + logits + "' " + ls);
    }
    int[] sizes = new int[a.groups().size()];
    for (ChannelGroup g : a.prunableGroups()) {
      sizes[g.id()] = g.size();
    }
    Map<String, Positions> gradPositions = new LinkedHashMap<>();
    gradOutputs.forEach((grad, wrt) -> gradPositions.put(grad, Positions.of(positions.get(wrt))));
    JobModels models = JobModels.of("grads", gradModel);
    if (!labelled) {
      models.with("plain", analysis.model());
    }
    Job job = new Job(sizes, new LinkedHashMap<>(mi.maskInputs()), gradPositions, logits, labels,
        samples.dataInput(), labelled);
    Sums sums = options.backend().sum("taylor sums", job, models, cal.sharded(data, options), sessions);
    double[][] sum = new double[a.groups().size()][];
    double[][] signed = new double[a.groups().size()][];
    for (ChannelGroup g : a.prunableGroups()) {
      sum[g.id()] = sums.array("sum." + g.id(), g.size()).clone();
      signed[g.id()] = sums.array("signed." + g.id(), g.size()).clone();
    }
    long runs = (long) sums.value("runs");
    long forwards = (long) sums.value("forwards");
    double equivalents = sums.value("equivalents");
    if (!mi.unmasked().isEmpty()) {
      // a session run per sample, in this process whatever the backend
      long[] extra = perSample(analysis, mi.unmasked().keySet(), cal, labelled, sum, signed);
      runs += extra[0];
      forwards += extra[1];
      equivalents += 3.0 * extra[1] / cal.samples;
    }
    double[][] scores = new double[analysis.groups().size()][];
    for (ChannelGroup g : a.prunableGroups()) {
      double[] s = sum[g.id()].clone();
      for (int u = 0; u < s.length; u++) {
        s[u] /= cal.samples;
      }
      scores[g.id()] = s;
    }
    signedSums = signed;
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, runs, forwards, 0, equivalents);
    return scores;
  }

  /**
   * Per shard, for group G: "sum.G" (sum over samples of |t[n,c]|) and "signed.G" (of t[n,c]);
   * and the session runs, samples forwarded and forward equivalents.
   */
  private record Job(int[] sizes, Map<Integer, String> maskInputs, Map<String, Positions> gradOutputs, String logits,
      String labels, String dataInput, boolean labelled) implements DataJob<Sums> {
    @Override
    public Sums run(Shard shard) throws OrtException {
      InputBinding samples = InputBinding.of(shard.model("grads")).withDataInput(dataInput);
      double[][] sum = new double[sizes.length][];
      double[][] signed = new double[sizes.length][];
      for (int g = 0; g < sizes.length; g++) {
        if (sizes[g] > 0) {
          sum[g] = new double[sizes[g]];
          signed[g] = new double[sizes[g]];
        }
      }
      long runs = 0;
      long forwards = 0;
      double equivalents = 0;
      long total = shard.totalSamples();
      try (OrtSession grads = shard.open("grads");
          OrtSession plain = labelled ? null : shard.open("plain")) {
        Set<String> inputs = grads.getInputNames();
        for (Batch b : shard.batches()) {
          int n = b.size();
          Map<String, HostTensor> x = samples.feeds(b);
          long[] y = b.labels();
          if (!labelled) {
            float[] z = Ort.run(plain, Map.of(), x, Set.of(logits)).get(logits).data();
            y = Ort.argmax(z, n);
            runs++;
            forwards += n;
            equivalents += (double) n / total;
          }
          Map<String, Ort.Tensor> feeds = new HashMap<>();
          for (Map.Entry<Integer, String> e : maskInputs.entrySet()) {
            if (inputs.contains(e.getValue())) {
              int c = sizes[e.getKey()];
              float[] ones = new float[n * c];
              Arrays.fill(ones, 1f);
              feeds.put(e.getValue(), Ort.Tensor.of(ones, n, c));
            }
          }
          Map<String, HostTensor> typed = new HashMap<>(x);
          typed.put(labels, HostTensor.longs(y, y.length));
          Map<String, Ort.Tensor> out = Ort.run(grads, feeds, typed, gradOutputs.keySet());
          runs++;
          forwards += n;
          equivalents += 3.0 * n / total;
          // t[n,c] of this batch, per group, summed over every masked value carrying the channel
          double[][] t = new double[sizes.length][];
          for (int g = 0; g < sizes.length; g++) {
            if (sizes[g] > 0) {
              t[g] = new double[n * sizes[g]];
            }
          }
          for (Map.Entry<String, Positions> e : gradOutputs.entrySet()) {
            foldPositions(e.getValue(), out.get(e.getKey()), n, t);
          }
          for (int g = 0; g < sizes.length; g++) {
            if (t[g] == null) {
              continue;
            }
            double[] tg = t[g];
            double[] sg = sum[g];
            double[] sd = signed[g];
            int c = sizes[g];
            for (int s = 0; s < n; s++) {
              for (int u = 0; u < c; u++) {
                // Autodiff's loss is the batch mean: its gradient is t / n
                double tn = n * tg[s * c + u];
                sg[u] += Math.abs(tn);
                sd[u] += tn;
              }
            }
          }
        }
      }
      Sums out = new Sums();
      for (int g = 0; g < sizes.length; g++) {
        if (sum[g] != null) {
          System.arraycopy(sum[g], 0, out.array("sum." + g, sizes[g]), 0, sizes[g]);
          System.arraycopy(signed[g], 0, out.array("signed." + g, sizes[g]), 0, sizes[g]);
        }
      }
      out.add("runs", runs);
      out.add("forwards", forwards);
      out.add("equivalents", equivalents);
      return out;
    }

    @Override
    public Sums merge(Sums earlier, Sums later) {
      return earlier.merge(later);
    }
  }

  /**
   * The gradient model of a masked copy: the loss (cross-entropy against a new labels input) and
   * its gradient with respect to each differentiable mask position.
   *
   * @param positions by differentiated value, the consumer input whose positions it carries
   * @param outputs by gradient output name, the value it differentiates
   */
  private record Gradients(Model model, Map<String, ConsumerInput> positions, String labels,
      Map<String, String> outputs) {
    static Gradients of(Model masked, List<ConsumerInput> consumerInputs, String logits) {
      Map<String, ConsumerInput> positions = differentiableMasks(masked.graph(), consumerInputs);
      String labels = masked.graph().uniqueName("onnxprune_labels");
      Model gradModel;
      try {
        gradModel = Autodiff.gradients(masked, new Loss.CrossEntropy(logits, labels, 0),
            List.copyOf(positions.keySet()));
      } catch (GradientException e) {
        throw new IllegalArgumentException("taylor needs the gradient of the loss, and the model cannot be"
            + " differentiated: " + e.getMessage(), e);
      }
      Map<String, String> outputs = new LinkedHashMap<>();
      for (String wrt : positions.keySet()) {
        outputs.put(Autodiff.gradientName(wrt), wrt);
      }
      return new Gradients(gradModel, positions, labels, outputs);
    }
  }

  /**
   * Scores the groups whose samples are merged with another axis where they are masked (PyTorch's
   * attention heads before the out-projection, {@code [seq * batch, width]}): one mask row for the
   * whole batch broadcasts there, so each sample runs alone, a batch of one, and {@code dL/dm} is
   * that sample's {@code t[n,c]}. Adds into {@code sum} and {@code signed}; returns {runs, samples}.
   */
  private long[] perSample(ChannelAnalysis analysis, Set<Integer> ids, Calibration cal, boolean labelled,
      double[][] sum, double[][] signed) throws OrtException {
    Model masked = analysis.model().copy();
    InputBinding samples = InputBinding.of(masked);
    String logits = masked.graph().outputs().get(0).name();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    List<ConsumerInput> consumerInputs = a.consumerInputs();
    List<ChannelGroup> groups = new java.util.ArrayList<>();
    for (int id : ids) {
      groups.add(a.groups().get(id));
    }
    MaskInsertion mi = MaskInsertion.inputs(a, groups).rows(1);
    PassManager.run(masked, mi);
    Gradients gradients = Gradients.of(masked, consumerInputs, logits);
    Map<String, ConsumerInput> positions = gradients.positions();
    String labels = gradients.labels();
    Model gradModel = gradients.model();
    Map<String, String> gradOutputs = gradients.outputs();
    long runs = 0;
    long count = 0;
    try (OrtSession grads = sessions.open(gradModel);
        OrtSession plain = labelled ? null : sessions.open(analysis.model())) {
      Map<String, Ort.Tensor> masks = new HashMap<>();
      for (Map.Entry<Integer, String> e : mi.maskInputs().entrySet()) {
        float[] ones = new float[a.groups().get(e.getKey()).size()];
        Arrays.fill(ones, 1f);
        masks.put(e.getValue(), Ort.Tensor.of(ones, 1, ones.length));
      }
      for (Batch b : cal.batches) {
        Map<String, HostTensor> x = samples.feeds(b);
        long[] y = b.labels();
        if (!labelled) {
          y = Ort.argmax(Ort.run(plain, Map.of(), x, Set.of(logits)).get(logits).data(), b.size());
          runs++;
        }
        for (int s = 0; s < b.size(); s++) {
          Map<String, HostTensor> typed = new HashMap<>();
          for (Map.Entry<String, HostTensor> e : x.entrySet()) {
            typed.put(e.getKey(), e.getValue().rows(s, s + 1));
          }
          typed.put(labels, HostTensor.longs(new long[] {y[s]}, 1));
          Map<String, Ort.Tensor> out = Ort.run(grads, masks, typed, gradOutputs.keySet());
          runs++;
          count++;
          double[][] t = new double[a.groups().size()][];
          for (ChannelGroup g : groups) {
            t[g.id()] = new double[g.size()];
          }
          for (Map.Entry<String, String> e : gradOutputs.entrySet()) {
            foldPositions(Positions.of(positions.get(e.getValue())), out.get(e.getKey()), 1, t);
          }
          for (ChannelGroup g : groups) {
            for (int u = 0; u < g.size(); u++) {
              sum[g.id()][u] += Math.abs(t[g.id()][u]);
              signed[g.id()][u] += t[g.id()][u];
            }
          }
        }
      }
    }
    return new long[] {runs, count};
  }

  /**
   * Puts an Identity on the mask operand of every masking Mul that {@link MaskInsertion} put
   * before a consumer input, and returns the Identity outputs (the values to differentiate) with
   * the consumer input whose positions they carry. Differentiating these rather than the mask
   * inputs keeps the sweep away from the Gather/Pad that built them, and gives each masked value
   * its own gradient even where a mask input is used as it is.
   */
  private static Map<String, ConsumerInput> differentiableMasks(Graph g, List<ConsumerInput> consumerInputs) {
    Map<String, ConsumerInput> out = new LinkedHashMap<>();
    Map<Node, Boolean> seen = new IdentityHashMap<>();
    for (ConsumerInput ci : consumerInputs) {
      Value now = ci.node().input(ci.input());
      if (now == ci.value()) {
        continue; // no prunable group's channels: not masked
      }
      Node mul = now.producer();
      if (mul == null || !mul.is("Mul") || mul.input(0) != ci.value()) {
        throw new IllegalStateException("expected the masking Mul of '" + ci.value().name() + "' before "
            + ci.node().describe() + ", found " + (mul == null ? "no node" : mul.describe()));
      }
      if (seen.put(mul, Boolean.TRUE) != null) {
        continue; // consumers of one value share its masked copy
      }
      Value mask = mul.input(1);
      String name = g.uniqueName(mask.name() + "_taylor");
      Node id = g.addNodeBefore(mul, "Identity", g.uniqueNodeName(name), List.of(mask), List.of(name));
      if (mask.type() != null) {
        id.output(0).setType(mask.type());
      }
      mul.replaceInput(1, id.output(0));
      out.put(name, ci);
    }
    return out;
  }

  /**
   * Adds the gradient of one broadcast mask ({@code [n, ...]}, each sample's entries in position
   * order of {@code ci}) to {@code t[group][sample * size + unit]} of the prunable groups.
   */
  private static void foldPositions(Positions ci, Ort.Tensor grad, int n, double[][] t) {
    float[] d = grad.data();
    int len = ci.length();
    if (d.length != (long) n * len) {
      throw new IllegalStateException("the mask gradient of '" + ci.value() + "' has " + d.length
          + " values; " + n + " samples of " + len + " channel positions expected");
    }
    for (int s = 0; s < n; s++) {
      for (int p = 0; p < len; p++) {
        double[] tg = t[ci.groups()[p]];
        if (tg != null) {
          int size = tg.length / n;
          tg[s * size + ci.units()[p]] += d[s * len + p];
        }
      }
    }
  }
}
