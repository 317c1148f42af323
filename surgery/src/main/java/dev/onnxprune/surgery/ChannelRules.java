package dev.onnxprune.surgery;

import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-op rules of channel analysis and plan application, keyed by op type in one table.
 * Each rule says how channels flow through its op ({@link ChannelRule#analyze}) and what to
 * slice or rewrite when some of them are removed ({@link ChannelRule#apply}). An op without a
 * rule blocks every tracked channel that reaches it.
 *
 * <p>Rules:
 * <ol>
 *   <li>Producers: Conv (group 1), ConvTranspose (group 1), Gemm and MatMul with a constant
 *       weight create channels; their input channels end there (consumers).
 *   <li>Depthwise Conv (group = channels, one filter each) carries channels; other grouped
 *       convs couple each group's input and output channels into one unit, so whole groups go.
 *   <li>Channel-wise ops carry channels: BatchNormalization/InstanceNormalization (parameters
 *       sliced), activations, Identity, Cast, Dropout, pools (not MaxPool's Indices).
 *   <li>Elementwise ops of several activations couple their channels position by position;
 *       a per-channel constant operand is sliced; broadcasting along the channel axis is fine.
 *   <li>Concat on the channel axis places each input's channels at its offset; Split and Slice
 *       on it take sub-ranges (their sizes and bounds are rewritten).
 *   <li>Flatten and flattening Reshapes expand each channel into its block of features; a
 *       Reshape that splits the channel axis into (groups, per group) and its Transpose and
 *       merge (a channel shuffle) couple the same position of every group; Transpose, Squeeze,
 *       Unsqueeze, reductions, Softmax, Pad and Resize move or keep the channel axis when they
 *       do not act on it.
 *   <li>Transformers: a Reshape that splits the channels into the head axis of an attention
 *       makes heads the units (q, k and v rows of a head, with grouped-query attention a key/value
 *       head with its query heads); MatMuls of two activations pair heads up on their batch axes;
 *       a Gather from a constant table produces its columns (embeddings, relative-position
 *       biases) and a Gather on another axis carries channels; Expand carries them (or makes
 *       copies a mask can couple to); a ReduceMean over the channel axis is a norm's statistic
 *       (the exact reference computes it over the kept channels); a constant per channel
 *       concatenated off the channel axis (a class token) is sliced.
 * </ol>
 */
final class ChannelRules {
  private ChannelRules() {}

  /** What one op does to channels. */
  interface ChannelRule {
    void analyze(Node n, Analyzer a);

    default void apply(Node n, Applier p) {}
  }

  /**
   * A rule whose op takes its channels from input 0: it runs only when input 0 carries a
   * single-axis map (a channel shuffle's split axes are blocked first, by {@link #singleAxis}).
   */
  interface InputRule extends ChannelRule {
    /** Analyses {@code n}, whose input 0 carries the channels {@code m}. */
    void analyze(Node n, Analyzer a, ChannelMap m);

    @Override
    default void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m != null) {
        analyze(n, a, m);
      }
    }
  }

  private static final Map<String, ChannelRule> RULES = new HashMap<>();

  private static void register(ChannelRule rule, String... ops) {
    for (String op : ops) {
      if (RULES.put(op, rule) != null) {
        throw new IllegalStateException("two channel rules for " + op);
      }
    }
  }

  static {
    register(new ChannelwiseRules.Passthrough(), "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
        "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish", "Erf", "Identity", "Cast", "Abs", "Neg",
        "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "ThresholdedRelu",
        "Dropout", "Clip", "Relu6");
    register(new ChannelwiseRules.Pool(), "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool");
    register(new ChannelwiseRules.Norm(), "BatchNormalization", "InstanceNormalization");
    register(new ProducerRules.Conv(), "Conv");
    register(new ProducerRules.ConvTranspose(), "ConvTranspose");
    register(new ProducerRules.Gemm(), "Gemm");
    register(new ProducerRules.MatMul(), "MatMul");
    register(new ChannelwiseRules.Elementwise(), "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "PRelu",
        "Where");
    register(new ProducerRules.Gather(), "Gather");
    register(new ProducerRules.Recurrent(), "RNN", "GRU", "LSTM");
    register(new ChannelwiseRules.Expand(), "Expand");
    register(new ChannelwiseRules.LayerNorm(), "LayerNormalization");
    register(new IndexRules.Concat(), "Concat");
    register(new IndexRules.Split(), "Split");
    register(new IndexRules.Slice(), "Slice");
    register(new ReshapeRules.Flatten(), "Flatten");
    register(new ReshapeRules.Reshape(), "Reshape");
    register(new ReshapeRules.Transpose(), "Transpose");
    register(new ReshapeRules.SqueezeUnsqueeze(true), "Squeeze");
    register(new ReshapeRules.SqueezeUnsqueeze(false), "Unsqueeze");
    register(new ChannelwiseRules.Reduce(), "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare");
    register(new ChannelwiseRules.SoftmaxRule(), "Softmax", "LogSoftmax", "Hardmax");
    register(new ChannelwiseRules.Pad(), "Pad");
    register(new ChannelwiseRules.Resize(), "Resize", "Upsample");
    register(new ChannelwiseRules.Neutral(), "Shape", "Size");
  }

  private static final ChannelRule UNKNOWN = (n, a) -> {
    if (hasTrackedInput(n, a)) {
      a.unknown(n, "op " + n.opType() + " is not understood by channel analysis");
    }
  };

  /** The rule for {@code n}: by op type for the default domain, else the blocking rule. */
  static ChannelRule forNode(Node n) {
    boolean defaultDomain = n.domain().isEmpty() || n.domain().equals("ai.onnx");
    if (!defaultDomain || !n.subgraphs().isEmpty()) {
      return (node, a) -> {
        if (hasTrackedInput(node, a)) {
          a.unknown(node, !n.subgraphs().isEmpty() ? "control flow with subgraphs is not analysed"
              : "op of domain '" + n.domain() + "' is not understood by channel analysis");
        }
      };
    }
    return RULES.getOrDefault(n.opType(), UNKNOWN);
  }

  private static boolean hasTrackedInput(Node n, Analyzer a) {
    for (Value in : n.inputs()) {
      if (a.map(in) != null) {
        return true;
      }
    }
    return false;
  }

  // ---- helpers ----

  /** A single-axis map on input {@code i}, or null; blocks and returns null for multi-axis maps. */
  static ChannelMap singleAxis(Node n, Analyzer a, int i) {
    ChannelMap m = a.map(n.input(i));
    if (m != null && m.span() != 1) {
      a.unknown(n, "a channel shuffle's split channel axes reach " + n.opType());
      return null;
    }
    return m;
  }

  static int normAxis(Node n, String attr, long axis, int rank) {
    return normAxis(n, attr, axis, rank, false);
  }

  /**
   * {@code axis} of an input of rank {@code rank} counted from 0: in {@code [-rank, rank)}, or up to
   * {@code rank} itself with {@code end} (Flatten's axis); an axis out of range is an {@link
   * dev.onnxprune.errors.InvalidModelException} naming the node and attribute {@code attr}. With the
   * rank unknown (negative) the axis is returned as given when it is not negative, else -1.
   */
  static int normAxis(Node n, String attr, long axis, int rank, boolean end) {
    if (rank < 0) {
      return axis >= 0 && axis <= Integer.MAX_VALUE ? (int) axis : -1;
    }
    long max = end ? rank : rank - 1;
    if (axis < -rank || axis > max) {
      throw n.invalidAttribute(attr, "is " + axis + "; its input has rank " + rank + ", so it must be in [-" + rank
          + ", " + max + "]");
    }
    return (int) (axis < 0 ? axis + rank : axis);
  }

  /** INTS from attribute {@code attr} or constant input {@code input}; null when absent; throws if dynamic. */
  static long[] intsAttrOrInput(Node n, String attr, int input) {
    if (n.hasAttribute(attr)) {
      return n.attrLongs(attr);
    }
    Value v = n.input(input);
    if (v == null) {
      return null;
    }
    Tensor t = Analyzer.constant(v);
    return t == null ? DYNAMIC : t.toLongArray();
  }

  static final long[] DYNAMIC = new long[0];

  // ---- rules ----

  /**
   * Checks that slices whose bounds are computed at run time now select the kept channels.
   *
   * @throws GraphException naming the slice when they do not
   */
  static void checkDynamicSlices(List<IndexRules.Slice.DynamicCheck> checks, dev.onnxprune.graph.shape.ShapeReport shapes) {
    for (IndexRules.Slice.DynamicCheck c : checks) {
      Node n = c.node();
      long[] starts = shapes.constantOf(n.input(1));
      long[] ends = shapes.constantOf(n.input(2));
      if (starts == null || ends == null) {
        throw new GraphException(n.describe() + ": its run-time slice bounds can no longer be computed");
      }
      long s = IndexRules.Slice.clamp(starts[c.index()], c.size());
      long e = IndexRules.Slice.clamp(ends[c.index()], c.size());
      if (s != c.start() || e != c.end()) {
        throw new GraphException(n.describe() + ": its run-time bounds would become [" + s + ", " + e
            + ") but the kept channels are [" + c.start() + ", " + c.end() + "); prune the groups it splits evenly");
      }
    }
  }

  /** Used by tests: op types with a rule. */
  static java.util.Set<String> ruleOps() {
    return java.util.Collections.unmodifiableSet(RULES.keySet());
  }
}
