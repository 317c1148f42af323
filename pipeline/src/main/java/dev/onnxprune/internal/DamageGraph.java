package dev.onnxprune.internal;

import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Use;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The scoring graph of AOFP's damage isolation (eq. 6-8) for every layer at once, without
 * training: a copy of the model whose <i>base path</i> is masked by the base masks u (inputs
 * {@code onnxprune_mask_<g>}, {@link MaskInsertion#inputs}), plus, for each group g, a
 * <i>scoring path</i>: every consumer of g's channels (Conv/Gemm/MatMul) is duplicated, reading
 * its masked base input times the scoring mask v = h (input {@code onnxprune_ablate_<g>},
 * {@code [N, C]}, one row per sample), followed by the same chain of BatchNormalization and
 * activations the base consumer has (the paper's zeta(i+1) = conv then sigma). Output
 * {@code onnxprune_damage_<g>} [N] is eq. 7 per sample:
 * {@code sum_c ||M_c - M'_c||^2 / sum_c ||M_c||^2} over g's consumers c. A scoring path reads the
 * base path and feeds nothing back, so the layers' scorings are independent (Section 3.4).
 *
 * <p>Built on a copy for a fixed model ({@link AofpCriterion}: the scoring path's BatchNormalization
 * is a copy of the base one, running statistics), or in place on the masked copy a training step
 * is built from ({@link #onMasked}, {@link AofpTraining}: the base path's batch statistics).
 */
public final class DamageGraph {
  public static final String ABLATE_PREFIX = "onnxprune_ablate_";
  public static final String DAMAGE_PREFIX = "onnxprune_damage_";
  private static final Set<String> CHAIN = Set.of("BatchNormalization", "Relu", "Clip", "LeakyRelu", "HardSwish",
      "HardSigmoid", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus");

  public final Model model;
  public final String input;
  /** Base mask input per prunable group. */
  public final Map<Integer, String> baseMasks;
  /** Ablation input and damage output per scored group. */
  public final Map<Integer, String> ablateInputs = new LinkedHashMap<>();
  public final Map<Integer, String> damageOutputs = new LinkedHashMap<>();

  /** Builds the scoring graph on a copy of {@code analysis}'s model, for {@code scored} groups. */
  public DamageGraph(ChannelAnalysis analysis, List<ChannelGroup> scored) {
    this.model = analysis.model().copy();
    this.input = Ort.singleInput(model).name();
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    List<ConsumerInput> consumers = a.consumerInputs();
    MaskInsertion base = MaskInsertion.inputs(a);
    dev.onnxprune.graph.pass.PassManager.run(model, base);
    this.baseMasks = base.maskInputs();
    addScoringPaths(a, consumers, scored, false);
  }

  private DamageGraph(ChannelAnalysis masked, Map<Integer, String> baseMasks) {
    this.model = masked.model();
    this.input = model.graph().runtimeInputs().get(0).name(); // the masks were added after it
    this.baseMasks = baseMasks;
  }

  /**
   * Adds the scoring paths to a model whose base masks are already in place (for a training
   * step: {@link AofpTraining}), changing it in place.
   *
   * @param masked the analysis of the model, made before the base masks were inserted
   * @param consumers {@code masked.consumerInputs()}, taken before the base masks were inserted
   * @param baseMasks the base mask input of each masked group
   * @param scored the groups to score
   * @param batchStatistics how a scoring path's BatchNormalization normalises: false, the
   *     model's own node (running statistics, inference); true, with the batch statistics of the
   *     base path's BatchNormalization input in this run, as explicit ops (a training step turns
   *     every BatchNormalization node into one with batch statistics of its own input and running
   *     statistics to update; a scoring path must neither renormalise the ablated output nor
   *     update the base path's running statistics a second time). The scoring path then applies
   *     exactly the per-channel affine map the base path applies in the same step, so an
   *     ablation of nothing gives t = 0.
   */
  public static DamageGraph onMasked(ChannelAnalysis masked, List<ConsumerInput> consumers, Map<Integer, String> baseMasks,
      List<ChannelGroup> scored, boolean batchStatistics) {
    DamageGraph dg = new DamageGraph(masked, baseMasks);
    dg.addScoringPaths(masked, consumers, scored, batchStatistics);
    return dg;
  }

  private void addScoringPaths(ChannelAnalysis a, List<ConsumerInput> consumers, List<ChannelGroup> scored,
      boolean batchStatistics) {
    Graph g = model.graph();
    long opset = model.defaultOpsetVersion();
    // zeta(i+1) of every consumer, found before scoring nodes add uses: the consumer and the
    // BatchNormalization/activation chain after it
    Map<Node, List<Node>> chains = new java.util.IdentityHashMap<>();
    for (ConsumerInput ci : consumers) {
      List<Node> chain = new ArrayList<>();
      Value y = ci.node().output(0);
      while (y.uses().size() == 1 && !y.isGraphOutput()) {
        Use u = y.uses().get(0);
        Node next = u.node();
        if (u.index() != 0 || !CHAIN.contains(next.opType()) || next.outputCount() != 1) {
          break;
        }
        chain.add(next);
        y = next.output(0);
      }
      chains.put(ci.node(), chain);
    }
    // batch statistics of each base BatchNormalization, shared by every scoring path through it
    Map<Node, Value[]> stats = new java.util.IdentityHashMap<>();
    for (ChannelGroup sg : scored) {
      ChannelGroup group = a.groups().get(sg.id());
      String name = g.uniqueName(ABLATE_PREFIX + group.id());
      Value h = g.addInput(name, new ValueType.TensorType(DataType.FLOAT,
          Shape.of(Dim.symbolic(name + "_n"), Dim.of(group.size()))));
      List<Value> nums = new ArrayList<>();
      List<Value> dens = new ArrayList<>();
      for (ConsumerInput ci : consumers) {
        if (java.util.Arrays.stream(ci.groups()).noneMatch(x -> x == group.id())) {
          continue;
        }
        Node c = ci.node();
        Value masked = c.input(ci.input());
        Value hMask = MaskInsertion.broadcastMask(ci, Map.of(group.id(), h), c, opset);
        String prefix = base0(group);
        Value scoringIn = g.addNode("Mul", g.uniqueNodeName(prefix + "_ablate"), List.of(masked, hMask),
            List.of(g.uniqueName(prefix + "_in"))).output(0);
        scoringIn.setType(masked.type());
        g.recordValueInfo(scoringIn);
        Value y = c.output(0);
        Value ys = copy(g, c, ci.input(), scoringIn, prefix);
        for (Node next : chains.get(c)) {
          if (batchStatistics && next.is("BatchNormalization")) {
            Value[] st = stats.computeIfAbsent(next, bn -> batchStatistics(g, bn, opset));
            ys = normalize(g, ys, st, prefix);
          } else {
            ys = copy(g, next, 0, ys, prefix);
          }
          y = next.output(0);
        }
        Value diff = g.addNode("Sub", g.uniqueNodeName(prefix + "_diff"), List.of(y, ys),
            List.of(g.uniqueName(prefix + "_diff"))).output(0);
        nums.add(sumSquares(g, diff, prefix, opset));
        dens.add(sumSquares(g, y, prefix, opset));
      }
      if (nums.isEmpty()) {
        g.removeInput(h);
        continue;
      }
      Value num = sum(g, nums, base0(group));
      Value den = sum(g, dens, base0(group));
      Value eps = g.addInitializer(g.uniqueName(base0(group) + "_eps"), Tensor.scalar(1e-12f));
      Value denEps = g.addNode("Add", g.uniqueNodeName(base0(group) + "_den"), List.of(den, eps),
          List.of(g.uniqueName(base0(group) + "_den"))).output(0);
      String out = g.uniqueName(DAMAGE_PREFIX + group.id());
      Value t = g.addNode("Div", g.uniqueNodeName(out), List.of(num, denEps), List.of(out)).output(0);
      t.setType(new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.unknown())));
      g.addOutput(t);
      ablateInputs.put(group.id(), name);
      damageOutputs.put(group.id(), out);
    }
    g.sortTopologically();
  }

  /**
   * The per-channel affine map of {@code bn} on batch statistics of its input x, as a training
   * step computes it: {@code a = gamma / sqrt(var + eps)} and {@code b = beta - mean * a}, with
   * mean and (biased) var over every axis but 1. Returns {a, b}, shaped to broadcast over x.
   */
  private static Value[] batchStatistics(Graph g, Node bn, long opset) {
    Value x = bn.input(0);
    int rank = x.shape() == null ? -1 : x.shape().rank();
    if (rank < 2) {
      throw new IllegalStateException("the input of " + bn.describe() + " has no known rank");
    }
    long[] axes = new long[rank - 1];
    for (int i = 1; i < axes.length; i++) {
      axes[i] = i + 1;
    }
    long[] cshape = new long[rank - 1];
    java.util.Arrays.fill(cshape, 1);
    cshape[0] = -1;
    String p = "onnxprune_bnstats_" + (bn.name() == null || bn.name().isEmpty() ? bn.output(0).name() : bn.name());
    Value mean = reduceMean(g, x, axes, p + "_mean", opset);
    Value xc = g.addNode("Sub", g.uniqueNodeName(p + "_xc"), List.of(x, mean), List.of(g.uniqueName(p + "_xc")))
        .output(0);
    Value sq = g.addNode("Mul", g.uniqueNodeName(p + "_sq"), List.of(xc, xc), List.of(g.uniqueName(p + "_sq")))
        .output(0);
    Value var = reduceMean(g, sq, axes, p + "_var", opset);
    float eps = bn.attrFloat("epsilon", 1e-5f);
    Value epsV = g.addInitializer(g.uniqueName(p + "_eps"), Tensor.scalar(eps));
    Value ve = g.addNode("Add", g.uniqueNodeName(p + "_ve"), List.of(var, epsV), List.of(g.uniqueName(p + "_ve")))
        .output(0);
    Value sd = g.addNode("Sqrt", g.uniqueNodeName(p + "_sd"), List.of(ve), List.of(g.uniqueName(p + "_sd")))
        .output(0);
    Value shape = g.addInitializer(g.uniqueName(p + "_cshape"), Tensor.vector(cshape));
    Value gamma = g.addNode("Reshape", g.uniqueNodeName(p + "_gamma"), List.of(bn.input(1), shape),
        List.of(g.uniqueName(p + "_gamma"))).output(0);
    Value beta = g.addNode("Reshape", g.uniqueNodeName(p + "_beta"), List.of(bn.input(2), shape),
        List.of(g.uniqueName(p + "_beta"))).output(0);
    Value a = g.addNode("Div", g.uniqueNodeName(p + "_a"), List.of(gamma, sd), List.of(g.uniqueName(p + "_a")))
        .output(0);
    Value ma = g.addNode("Mul", g.uniqueNodeName(p + "_ma"), List.of(mean, a), List.of(g.uniqueName(p + "_ma")))
        .output(0);
    Value b = g.addNode("Sub", g.uniqueNodeName(p + "_b"), List.of(beta, ma), List.of(g.uniqueName(p + "_b")))
        .output(0);
    return new Value[] {a, b};
  }

  /** {@code x * a + b}: a scoring path's BatchNormalization on the base path's batch statistics. */
  private static Value normalize(Graph g, Value x, Value[] ab, String base) {
    Value m = g.addNode("Mul", g.uniqueNodeName(base + "_bn"), List.of(x, ab[0]), List.of(g.uniqueName(base + "_bn")))
        .output(0);
    return g.addNode("Add", g.uniqueNodeName(base + "_bn"), List.of(m, ab[1]), List.of(g.uniqueName(base + "_bn")))
        .output(0);
  }

  private static Value reduceMean(Graph g, Value x, long[] axes, String name, long opset) {
    if (opset >= 18) {
      Value ax = g.addInitializer(g.uniqueName(name + "_axes"), Tensor.vector(axes));
      return g.addNode("ReduceMean", g.uniqueNodeName(name), List.of(x, ax), List.of(g.uniqueName(name)),
          Attribute.of("keepdims", 1L)).output(0);
    }
    return g.addNode("ReduceMean", g.uniqueNodeName(name), List.of(x), List.of(g.uniqueName(name)),
        Attribute.of("axes", axes), Attribute.of("keepdims", 1L)).output(0);
  }

  private static String base0(ChannelGroup group) {
    return "onnxprune_score_" + group.id();
  }

  /** A copy of {@code n} reading {@code in} at input {@code index}; returns its output 0. */
  private static Value copy(Graph g, Node n, int index, Value in, String base) {
    List<Value> inputs = new ArrayList<>(n.inputs());
    inputs.set(index, in);
    List<String> outs = new ArrayList<>();
    for (int i = 0; i < n.outputCount(); i++) {
      outs.add(i == 0 ? g.uniqueName(base + "_" + n.opType()) : "");
    }
    Node c = g.addNode(n.opType(), g.uniqueNodeName(base + "_" + n.opType()), inputs, outs,
        n.attributes().toArray(new Attribute[0]));
    return c.output(0);
  }

  /** Per-sample sum of squares: [N, ...] -> [N]. */
  private static Value sumSquares(Graph g, Value x, String base, long opset) {
    Value flat = g.addNode("Flatten", g.uniqueNodeName(base + "_flat"), List.of(x),
        List.of(g.uniqueName(base + "_flat")), Attribute.of("axis", 1L)).output(0);
    if (opset >= 18) {
      Value axes = g.addInitializer(g.uniqueName(base + "_axes"), Tensor.vector(1));
      return g.addNode("ReduceSumSquare", g.uniqueNodeName(base + "_ss"), List.of(flat, axes),
          List.of(g.uniqueName(base + "_ss")), Attribute.of("keepdims", 0L)).output(0);
    }
    return g.addNode("ReduceSumSquare", g.uniqueNodeName(base + "_ss"), List.of(flat),
        List.of(g.uniqueName(base + "_ss")), Attribute.of("axes", new long[] {1}), Attribute.of("keepdims", 0L))
        .output(0);
  }

  private static Value sum(Graph g, List<Value> xs, String base) {
    if (xs.size() == 1) {
      return xs.get(0);
    }
    return g.addNode("Sum", g.uniqueNodeName(base + "_sum"), xs, List.of(g.uniqueName(base + "_sum"))).output(0);
  }
}
