package dev.onnxprune.surgery;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.GroupMember.Role;
import java.util.ArrayList;
import java.util.Arrays;
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
 * </ol>
 */
final class ChannelRules {
  private ChannelRules() {}

  /** What one op does to channels. */
  interface ChannelRule {
    void analyze(Node n, Analyzer a);

    default void apply(Node n, Applier p) {}
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
    register(new Passthrough(), "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
        "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish", "Erf", "Identity", "Cast", "Abs", "Neg",
        "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "ThresholdedRelu",
        "Dropout", "Clip", "Relu6");
    register(new Pool(), "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool");
    register(new Norm(), "BatchNormalization", "InstanceNormalization");
    register(new Conv(), "Conv");
    register(new ConvTranspose(), "ConvTranspose");
    register(new Gemm(), "Gemm");
    register(new MatMul(), "MatMul");
    register(new Elementwise(), "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "PRelu");
    register(new Concat(), "Concat");
    register(new Split(), "Split");
    register(new Slice(), "Slice");
    register(new Flatten(), "Flatten");
    register(new Reshape(), "Reshape");
    register(new Transpose(), "Transpose");
    register(new SqueezeUnsqueeze(true), "Squeeze");
    register(new SqueezeUnsqueeze(false), "Unsqueeze");
    register(new Reduce(), "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare");
    register(new SoftmaxRule(), "Softmax", "LogSoftmax", "Hardmax");
    register(new Pad(), "Pad");
    register(new Resize(), "Resize", "Upsample");
    register(new Neutral(), "Shape", "Size");
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
  private static ChannelMap singleAxis(Node n, Analyzer a, int i) {
    ChannelMap m = a.map(n.input(i));
    if (m != null && m.span() != 1) {
      a.unknown(n, "a channel shuffle's split channel axes reach " + n.opType());
      return null;
    }
    return m;
  }

  private static int normAxis(long axis, int rank) {
    return (int) (axis < 0 ? axis + rank : axis);
  }

  /** INTS from attribute {@code attr} or constant input {@code input}; null when absent; throws if dynamic. */
  private static long[] intsAttrOrInput(Node n, String attr, int input) {
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

  private static final long[] DYNAMIC = new long[0];

  // ---- rules ----

  /** Channel-wise unary ops: every output carries the input's channels. */
  static final class Passthrough implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = a.map(n.input(0));
      for (int i = 1; i < n.inputCount(); i++) {
        if (a.map(n.input(i)) != null) {
          a.unknown(n, "a tracked tensor is used as a parameter");
          return;
        }
      }
      if (m == null) {
        return;
      }
      for (Value out : n.outputs()) {
        a.setMap(out, m);
      }
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }
  }

  /** Pools act on spatial axes; MaxPool's Indices output encodes channel positions. */
  static final class Pool implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      if (m.axis() != 1) {
        a.unknown(n, "pooling over the channel axis");
        return;
      }
      if (n.output(1) != null && !n.output(1).uses().isEmpty()) {
        a.unknown(n, "MaxPool Indices output encodes channel positions");
        return;
      }
      a.setMap(n.output(0), m);
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }
  }

  /** BatchNormalization / InstanceNormalization: per-channel parameters are sliced. */
  static final class Norm implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      if (m.axis() != 1) {
        a.unknown(n, "normalisation input has its channels on axis " + m.axis());
        return;
      }
      for (int i = 1; i < n.inputCount(); i++) {
        if (n.input(i) != null && Analyzer.constant(n.input(i)) == null) {
          a.unknown(n, "parameter '" + n.input(i).name() + "' is not a constant");
          return;
        }
      }
      for (int o = 1; o < n.outputCount(); o++) {
        if (n.output(o) != null && !n.output(o).uses().isEmpty()) {
          a.unknown(n, "training-mode statistics outputs are used");
          return;
        }
      }
      a.setMap(n.output(0), m);
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }

    @Override
    public void apply(Node n, Applier p) {
      boolean[] rm = p.removedPositions(n.input(0));
      for (int i = 1; i < n.inputCount(); i++) {
        p.sliceInput(n, i, 0, rm);
      }
    }
  }

  /** Conv: producer; depthwise carries channels; grouped couples whole groups. */
  static final class Conv implements ChannelRule {
    enum Kind { DENSE, DEPTHWISE, GROUPED }

    static Kind kind(Node n, Tensor w) {
      long group = n.attrLong("group", 1);
      if (group == 1) {
        return Kind.DENSE;
      }
      long cout = w.dim(0);
      return w.dim(1) == 1 && cout == group ? Kind.DEPTHWISE : Kind.GROUPED;
    }

    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap in = singleAxis(n, a, 0);
      Tensor w = Analyzer.constant(n.input(1));
      if (w == null || w.rank() < 3) {
        if (in != null) {
          a.unknown(n, "weight '" + (n.input(1) == null ? "" : n.input(1).name()) + "' is not a constant");
        }
        return;
      }
      if (in != null && in.axis() != 1) {
        a.unknown(n, "input channels are on axis " + in.axis());
        return;
      }
      if (n.input(2) != null && Analyzer.constant(n.input(2)) == null) {
        a.unknown(n, "bias is not a constant");
        return;
      }
      Value y = n.output(0);
      int cout = Math.toIntExact(w.dim(0));
      switch (kind(n, w)) {
        case DENSE -> {
          if (in != null) {
            a.touch(n, Role.CONSUMER, n.input(0), in);
            a.consumerEnd(n, 0);
          }
          ChannelMap out = a.newSpace(n, y, 1, cout, false);
          a.setMap(y, out);
          a.touch(n, Role.PRODUCER, y, out);
        }
        case DEPTHWISE -> {
          if (in == null) {
            return; // channels of a fixed input: nothing to carry
          }
          a.setMap(y, in);
          a.touch(n, Role.CHANNELWISE, n.input(0), in);
        }
        case GROUPED -> {
          long group = n.attrLong("group", 1);
          if (in == null) {
            return; // input channels fixed: the group count cannot change
          }
          int ci = Math.toIntExact(w.dim(1));
          int co = Math.toIntExact(cout / group);
          if (in.length() != ci * group) {
            a.unknown(n, "grouped conv input has " + in.length() + " channels, weight expects " + ci * group);
            return;
          }
          ChannelMap out = a.newSpace(n, y, 1, cout, false);
          for (int g = 0; g < group; g++) {
            int first = in.ids()[g * ci];
            for (int k = 0; k < ci; k++) {
              a.union(first, in.ids()[g * ci + k]);
            }
            for (int k = 0; k < co; k++) {
              a.union(first, out.ids()[g * co + k]);
            }
          }
          a.setMap(y, out);
          a.touch(n, Role.CONSUMER, n.input(0), in);
          a.consumerEnd(n, 0);
          a.touch(n, Role.PRODUCER, y, out);
        }
        default -> throw new IllegalStateException();
      }
    }

    @Override
    public void apply(Node n, Applier p) {
      Tensor w = Analyzer.constant(n.input(1));
      if (w == null || w.rank() < 3) {
        return;
      }
      boolean[] rmIn = p.removedPositions(n.input(0));
      boolean[] rmOut = p.removedPositions(n.output(0));
      switch (kind(n, w)) {
        case DENSE -> {
          p.sliceInput01(n, 1, rmOut, rmIn);
          p.sliceInput(n, 2, 0, rmOut);
        }
        case DEPTHWISE -> {
          if (rmOut != null) {
            p.sliceInput(n, 1, 0, rmOut);
            p.sliceInput(n, 2, 0, rmOut);
            n.setAttribute(Attribute.of("group", (long) Applier.kept(rmOut)));
          }
        }
        case GROUPED -> {
          if (rmOut != null) {
            long group = n.attrLong("group", 1);
            int co = Math.toIntExact(w.dim(0) / group);
            int removedOut = rmOut.length - Applier.kept(rmOut);
            if (removedOut % co != 0) {
              throw new GraphException(n.describe() + ": removing " + removedOut + " output channels is not a whole"
                  + " number of groups of " + co);
            }
            p.sliceInput(n, 1, 0, rmOut);
            p.sliceInput(n, 2, 0, rmOut);
            n.setAttribute(Attribute.of("group", group - removedOut / co));
          }
        }
        default -> throw new IllegalStateException();
      }
    }
  }

  /** ConvTranspose with group 1: weight [Cin, Cout, k...]. */
  static final class ConvTranspose implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap in = singleAxis(n, a, 0);
      Tensor w = Analyzer.constant(n.input(1));
      if (w == null || w.rank() < 3 || n.attrLong("group", 1) != 1
          || (n.input(2) != null && Analyzer.constant(n.input(2)) == null) || (in != null && in.axis() != 1)) {
        if (in != null) {
          a.unknown(n, "only ConvTranspose with group 1 and constant weight and bias is pruned");
        }
        return;
      }
      if (in != null) {
        a.touch(n, Role.CONSUMER, n.input(0), in);
        a.consumerEnd(n, 0);
      }
      ChannelMap out = a.newSpace(n, n.output(0), 1, Math.toIntExact(w.dim(1)), false);
      a.setMap(n.output(0), out);
      a.touch(n, Role.PRODUCER, n.output(0), out);
    }

    @Override
    public void apply(Node n, Applier p) {
      if (p.map(n.output(0)) == null) {
        return;
      }
      p.sliceInput(n, 1, 0, p.removedPositions(n.input(0)));
      boolean[] rmOut = p.removedPositions(n.output(0));
      p.sliceInput(n, 1, 1, rmOut);
      p.sliceInput(n, 2, 0, rmOut);
    }
  }

  /** Gemm with constant B: input features end here, output features are new channels. */
  static final class Gemm implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap in = singleAxis(n, a, 0);
      Tensor b = Analyzer.constant(n.input(1));
      boolean transB = n.attrLong("transB", 0) != 0;
      if (b == null || b.rank() != 2 || n.attrLong("transA", 0) != 0 || a.map(n.input(1)) != null) {
        if (in != null || a.map(n.input(1)) != null || a.map(n.input(2)) != null) {
          a.unknown(n, "only Gemm with transA=0 and a constant B is pruned");
        }
        return;
      }
      int features = Math.toIntExact(transB ? b.dim(0) : b.dim(1));
      Value c = n.input(2);
      if (c != null) {
        Tensor ct = Analyzer.constant(c);
        if (ct == null) {
          a.unknown(n, "bias C is not a constant");
          return;
        }
      }
      if (in != null) {
        if (in.axis() != 1) {
          a.unknown(n, "input features are on axis " + in.axis());
          return;
        }
        a.touch(n, Role.CONSUMER, n.input(0), in);
        a.consumerEnd(n, 0);
      }
      ChannelMap out = a.newSpace(n, n.output(0), 1, features, false);
      a.setMap(n.output(0), out);
      a.touch(n, Role.PRODUCER, n.output(0), out);
    }

    @Override
    public void apply(Node n, Applier p) {
      if (p.map(n.output(0)) == null) {
        return;
      }
      boolean transB = n.attrLong("transB", 0) != 0;
      boolean[] rmIn = p.removedPositions(n.input(0));
      boolean[] rmOut = p.removedPositions(n.output(0));
      p.sliceInput(n, 1, transB ? 1 : 0, rmIn);
      p.sliceInput(n, 1, transB ? 0 : 1, rmOut);
      if (n.input(2) != null && rmOut != null) {
        Tensor c = Analyzer.constant(n.input(2));
        if (c.rank() >= 1 && c.dim(c.rank() - 1) == rmOut.length) {
          p.sliceInput(n, 2, c.rank() - 1, rmOut);
        }
      }
    }
  }

  /**
   * MatMul with a constant 2-D right operand [K, N] (or a constant [N, K] behind a Transpose):
   * like a Gemm on the last axis.
   */
  static final class MatMul implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap in = singleAxis(n, a, 0);
      Analyzer.MatMulWeight w = Analyzer.matMulWeight(n);
      int rank = Analyzer.rank(n.input(0));
      if (w == null || rank < 2 || a.map(n.input(1)) != null) {
        if (in != null || a.map(n.input(1)) != null) {
          a.unknown(n, "only MatMul by a constant 2-D matrix is pruned");
        }
        return;
      }
      if (in != null) {
        if (in.axis() != rank - 1) {
          a.unknown(n, "input features are on axis " + in.axis() + ", not the last");
          return;
        }
        a.touch(n, Role.CONSUMER, n.input(0), in);
        a.consumerEnd(n, 0);
      }
      int features = Math.toIntExact(w.tensor().dim(w.transposed() ? 0 : 1));
      ChannelMap out = a.newSpace(n, n.output(0), rank - 1, features, false);
      a.setMap(n.output(0), out);
      a.touch(n, Role.PRODUCER, n.output(0), out);
    }

    @Override
    public void apply(Node n, Applier p) {
      if (p.map(n.output(0)) == null) {
        return;
      }
      Analyzer.MatMulWeight w = Analyzer.matMulWeight(n);
      int inAxis = w.transposed() ? 1 : 0;
      p.sliceInput(w.holder(), w.input(), inAxis, p.removedPositions(n.input(0)));
      p.sliceInput(w.holder(), w.input(), 1 - inAxis, p.removedPositions(n.output(0)));
    }
  }

  /** Broadcasting elementwise ops: merge tracked operands, slice per-channel constants. */
  static final class Elementwise implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      int rank = Analyzer.rank(n.output(0));
      ChannelMap ref = null;
      int outAxis = -1;
      for (int i = 0; i < n.inputCount(); i++) {
        ChannelMap m = singleAxis(n, a, i);
        if (m == null) {
          if (a.map(n.input(i)) != null) {
            return; // multi-axis map: already blocked
          }
          continue;
        }
        int r = Analyzer.rank(n.input(i));
        if (rank < 0 || r < 0) {
          a.unknown(n, "operand ranks are unknown");
          return;
        }
        int axis = m.axis() + (rank - r);
        if (ref == null) {
          ref = m;
          outAxis = axis;
        } else if (axis != outAxis) {
          a.unknown(n, "operands carry channels on different axes");
          return;
        }
      }
      if (ref == null) {
        return;
      }
      for (int i = 0; i < n.inputCount(); i++) {
        Value in = n.input(i);
        ChannelMap m = a.map(in);
        int r = Analyzer.rank(in);
        int ai = outAxis - (rank - r);
        if (m != null) {
          if (m.length() == ref.length()) {
            if (m != ref) {
              a.unionAll(ref, m);
              a.touch(n, Role.MERGE, in, m);
            }
          } else if (m.length() == 1) {
            a.block(m, n.describe() + ": a single channel is broadcast over " + ref.length());
          } else {
            a.unknown(n, "operands have " + m.length() + " and " + ref.length() + " channels");
            return;
          }
          continue;
        }
        long d = ai < 0 ? 1 : Analyzer.dim(in, ai);
        if (d == 1) {
          continue;
        }
        if (d == ref.length() && Analyzer.constant(in) != null) {
          continue; // per-channel constant, sliced on apply
        }
        a.unknown(n, "operand '" + in.name() + "' has " + (d < 0 ? "an unknown number of" : String.valueOf(d))
            + " channels that are not tracked");
        return;
      }
      a.setMap(n.output(0), ref);
      a.touch(n, Role.CHANNELWISE, n.input(0), ref);
    }

    @Override
    public void apply(Node n, Applier p) {
      ChannelMap ref = p.map(n.output(0));
      if (ref == null) {
        return;
      }
      boolean[] rm = p.removedPositions(n.output(0));
      if (rm == null) {
        return;
      }
      int rank = Analyzer.rank(n.output(0));
      for (int i = 0; i < n.inputCount(); i++) {
        Value in = n.input(i);
        if (in == null || p.map(in) != null) {
          continue;
        }
        Tensor t = Analyzer.constant(in);
        if (t == null) {
          continue;
        }
        int ai = ref.axis() - (rank - t.rank());
        if (ai >= 0 && t.dim(ai) == rm.length) {
          p.sliceInput(n, i, ai, rm);
        }
      }
    }
  }

  /** Concat: on the channel axis each input takes its offset range; elsewhere operands merge. */
  static final class Concat implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      int rank = Analyzer.rank(n.output(0));
      int axis = normAxis(n.attrLong("axis", 0), rank);
      List<ChannelMap> maps = new ArrayList<>();
      boolean anyOnAxis = false;
      boolean anyOffAxis = false;
      for (int i = 0; i < n.inputCount(); i++) {
        ChannelMap m = singleAxis(n, a, i);
        if (m == null && a.map(n.input(i)) != null) {
          return;
        }
        maps.add(m);
        if (m != null) {
          anyOnAxis |= m.axis() == axis;
          anyOffAxis |= m.axis() != axis;
        }
      }
      if (!anyOnAxis && !anyOffAxis) {
        return;
      }
      if (anyOnAxis && anyOffAxis) {
        a.unknown(n, "inputs carry channels on different axes");
        return;
      }
      if (anyOffAxis) {
        // Concatenating along another axis: every operand must carry the same channels.
        ChannelMap ref = null;
        for (int i = 0; i < maps.size(); i++) {
          ChannelMap m = maps.get(i);
          if (m == null) {
            a.unknown(n, "operand '" + n.input(i).name() + "' has channels that are not tracked");
            return;
          }
          if (ref == null) {
            ref = m;
          } else if (m.axis() != ref.axis() || m.length() != ref.length()) {
            a.unknown(n, "operands carry different channels");
            return;
          } else {
            a.unionAll(ref, m);
          }
        }
        a.setMap(n.output(0), ref);
        a.touch(n, Role.MERGE, n.input(0), ref);
        return;
      }
      List<Integer> ids = new ArrayList<>();
      for (int i = 0; i < maps.size(); i++) {
        ChannelMap m = maps.get(i);
        if (m == null) {
          long d = Analyzer.dim(n.input(i), axis);
          if (d < 0) {
            a.unknown(n, "operand '" + n.input(i).name() + "' has an unknown size on the concat axis");
            return;
          }
          m = a.newSpace(n, n.input(i), axis, Math.toIntExact(d), true);
        }
        for (int id : m.ids()) {
          ids.add(id);
        }
      }
      ChannelMap out = ChannelMap.single(axis, ids.stream().mapToInt(Integer::intValue).toArray());
      a.setMap(n.output(0), out);
      a.touch(n, Role.INDEX_MAP, n.output(0), out);
    }
  }

  /** Split on the channel axis: each output takes its range; sizes are rewritten. */
  static final class Split implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      int rank = Analyzer.rank(n.input(0));
      int axis = normAxis(n.attrLong("axis", 0), rank);
      if (m.axis() != axis) {
        for (Value out : n.outputs()) {
          a.setMap(out, m);
        }
        a.touch(n, Role.CHANNELWISE, n.input(0), m);
        return;
      }
      long[] sizes = sizes(n, m.length());
      if (sizes == null) {
        a.unknown(n, "split sizes are not constant");
        return;
      }
      int off = 0;
      for (int o = 0; o < n.outputCount(); o++) {
        int s = Math.toIntExact(sizes[o]);
        if (n.output(o) != null) {
          a.setMap(n.output(o), m.range(axis, off, off + s));
        }
        off += s;
      }
      a.touch(n, Role.INDEX_MAP, n.input(0), m);
    }

    /** Output sizes along the split axis of a {@code total}-long input. */
    static long[] sizes(Node n, int total) {
      long[] split = intsAttrOrInput(n, "split", 1);
      if (split == DYNAMIC) {
        return null;
      }
      if (split != null && split.length > 0) {
        return split;
      }
      int k = n.outputCount();
      long[] out = new long[k];
      long each = (total + k - 1) / k; // opset 18 num_outputs: last chunk may be smaller
      for (int i = 0; i < k; i++) {
        out[i] = Math.min(each, total - each * i);
      }
      return out;
    }

    @Override
    public void apply(Node n, Applier p) {
      ChannelMap m = p.map(n.input(0));
      boolean[] rm = p.removedPositions(n.input(0));
      if (m == null || rm == null) {
        return;
      }
      int axis = normAxis(n.attrLong("axis", 0), Analyzer.rank(n.input(0)));
      if (m.axis() != axis) {
        return;
      }
      long[] sizes = sizes(n, m.length());
      long[] kept = new long[sizes.length];
      int off = 0;
      for (int o = 0; o < sizes.length; o++) {
        int s = Math.toIntExact(sizes[o]);
        kept[o] = s - Applier.count(rm, off, off + s);
        if (kept[o] == 0) {
          throw new GraphException(n.describe() + ": output " + o + " would lose all " + s + " channels");
        }
        off += s;
      }
      if (n.hasAttribute("split")) {
        n.setAttribute(Attribute.of("split", kept));
      } else if (n.input(1) != null) {
        p.replaceConstant(n, 1, Tensor.vector(kept));
      } else {
        boolean equal = Arrays.stream(kept).allMatch(k -> k == kept[0]);
        if (!equal) {
          n.removeAttribute("num_outputs");
          Value sizesValue = n.graph().addInitializer(n.graph().uniqueName(n.output(0).name() + "_split"),
              Tensor.vector(kept));
          if (p.analysis.model().defaultOpsetVersion() >= 13) {
            while (n.inputCount() < 1) {
              n.addInput(null);
            }
            n.addInput(sizesValue);
          } else {
            n.setAttribute(Attribute.of("split", kept));
          }
        }
      }
    }
  }

  /** Slice with step 1 on the channel axis keeps a range; bounds are rewritten. */
  static final class Slice implements ChannelRule {
    /** The bounds on the channel axis; {@code dynamic} when computed at run time from shapes. */
    record Bounds(int index, long start, long end, long step, boolean dynamic) {}

    /**
     * What apply expects run-time bounds to become on a channel axis of {@code size} channels,
     * checked after shapes are inferred again.
     */
    record DynamicCheck(Node node, int index, long start, long end, long size) {}

    /** Constant ints of input {@code i}, or what shape inference computed for it, else DYNAMIC. */
    private static long[] known(Node n, String attr, int i, Analyzer a, boolean[] dynamic) {
      long[] v = intsAttrOrInput(n, attr, i);
      if (v == DYNAMIC && a != null) {
        long[] c = a.shapes.constantOf(n.input(i));
        if (c != null) {
          dynamic[0] = true;
          return c;
        }
      }
      return v;
    }

    static Bounds bounds(Node n, int axis, int rank, Analyzer a) {
      boolean[] dynamic = new boolean[1];
      long[] starts = known(n, "starts", 1, a, dynamic);
      long[] ends = known(n, "ends", 2, a, dynamic);
      long[] axes = known(n, "axes", 3, a, dynamic);
      long[] steps = n.inputCount() > 4 ? known(n, "steps", 4, a, dynamic) : null;
      if (starts == DYNAMIC || ends == DYNAMIC || axes == DYNAMIC || steps == DYNAMIC || starts == null) {
        return new Bounds(-2, 0, 0, 0, true);
      }
      for (int i = 0; i < starts.length; i++) {
        int ax = axes == null ? i : normAxis(axes[i], rank);
        if (ax == axis) {
          return new Bounds(i, starts[i], ends[i], steps == null ? 1 : steps[i], dynamic[0]);
        }
      }
      return null;
    }

    static long clamp(long v, long size) {
      if (v < 0) {
        v += size;
      }
      return Math.max(0, Math.min(size, v));
    }

    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      for (int i = 1; i < n.inputCount(); i++) {
        if (a.map(n.input(i)) != null) {
          a.unknown(n, "slice bounds depend on tracked channels");
          return;
        }
      }
      Bounds b = bounds(n, m.axis(), Analyzer.rank(n.input(0)), a);
      if (b == null) {
        a.setMap(n.output(0), m);
        a.touch(n, Role.CHANNELWISE, n.input(0), m);
        return;
      }
      if (b.index() == -2 || b.step() != 1) {
        a.unknown(n, b.index() == -2 ? "slice bounds are not constant" : "slice step " + b.step() + " on channels");
        return;
      }
      int s = (int) clamp(b.start(), m.length());
      int e = (int) clamp(b.end(), m.length());
      if (b.dynamic()) {
        // Bounds computed from the channel count at run time: only an equal split (as exporters
        // emit for chunk/split by shape) is understood. Every part must keep the same number of
        // channels, so position j of each part is one unit; checked again after pruning.
        int len = e - s;
        if (len <= 0 || m.length() % len != 0 || s % len != 0) {
          a.unknown(n, "run-time slice bounds [" + s + ", " + e + ") are not an equal split of " + m.length());
          return;
        }
        for (int j = 0; j < len; j++) {
          for (int q = 1; q < m.length() / len; q++) {
            a.union(m.ids()[j], m.ids()[q * len + j]);
          }
        }
      }
      a.setMap(n.output(0), m.range(m.axis(), s, Math.max(s, e)));
      a.touch(n, Role.INDEX_MAP, n.input(0), m);
      a.notes.put(n, b);
    }

    @Override
    public void apply(Node n, Applier p) {
      ChannelMap m = p.map(n.input(0));
      boolean[] rm = p.removedPositions(n.input(0));
      if (m == null || rm == null) {
        return;
      }
      Bounds b = (Bounds) p.analysis.state.notes.get(n);
      if (b == null) {
        return;
      }
      int s = (int) clamp(b.start(), m.length());
      int e = (int) clamp(b.end(), m.length());
      long newStart = s - Applier.count(rm, 0, s);
      long newEnd = b.end() >= m.length() ? b.end() : newStart + (e - s) - Applier.count(rm, s, e);
      if (newEnd - newStart <= 0) {
        throw new GraphException(n.describe() + ": the slice would lose all its channels");
      }
      if (b.dynamic()) {
        // Bounds computed from shapes at run time follow the new sizes by themselves; whether
        // they land where the kept channels are is checked once shapes are inferred again.
        int size = Applier.kept(rm);
        p.dynamicChecks.add(new DynamicCheck(n, b.index(), newStart, clamp(newEnd, size), size));
        return;
      }
      rewrite(n, p, "starts", 1, b.index(), newStart);
      rewrite(n, p, "ends", 2, b.index(), newEnd);
    }

    private static void rewrite(Node n, Applier p, String attr, int input, int index, long value) {
      if (n.hasAttribute(attr)) {
        long[] v = n.attrLongs(attr);
        v[index] = value;
        n.setAttribute(Attribute.of(attr, v));
        return;
      }
      Tensor t = Analyzer.constant(n.input(input));
      long[] v = t.toLongArray();
      v[index] = value;
      Tensor nt = t.dataType() == dev.onnxprune.graph.DataType.INT32
          ? Tensor.ofInts(t.dims(), Arrays.stream(v).mapToInt(Math::toIntExact).toArray())
          : Tensor.ofLongs(t.dims(), v);
      p.replaceConstant(n, input, nt);
    }
  }

  /**
   * Checks that slices whose bounds are computed at run time now select the kept channels.
   *
   * @throws GraphException naming the slice when they do not
   */
  static void checkDynamicSlices(List<Slice.DynamicCheck> checks, dev.onnxprune.graph.shape.ShapeReport shapes) {
    for (Slice.DynamicCheck c : checks) {
      Node n = c.node();
      long[] starts = shapes.constantOf(n.input(1));
      long[] ends = shapes.constantOf(n.input(2));
      if (starts == null || ends == null) {
        throw new GraphException(n.describe() + ": its run-time slice bounds can no longer be computed");
      }
      long s = Slice.clamp(starts[c.index()], c.size());
      long e = Slice.clamp(ends[c.index()], c.size());
      if (s != c.start() || e != c.end()) {
        throw new GraphException(n.describe() + ": its run-time bounds would become [" + s + ", " + e
            + ") but the kept channels are [" + c.start() + ", " + c.end() + "); prune the groups it splits evenly");
      }
    }
  }

  /** Flatten: channels at or after the flatten axis expand into blocks of features. */
  static final class Flatten implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      Shape s = Analyzer.shape(n.input(0));
      int rank = s == null ? -1 : s.rank();
      int k = normAxis(n.attrLong("axis", 1), rank);
      if (rank < 0 || m.axis() < k || k == 0) {
        a.unknown(n, "flatten merges the channel axis with leading axes");
        return;
      }
      ChannelMap out = expand(s, k, m, 1);
      if (out == null) {
        a.unknown(n, "flattened feature block size is not static");
        return;
      }
      a.setMap(n.output(0), out);
      a.touch(n, Role.RESHAPE, n.input(0), m);
    }

    /** The map of axes {@code [from, rank)} of shape {@code s} merged into one axis {@code outAxis}. */
    static ChannelMap expand(Shape s, int from, ChannelMap m, int outAxis) {
      long outer = 1;
      for (int d = from; d < m.axis(); d++) {
        if (!s.dim(d).isKnown()) {
          return null;
        }
        outer *= s.dim(d).get();
      }
      long inner = s.elementsFrom(m.axis() + 1);
      if (inner < 0 || outer * inner * m.length() > 200_000_000L) {
        return null;
      }
      int c = m.length();
      int[] ids = new int[Math.toIntExact(outer * c * inner)];
      int p = 0;
      for (long o = 0; o < outer; o++) {
        for (int ch = 0; ch < c; ch++) {
          for (long r = 0; r < inner; r++) {
            ids[p++] = m.ids()[ch];
          }
        }
      }
      return ChannelMap.single(outAxis, ids);
    }
  }

  /** Reshape: keep, flatten, split into (groups, per group), or merge back the channel axis. */
  static final class Reshape implements ChannelRule {
    enum Case { KEEP, FLATTEN, SPLIT, MERGE }

    record Note(Case kind, int axis, long groups) {}

    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = a.map(n.input(0));
      if (m == null) {
        if (a.map(n.input(1)) != null) {
          a.unknown(n, "reshape target depends on tracked channels");
        }
        return;
      }
      Shape in = Analyzer.shape(n.input(0));
      Shape out = Analyzer.shape(n.output(0));
      if (in == null || out == null) {
        a.unknown(n, "reshape shapes are unknown");
        return;
      }
      int ax = m.axis();
      if (!samePrefix(in, out, ax)) {
        a.unknown(n, "reshape changes axes before the channel axis");
        return;
      }
      if (m.span() == 2) {
        long g = m.dims()[0];
        long per = m.dims()[1];
        if (out.rank() > ax && known(out, ax) == g * per && in.elementsFrom(ax + 2) == out.elementsFrom(ax + 1)
            && in.elementsFrom(ax + 2) >= 0) {
          ChannelMap merged = ChannelMap.single(ax, m.ids());
          a.setMap(n.output(0), merged);
          a.touch(n, Role.RESHAPE, n.input(0), merged);
          a.notes.put(n, new Note(Case.MERGE, ax, g));
          return;
        }
        a.unknown(n, "channel shuffle reshape not understood");
        return;
      }
      long c = m.length();
      long trailIn = in.elementsFrom(ax + 1);
      if (trailIn < 0) {
        a.unknown(n, "reshape of a tensor with unknown trailing sizes");
        return;
      }
      if (out.rank() > ax && known(out, ax) == c && out.elementsFrom(ax + 1) == trailIn) {
        a.setMap(n.output(0), m);
        a.touch(n, Role.RESHAPE, n.input(0), m);
        a.notes.put(n, new Note(Case.KEEP, ax, 0));
        return;
      }
      if (out.rank() == ax + 1 && known(out, ax) == c * trailIn) {
        ChannelMap flat = Flatten.expand(in, ax, m, ax);
        if (flat != null) {
          a.setMap(n.output(0), flat);
          a.touch(n, Role.RESHAPE, n.input(0), m);
          a.notes.put(n, new Note(Case.FLATTEN, ax, 0));
          return;
        }
      }
      if (out.rank() >= ax + 2 && known(out, ax) > 1 && known(out, ax) * known(out, ax + 1) == c
          && out.elementsFrom(ax + 2) == trailIn) {
        long g = known(out, ax);
        long per = c / g;
        // Every group must lose the same positions: couple position j of all groups.
        for (int j = 0; j < per; j++) {
          for (int q = 1; q < g; q++) {
            a.union(m.ids()[j], m.ids()[(int) (q * per + j)]);
          }
        }
        ChannelMap split = new ChannelMap(ax, new long[] {g, per}, m.ids());
        a.setMap(n.output(0), split);
        a.touch(n, Role.RESHAPE, n.input(0), m);
        a.notes.put(n, new Note(Case.SPLIT, ax, g));
        return;
      }
      a.unknown(n, "reshape " + in + " -> " + out + " mixes channels with other axes");
    }

    private static long known(Shape s, int axis) {
      return s.dim(axis).isKnown() ? s.dim(axis).get() : -1;
    }

    private static boolean samePrefix(Shape in, Shape out, int axis) {
      if (out.rank() < axis) {
        return false;
      }
      for (int d = 0; d < axis; d++) {
        Dim x = in.dim(d);
        Dim y = out.dim(d);
        boolean same = (x.isKnown() && y.isKnown() && x.get() == y.get())
            || (x.isSymbolic() && x.param().equals(y.param()));
        if (!same) {
          return false;
        }
      }
      return true;
    }

    @Override
    public void apply(Node n, Applier p) {
      Note note = (Note) p.analysis.state.notes.get(n);
      boolean[] rm = p.removedPositions(n.input(0));
      Tensor target = Analyzer.constant(n.input(1));
      if (note == null || rm == null || target == null) {
        return; // nothing removed, or a runtime-computed target that follows the new sizes
      }
      long[] t = target.toLongArray();
      int ax = note.axis();
      if (ax >= t.length) {
        return;
      }
      int kept = Applier.kept(rm);
      switch (note.kind()) {
        case KEEP, MERGE -> {
          if (t[ax] > 0) {
            t[ax] = kept;
          }
        }
        case FLATTEN -> {
          if (t[ax] > 0) {
            t[ax] = t[ax] / rm.length * kept;
          }
        }
        case SPLIT -> {
          if (ax + 1 < t.length && t[ax + 1] > 0) {
            t[ax + 1] = kept / note.groups();
          }
        }
        default -> throw new IllegalStateException();
      }
      p.replaceConstant(n, 1, Tensor.ofLongs(target.dims(), t));
    }
  }

  /** Transpose moves the channel axis; swapping a shuffle's two axes permutes its ids. */
  static final class Transpose implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = a.map(n.input(0));
      if (m == null) {
        return;
      }
      int rank = Analyzer.rank(n.input(0));
      long[] perm = n.attrLongs("perm");
      if (perm == null) {
        if (rank < 0) {
          a.unknown(n, "rank unknown");
          return;
        }
        perm = new long[rank];
        for (int i = 0; i < rank; i++) {
          perm[i] = rank - 1 - i;
        }
      }
      int p0 = indexOf(perm, m.axis());
      if (m.span() == 1) {
        a.setMap(n.output(0), m.withAxis(p0));
        a.touch(n, Role.RESHAPE, n.input(0), m);
        return;
      }
      int p1 = indexOf(perm, m.axis() + 1);
      if (p1 == p0 + 1) {
        a.setMap(n.output(0), m.withAxis(p0));
      } else if (p0 == p1 + 1) {
        int g = (int) m.dims()[0];
        int per = (int) m.dims()[1];
        int[] ids = new int[g * per];
        for (int q = 0; q < g; q++) {
          for (int j = 0; j < per; j++) {
            ids[j * g + q] = m.ids()[q * per + j];
          }
        }
        a.setMap(n.output(0), new ChannelMap(p1, new long[] {per, g}, ids));
      } else {
        a.unknown(n, "transpose separates a channel shuffle's axes");
        return;
      }
      a.touch(n, Role.RESHAPE, n.input(0), m);
    }

    private static int indexOf(long[] perm, int axis) {
      for (int i = 0; i < perm.length; i++) {
        if (perm[i] == axis) {
          return i;
        }
      }
      return -1;
    }
  }

  /** Squeeze/Unsqueeze shift the channel axis; squeezing it away is not understood. */
  static final class SqueezeUnsqueeze implements ChannelRule {
    private final boolean squeeze;

    SqueezeUnsqueeze(boolean squeeze) {
      this.squeeze = squeeze;
    }

    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      int inRank = Analyzer.rank(n.input(0));
      int outRank = Analyzer.rank(n.output(0));
      long[] axes = intsAttrOrInput(n, "axes", 1);
      if (axes == DYNAMIC || inRank < 0 || outRank < 0) {
        a.unknown(n, "axes or ranks unknown");
        return;
      }
      int axis = m.axis();
      int newAxis;
      if (squeeze) {
        List<Integer> sq = new ArrayList<>();
        if (axes == null || axes.length == 0) {
          Shape s = Analyzer.shape(n.input(0));
          for (int d = 0; d < inRank; d++) {
            if (s.dim(d).isKnown() && s.dim(d).get() == 1) {
              sq.add(d);
            }
          }
        } else {
          for (long x : axes) {
            sq.add(normAxis(x, inRank));
          }
        }
        if (sq.contains(axis)) {
          a.unknown(n, "squeezes the channel axis");
          return;
        }
        newAxis = axis - (int) sq.stream().filter(d -> d < axis).count();
      } else {
        if (axes == null) {
          a.unknown(n, "axes unknown");
          return;
        }
        boolean[] inserted = new boolean[outRank];
        for (long x : axes) {
          inserted[normAxis(x, outRank)] = true;
        }
        newAxis = -1;
        int src = 0;
        for (int d = 0; d < outRank; d++) {
          if (!inserted[d]) {
            if (src == axis) {
              newAxis = d;
            }
            src++;
          }
        }
      }
      a.setMap(n.output(0), m.withAxis(newAxis));
      a.touch(n, Role.RESHAPE, n.input(0), m);
    }
  }

  /** Reductions over other axes keep channels; over the channel axis they mix them. */
  static final class Reduce implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      int rank = Analyzer.rank(n.input(0));
      long[] axes = intsAttrOrInput(n, "axes", 1);
      if (axes == DYNAMIC || rank < 0) {
        a.unknown(n, "reduction axes are not constant");
        return;
      }
      if (axes == null || axes.length == 0) {
        a.unknown(n, "reduces over all axes, channels included");
        return;
      }
      int axis = m.axis();
      int before = 0;
      for (long x : axes) {
        int d = normAxis(x, rank);
        if (d == axis) {
          a.unknown(n, "reduces over the channel axis");
          return;
        }
        if (d < axis) {
          before++;
        }
      }
      boolean keep = n.attrLong("keepdims", 1) != 0;
      a.setMap(n.output(0), m.withAxis(keep ? axis : axis - before));
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }
  }

  /** Softmax family: fine along another axis, not across channels. */
  static final class SoftmaxRule implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      int rank = Analyzer.rank(n.input(0));
      boolean modern = a.opset >= 13;
      int axis = normAxis(n.attrLong("axis", modern ? -1 : 1), rank);
      if (rank < 0 || (modern ? axis == m.axis() : m.axis() >= axis)) {
        a.unknown(n, "normalises across the channel axis");
        return;
      }
      a.setMap(n.output(0), m);
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }
  }

  /** Pad: fine when the channel axis is not padded. */
  static final class Pad implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      int rank = Analyzer.rank(n.input(0));
      long[] pads = intsAttrOrInput(n, "pads", 1);
      long[] axes = n.inputCount() > 3 ? intsAttrOrInput(n, "axes", 3) : null;
      if (pads == DYNAMIC || pads == null || axes == DYNAMIC || rank < 0) {
        a.unknown(n, "pads are not constant");
        return;
      }
      int half = pads.length / 2;
      for (int i = 0; i < half; i++) {
        int ax = axes == null ? i : normAxis(axes[i], rank);
        if (ax == m.axis() && (pads[i] != 0 || pads[i + half] != 0)) {
          a.unknown(n, "pads the channel axis");
          return;
        }
      }
      a.setMap(n.output(0), m);
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }
  }

  /** Resize/Upsample: fine when the channel axis keeps its size (a constant sizes entry is rewritten). */
  static final class Resize implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null) {
        return;
      }
      Value scalesV = n.opType().equals("Upsample") ? n.input(1) : n.input(2);
      Value sizesV = n.opType().equals("Upsample") ? null : n.input(3);
      float[] scales = null;
      if (n.hasAttribute("scales")) {
        scales = n.attribute("scales").asFloats();
      } else if (scalesV != null) {
        Tensor t = Analyzer.constant(scalesV);
        if (t == null) {
          a.unknown(n, "scales are not constant");
          return;
        }
        scales = t.elementCount() == 0 ? null : t.toFloatArray();
      }
      if (scales != null && scales.length > m.axis() && scales[m.axis()] != 1f) {
        a.unknown(n, "resizes the channel axis");
        return;
      }
      if (sizesV != null) {
        Tensor t = Analyzer.constant(sizesV);
        if (t == null) {
          a.unknown(n, "sizes are not constant");
          return;
        }
      }
      a.setMap(n.output(0), m);
      a.touch(n, Role.CHANNELWISE, n.input(0), m);
    }

    @Override
    public void apply(Node n, Applier p) {
      if (n.opType().equals("Upsample") || n.input(3) == null) {
        return;
      }
      boolean[] rm = p.removedPositions(n.input(0));
      ChannelMap m = p.map(n.input(0));
      Tensor t = Analyzer.constant(n.input(3));
      if (rm == null || t == null || t.elementCount() <= m.axis()) {
        return;
      }
      long[] sizes = t.toLongArray();
      sizes[m.axis()] = Applier.kept(rm);
      p.replaceConstant(n, 3, Tensor.ofLongs(t.dims(), sizes));
    }
  }

  /** Shape and Size read only sizes, which follow pruning at run time. */
  static final class Neutral implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {}
  }

  /** Used by tests: op types with a rule. */
  static java.util.Set<String> ruleOps() {
    return java.util.Collections.unmodifiableSet(RULES.keySet());
  }
}
