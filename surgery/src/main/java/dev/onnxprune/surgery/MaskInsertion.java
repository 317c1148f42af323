package dev.onnxprune.surgery;

import dev.onnxprune.graph.pass.GraphPass;
import dev.onnxprune.graph.pass.PassResult;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Inserts {@code Mul} by a channel mask where channels enter the ops that contract over them
 * (Conv input channels, Gemm/MatMul input features), in one of two modes:
 * <ol>
 *   <li><b>Constant</b> ({@link #MaskInsertion(PrunePlan)}): 0/1 initializers zero a plan's
 *       removed channels. The masked model computes what the pruned model computes: the
 *       equivalence oracle of channel surgery.
 *   <li><b>Inputs</b> ({@link #inputs}): every chosen group gets a FLOAT graph input
 *       {@code onnxprune_mask_<group id>} of shape {@code [M, C]} (C = the group's size; M = 1
 *       for one mask for the whole batch, or the batch size for one mask per sample), and every
 *       consumer input carrying the group's channels is multiplied by it, gathered to the
 *       positions the value carries and reshaped to broadcast over it ({@code [M, C, 1, 1]}
 *       before a Conv, {@code [M, C*H*W]} after a Flatten). Feeding 1 keeps a channel and 0
 *       ablates it, so one session scores many ablations: different masks per sample in one
 *       batch. With the masks a plan implies, the model computes what the constant mode gives.
 * </ol>
 * Consumers reading the same value share one masked copy of it. In the constant mode a norm's
 * statistics over the channel axis (a LayerNorm's mean and variance, an RMSNorm's mean square)
 * are also computed over the kept channels only: pruning hidden channels changes them, so the
 * masked original alone is no oracle there, and this is the exact reference instead. The inputs
 * mode leaves them as they are (an ablation score sees the removed channels in the
 * statistics). The inputs mode needs the
 * channel axis after the batch axis (axis 0 is the sample axis of the masks).
 *
 * <p>A mask needs only the channel axis and the number of axes after it, not the other sizes:
 * where shape inference could not work out a masked value's shape (sizes computed at run time,
 * e.g. a detector resizing its input), its rank comes from the consumer (a Conv's input has the
 * rank of its weight, a Gemm's is 2) and, before a MatMul, whose features are the last axis, a
 * mask of shape {@code [C]} broadcasts over any rank. Its element type comes from the consumer's
 * weight when the value's own is unknown.
 */
public final class MaskInsertion implements GraphPass {
  /** Prefix of the mask input names; the group id follows. */
  public static final String INPUT_PREFIX = "onnxprune_mask_";

  private final ChannelAnalysis analysis;
  private final PrunePlan plan;
  private final Set<Integer> inputGroups;
  private final Map<Integer, String> maskInputs = new LinkedHashMap<>();
  private final Map<Integer, String> unmasked = new LinkedHashMap<>();
  private long rows = -1;

  public MaskInsertion(PrunePlan plan) {
    this.analysis = plan.analysis();
    this.plan = plan;
    this.inputGroups = null;
  }

  private MaskInsertion(ChannelAnalysis analysis, Set<Integer> groups) {
    this.analysis = analysis;
    this.plan = null;
    this.inputGroups = groups;
  }

  /** Inputs mode: a mask input for every prunable group of {@code analysis}. */
  public static MaskInsertion inputs(ChannelAnalysis analysis) {
    return inputs(analysis, analysis.prunableGroups());
  }

  /** Inputs mode: a mask input for each of {@code groups} (groups of {@code analysis}). */
  public static MaskInsertion inputs(ChannelAnalysis analysis, Collection<ChannelGroup> groups) {
    Set<Integer> ids = new LinkedHashSet<>();
    for (ChannelGroup g : groups) {
      if (g.id() >= analysis.groups().size() || analysis.groups().get(g.id()) != g) {
        throw new IllegalArgumentException(g + " does not belong to this analysis");
      }
      ids.add(g.id());
    }
    return new MaskInsertion(analysis, ids);
  }

  /**
   * Inputs mode: fixes the mask inputs' first dimension M to {@code m} (default: symbolic, any M
   * that broadcasts against the batch). {@code rows(1)}, one mask for the whole batch, is what a
   * training step that differentiates with respect to the masks needs: the gradient is then
   * summed over the batch to the mask's shape.
   */
  public MaskInsertion rows(long m) {
    if (m < 1) {
      throw new IllegalArgumentException("mask rows must be >= 1: " + m);
    }
    this.rows = m;
    return this;
  }

  /** What the pass inserted: {@code masks} {@code Mul} nodes. */
  public record Result(int masks) implements PassResult {
    @Override
    public boolean changed() {
      return masks > 0;
    }

    @Override
    public String summary() {
      return "inserted " + masks + " mask(s)";
    }
  }

  @Override
  public String name() {
    return "mask-insertion";
  }

  /**
   * Masks {@code model}, the analysis's model, in place.
   *
   * @throws IllegalArgumentException when {@code model} is not the analysis's model
   * @throws GraphException when a masked value's rank is unknown and its consumer does not give
   *     it, or it is not FLOAT; in inputs mode also when its channel axis is the batch axis
   */
  @Override
  public Result run(Model model) {
    if (model != analysis.model()) {
      throw new IllegalArgumentException("the masks were chosen on another model; analyse this one");
    }
    return new Result(plan != null ? runConstant() : runInputs());
  }

  /**
   * Inputs mode with one mask row per sample, after {@link #run}: the chosen groups that got no
   * mask input, by group id, with the reason (a value that carries their channels merges the
   * samples with another axis, as attention heads before PyTorch's out-projection do). With
   * {@link #rows} 1 every group gets one.
   */
  public Map<Integer, String> unmasked() {
    return java.util.Collections.unmodifiableMap(unmasked);
  }

  /**
   * Inputs mode, after {@link #run()}: the graph input name of each group's mask, by group id, in
   * group order (groups no consumer reads have an input too, which nothing uses; groups in
   * {@link #unmasked} have none).
   */
  public Map<Integer, String> maskInputs() {
    return java.util.Collections.unmodifiableMap(maskInputs);
  }

  private int runConstant() {
    BitSet removed = analysis.removedIds(plan.removals());
    Applier p = new Applier(analysis, removed);
    int inserted = 0;
    Map<Value, Value> masked = new IdentityHashMap<>();
    for (Analyzer.ConsumerEnd end : analysis.state.consumerEnds) {
      Node n = end.node();
      Value v = n.input(end.inputIndex());
      if (masked.containsKey(v)) {
        n.replaceInput(end.inputIndex(), masked.get(v));
        continue;
      }
      boolean[] rm = p.removedPositions(v);
      if (rm == null) {
        continue;
      }
      ChannelMap m = p.map(v);
      ValueType.TensorType type = checkMaskable(v, n);
      int rank = rankOf(v, n, end.inputIndex());
      long[] dims;
      if (rank >= 0) {
        dims = new long[rank];
        Arrays.fill(dims, 1);
        dims[m.axis()] = rm.length;
      } else if (n.is("MatMul") && end.inputIndex() == 0) {
        dims = new long[] {rm.length}; // the features are the last axis: [C] broadcasts over any rank
      } else {
        throw new GraphException("cannot mask '" + v.name() + "' before " + n.describe()
            + ": its rank is unknown and the consumer does not give it");
      }
      float[] mask = new float[rm.length];
      for (int i = 0; i < mask.length; i++) {
        mask[i] = rm[i] ? 0f : 1f;
      }
      Graph g = n.graph();
      Value maskValue = g.addInitializer(g.uniqueName(v.name() + "_mask"), Tensor.ofFloats(dims, mask));
      masked.put(v, multiply(n, end.inputIndex(), v, maskValue, type));
      inserted++;
    }
    return inserted + maskStatistics(p) + maskRecurrent(p);
  }

  /**
   * The exact reference for recurrent hidden units: a removed unit's rows in every gate block of
   * W and R and its entries of B are zeroed, and so is its column of R, so no other unit reads its
   * state. (From zero initial states its state then stays 0: LSTM c = f*c + i*tanh(0) = 0 and h = o
   * * tanh(0) = 0; GRU n = tanh(0) = 0 and h = z*h_prev = 0; RNN h = tanh(0) = 0. The masks on its
   * consumers zero it in any case.)
   */
  private int maskRecurrent(Applier p) {
    int zeroed = 0;
    for (Node n : analysis.state.recurrent) {
      boolean[] rm = ProducerRules.Recurrent.hiddenRemoved(n, p);
      if (rm == null) {
        continue;
      }
      int g = ProducerRules.Recurrent.gates(n);
      p.replaceConstant(n, 1, zeroRows(n, 1, ProducerRules.Recurrent.tiled(rm, g), null));
      p.replaceConstant(n, 2, zeroRows(n, 2, ProducerRules.Recurrent.tiled(rm, g), rm));
      if (n.input(3) != null) {
        p.replaceConstant(n, 3, zeroRows(n, 3, ProducerRules.Recurrent.tiled(rm, 2 * g), null));
      }
      zeroed++;
    }
    return zeroed;
  }

  /** Constant input {@code i} of {@code n} [d, rows(, cols)] with rows {@code rows} and columns {@code cols} zeroed. */
  private static Tensor zeroRows(Node n, int i, boolean[] rows, boolean[] cols) {
    Tensor t = Analyzer.constant(n.input(i));
    if (t.dataType() != dev.onnxprune.graph.DataType.FLOAT) {
      throw new GraphException(n.describe() + " input " + i + " is " + t.dataType() + "; masks are FLOAT");
    }
    float[] x = t.toFloatArray();
    int r = rows.length;
    int c = t.rank() == 3 ? Math.toIntExact(t.dim(2)) : 1;
    for (int k = 0; k < x.length; k++) {
      int row = (k / c) % r;
      if (rows[row] || cols != null && cols[k % c]) {
        x[k] = 0f;
      }
    }
    return Tensor.ofFloats(t.dims(), x);
  }

  /**
   * The exact reference for norms: each statistic over the channel axis (a LayerNorm's or
   * RMSNorm's ReduceMean) reads its input times {@code C/K} on the K kept of C positions and 0 on
   * the removed ones, so it computes the mean over the kept channels, as the pruned model does.
   * A fused LayerNormalization is written out as its definition with the same scaled masks in
   * both of its means ({@link #keptChannelLayerNorm}).
   */
  private int maskStatistics(Applier p) {
    int inserted = 0;
    for (Node n : analysis.state.statistics) {
      Value v = n.input(0);
      boolean[] rm = p.removedPositions(v);
      if (rm == null) {
        continue;
      }
      ChannelMap m = p.map(v);
      long[] dims = new long[Analyzer.rank(v)];
      Arrays.fill(dims, 1);
      dims[m.axis()] = rm.length;
      float scale = (float) rm.length / Applier.kept(rm);
      float[] mask = new float[rm.length];
      for (int i = 0; i < mask.length; i++) {
        mask[i] = rm[i] ? 0f : scale;
      }
      Graph g = n.graph();
      Value maskValue = g.addInitializer(g.uniqueName(v.name() + "_kept_mean"), Tensor.ofFloats(dims, mask));
      if (n.is("LayerNormalization")) {
        keptChannelLayerNorm(n, maskValue);
      } else {
        multiply(n, 0, v, maskValue, checkMaskable(v, n));
      }
      inserted++;
    }
    return inserted;
  }

  /**
   * Replaces the LayerNormalization {@code n} over the last axis by its definition (ONNX
   * LayerNormalization, stash_type 1) with the means taken over the kept channels: {@code mean =
   * ReduceMean(x * s)}, {@code d = x - mean}, {@code var = ReduceMean(d * d * s)}, {@code y = d /
   * sqrt(var + epsilon) * scale + bias}, where {@code s} is {@code C/K} on kept and 0 on removed
   * channels. Removed channels' outputs are masked where they are consumed.
   */
  private void keptChannelLayerNorm(Node n, Value keptMean) {
    Graph g = n.graph();
    Value x = n.input(0);
    String base = n.name().isEmpty() ? x.name() : n.name();
    float eps = n.attrFloat("epsilon", 1e-5f);
    java.util.function.BiFunction<String, List<Value>, Value> op = (type, in) -> g.addNodeBefore(n, type,
        g.uniqueNodeName(base + "_kept_" + type), in, List.of(g.uniqueName(base + "_kept_" + type))).output(0);
    java.util.function.Function<Value, Value> mean = in -> {
      String name = g.uniqueNodeName(base + "_kept_ReduceMean");
      if (opset() >= 18) {
        Value axes = g.addInitializer(g.uniqueName(base + "_kept_axes"), Tensor.ofLongs(new long[] {1}, new long[] {-1}));
        return g.addNodeBefore(n, "ReduceMean", name, List.of(in, axes), List.of(g.uniqueName(name))).output(0);
      }
      return g.addNodeBefore(n, "ReduceMean", name, List.of(in), List.of(g.uniqueName(name)),
          Attribute.of("axes", new long[] {-1})).output(0);
    };
    Value mu = mean.apply(op.apply("Mul", List.of(x, keptMean)));
    Value d = op.apply("Sub", List.of(x, mu));
    Value var = mean.apply(op.apply("Mul", List.of(op.apply("Mul", List.of(d, d)), keptMean)));
    Value epsilon = g.addInitializer(g.uniqueName(base + "_kept_epsilon"), Tensor.scalar(eps));
    Value y = op.apply("Div", List.of(d, op.apply("Sqrt", List.of(op.apply("Add", List.of(var, epsilon))))));
    y = op.apply("Mul", List.of(y, n.input(1)));
    if (n.inputCount() > 2 && n.input(2) != null) {
      y = op.apply("Add", List.of(y, n.input(2)));
    }
    n.output(0).replaceAllUsesWith(y);
    g.removeNode(n);
  }

  private int runInputs() {
    Graph g = analysis.model().graph();
    Map<Integer, Value> inputs = new LinkedHashMap<>();
    if (rows != 1) {
      for (ChannelAnalysis.ConsumerInput ci : analysis.consumerInputs()) {
        if (ci.axis() > 0 && sampleAxis(ci.value()) < 0) {
          for (int gid : ci.groups()) {
            if (inputGroups.contains(gid)) {
              unmasked.putIfAbsent(gid, "'" + ci.value().name() + "' " + ci.value().shape() + " merges the samples with"
                  + " another axis before " + ci.node().describe() + ", so one mask per sample cannot be applied");
            }
          }
        }
      }
    }
    for (int id : inputGroups) {
      if (unmasked.containsKey(id)) {
        continue;
      }
      ChannelGroup group = analysis.groups().get(id);
      String name = g.uniqueName(INPUT_PREFIX + id);
      Shape shape = Shape.of(rows > 0 ? Dim.of(rows) : Dim.symbolic(name + "_n"), Dim.of(group.size()));
      inputs.put(id, g.addInput(name, new ValueType.TensorType(DataType.FLOAT, shape)));
      maskInputs.put(id, name);
    }
    int inserted = 0;
    Map<Value, Value> masked = new IdentityHashMap<>();
    for (ChannelAnalysis.ConsumerInput ci : analysis.consumerInputs()) {
      Node n = ci.node();
      Value v = ci.value();
      if (masked.containsKey(v)) {
        n.replaceInput(ci.input(), masked.get(v));
        continue;
      }
      Value mask = broadcastMask(ci, inputs, n, opset());
      if (mask == null) {
        continue;
      }
      Value out = multiply(n, ci.input(), v, mask, checkMaskable(v, n));
      // the mask's sample axis is a symbol of its own: keep the value's type in the file
      out.graph().recordValueInfo(out);
      masked.put(v, out);
      inserted++;
    }
    return inserted;
  }

  private long opset() {
    return analysis.model().defaultOpsetVersion();
  }

  /** Inserts {@code v * mask} before {@code n} and points input {@code i} of {@code n} at it. */
  private static Value multiply(Node n, int i, Value v, Value mask, ValueType.TensorType type) {
    Graph g = n.graph();
    Node mul = g.addNodeBefore(n, "Mul", g.uniqueNodeName(v.name() + "_masking"), List.of(v, mask),
        List.of(g.uniqueName(v.name() + "_masked")));
    mul.output(0).setType(type);
    n.replaceInput(i, mul.output(0));
    return mul.output(0);
  }

  /**
   * The type of the masked value {@code v} read by {@code consumer}: its own, or, when unknown,
   * FLOAT of unknown shape if the consumer's weight is FLOAT.
   *
   * @throws GraphException when it is not FLOAT
   */
  private static ValueType.TensorType checkMaskable(Value v, Node consumer) {
    ValueType.TensorType type = v.tensorType();
    DataType elem = type == null ? null : type.elemType();
    if (elem == null || elem == DataType.UNDEFINED) {
      Tensor w = consumer.inputCount() > 1 ? Analyzer.constant(consumer.input(1)) : null;
      elem = w == null ? null : w.dataType();
      type = elem == null ? null : new ValueType.TensorType(elem, type == null ? null : type.shape());
    }
    if (elem != DataType.FLOAT) {
      throw new GraphException("cannot mask '" + v.name() + "' of " + (elem == null ? "unknown type" : elem)
          + ": only FLOAT is masked");
    }
    return type;
  }

  /**
   * Rank of {@code v}, read as input {@code input} of {@code consumer}: from its shape, else from
   * the consumer (a Conv or ConvTranspose input has its weight's rank; a Gemm operand rank 2);
   * -1 when neither says.
   */
  static int rankOf(Value v, Node consumer, int input) {
    if (v.shape() != null) {
      return v.shape().rank();
    }
    if ((consumer.is("Conv") || consumer.is("ConvTranspose")) && input == 0) {
      Tensor w = Analyzer.constant(consumer.input(1));
      return w == null ? -1 : w.rank();
    }
    return consumer.is("Gemm") && input <= 1 ? 2 : -1;
  }

  /**
   * Builds, just before {@code before}, a mask that broadcasts over {@code ci.value()} from
   * per-group masks of shape {@code [M, C_group]}: each position takes its group's entry for its
   * unit; positions of groups without a mask in {@code groupMasks} take 1. Returns null when no
   * position belongs to a group in {@code groupMasks}. For callers that build scoring graphs
   * (e.g. a second, per-sample ablation mask next to the one {@link #inputs} inserted).
   *
   * @param opset the model's default-domain opset (Pad's form changed at 11)
   * @throws GraphException when the value's rank is unknown (from its shape and from its
   *     consumer) or its channel axis is axis 0
   */
  public static Value broadcastMask(ChannelAnalysis.ConsumerInput ci, Map<Integer, Value> groupMasks, Node before,
      long opset) {
    List<Integer> present = new ArrayList<>();
    for (int gid : ci.groups()) {
      if (groupMasks.containsKey(gid) && !present.contains(gid)) {
        present.add(gid);
      }
    }
    if (present.isEmpty()) {
      return null;
    }
    Value v = ci.value();
    Shape shape = v.shape();
    int rank = rankOf(v, ci.node(), ci.input());
    if (rank < 0) {
      throw new GraphException("cannot mask '" + v.name() + "': its rank is unknown");
    }
    if (ci.axis() == 0) {
      throw new GraphException("cannot mask '" + v.name() + "' per sample: its channels are on axis 0, the batch axis");
    }
    int samples = sampleAxis(v);
    if (samples < 0 && present.stream().allMatch(gid -> oneRow(groupMasks.get(gid)))) {
      samples = 0; // one mask for every sample broadcasts over merged samples too
    }
    if (samples < 0 || samples >= ci.axis()) {
      throw new GraphException("cannot mask '" + v.name() + "' per sample: " + (samples < 0
          ? "its samples are merged with another axis (" + shape + ")" : "its channels come before its samples"));
    }
    Graph g = before.graph();
    String base = v.name() + "_mask";
    Value product = null;
    for (int gid : present) {
      Value m = groupMasks.get(gid);
      long size = m.shape() != null && m.shape().rank() == 2 && m.shape().dim(1).isKnown() ? m.shape().dim(1).get() : -1;
      boolean all = Arrays.stream(ci.groups()).allMatch(x -> x == gid);
      long[] idx = new long[ci.length()];
      boolean identity = all && size == idx.length;
      for (int p = 0; p < idx.length; p++) {
        idx[p] = ci.groups()[p] == gid ? ci.units()[p] : size;
        identity &= idx[p] == p;
      }
      Value src = m;
      if (!all) {
        if (size < 0) {
          throw new GraphException("mask '" + m.name() + "' must have a known channel count");
        }
        // One extra column of ones for the positions of other groups.
        src = pad(g, before, m, base, opset);
      }
      Value gathered = src;
      if (!identity) {
        Value indices = g.addInitializer(g.uniqueName(base + "_idx"), Tensor.ofLongs(new long[] {idx.length}, idx));
        gathered = g.addNodeBefore(before, "Gather", g.uniqueNodeName(base + "_gather"), List.of(src, indices),
            List.of(g.uniqueName(base + "_gathered")), Attribute.of("axis", 1L)).output(0);
      }
      product = product == null ? gathered
          : g.addNodeBefore(before, "Mul", g.uniqueNodeName(base + "_combine"), List.of(product, gathered),
              List.of(g.uniqueName(base + "_combined"))).output(0);
    }
    if (rank == 2 && ci.axis() == 1 && ci.span() == 1) {
      return product;
    }
    long[] target = new long[rank];
    Arrays.fill(target, 1);
    target[samples] = -1; // the mask's rows (M) go where the samples are
    for (int a = ci.axis(); a < ci.axis() + ci.span(); a++) {
      boolean known = shape != null && a < rank && shape.dim(a).isKnown();
      if (!known && !(ci.span() == 1 && a < rank)) {
        throw new GraphException("cannot mask '" + v.name() + "': axis " + a + " carries channels but its size is unknown");
      }
      target[a] = known ? shape.dim(a).get() : ci.length(); // one axis: as many positions as the map has
    }
    Value shapeConst = g.addInitializer(g.uniqueName(base + "_shape"), Tensor.vector(target));
    return g.addNodeBefore(before, "Reshape", g.uniqueNodeName(base + "_reshape"), List.of(product, shapeConst),
        List.of(g.uniqueName(base + "_broadcast"))).output(0);
  }

  /**
   * The axis of {@code v} that holds the samples: the one sized like axis 0 of the graph's inputs
   * (the batch symbol; a seq-first attention's activations have it on axis 1); axis 0 when no
   * axis is so named (a fixed batch); -1 when the batch symbol is merged with another axis into
   * one ({@code [seq * batch, width]} before an attention's out-projection), where one mask per
   * sample cannot be broadcast.
   */
  static int sampleAxis(Value v) {
    Shape s = v.shape();
    if (s == null) {
      return 0;
    }
    java.util.Set<String> batch = new java.util.HashSet<>();
    for (Value in : v.graph().runtimeInputs()) {
      Shape is = in.shape();
      if (is != null && is.rank() > 0 && is.dim(0).isSymbolic()) {
        batch.add(is.dim(0).param());
      }
    }
    boolean merged = false;
    for (int a = 0; a < s.rank(); a++) {
      Dim d = s.dim(a);
      if (d.isSymbolic() && batch.contains(d.param())) {
        return a;
      }
      merged |= d.isSymbolic() && dev.onnxprune.graph.shape.SymbolicDims.symbols(d).stream().anyMatch(batch::contains);
    }
    return merged ? -1 : 0;
  }

  private static boolean oneRow(Value mask) {
    Shape s = mask.shape();
    return s != null && s.rank() == 2 && s.dim(0).isKnown() && s.dim(0).get() == 1;
  }

  private static Value pad(Graph g, Node before, Value m, String base, long opset) {
    if (opset >= 11) {
      Value pads = g.addInitializer(g.uniqueName(base + "_pads"), Tensor.vector(0, 0, 0, 1));
      Value one = g.addInitializer(g.uniqueName(base + "_one"), Tensor.scalar(1f));
      return g.addNodeBefore(before, "Pad", g.uniqueNodeName(base + "_pad"), List.of(m, pads, one),
          List.of(g.uniqueName(base + "_padded"))).output(0);
    }
    return g.addNodeBefore(before, "Pad", g.uniqueNodeName(base + "_pad"), List.of(m),
        List.of(g.uniqueName(base + "_padded")), Attribute.of("pads", new long[] {0, 0, 0, 1}),
        Attribute.of("value", 1f)).output(0);
  }
}
