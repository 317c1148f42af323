package dev.onnxprune.surgery;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * State of one channel analysis: channel ids (one per channel of every channel producer), the
 * union-find that couples them, the channel map of every value that carries tracked channels,
 * and what each node does to them. Rules ({@link ChannelRules}) fill it in graph order.
 */
final class Analyzer {
  /** A block of fresh channel ids created by a producer (or a fixed, untracked source). */
  record Space(int index, Node producer, Value value, int axis, int base, int size, boolean fixed) {}

  /** A node that touches channels, and how (for reports and for the rules that apply plans). */
  record Touch(Node node, GroupMember.Role role, String tensor, int[] ids) {}

  /** An input whose channels a node contracts over: where masks go for equivalence checks. */
  record ConsumerEnd(Node node, int inputIndex) {}

  /** A channel that must not be removed, and why. */
  record Block(int id, String reason) {}

  final IntUnionFind uf = new IntUnionFind();
  final List<Space> spaces = new ArrayList<>();
  private int[] spaceOfId = new int[64];
  final Map<Value, ChannelMap> maps = new IdentityHashMap<>();
  final List<Touch> touches = new ArrayList<>();
  final List<ConsumerEnd> consumerEnds = new ArrayList<>();
  final List<Block> blocks = new ArrayList<>();
  /** One channel id of each set of copies an Expand makes ({@link ChannelwiseRules.Expand}); no layer produces them. */
  final List<Integer> copies = new ArrayList<>();
  /** Spaces of copies that nothing coupled to a layer's channels: left out of the groups. */
  final java.util.Set<Integer> dropped = new java.util.HashSet<>();
  /** One channel id of each attention head split (its units are heads). */
  final List<Integer> headSplits = new ArrayList<>();
  /**
   * Reductions over the channel axis that compute a statistic of the channels (a LayerNorm's or
   * RMSNorm's mean and variance): pruning changes what they compute, so the exact reference for
   * a plan computes them over the kept channels only ({@link MaskInsertion}).
   */
  final List<Node> statistics = new ArrayList<>();
  /** RNN/GRU/LSTM nodes whose hidden units are a prunable space (their exact reference zeroes W, R, B). */
  final List<Node> recurrent = new ArrayList<>();
  /** What a rule decided about a node during analysis, for its apply step. */
  final Map<Node, Object> notes = new IdentityHashMap<>();
  /** Default-domain opset of the model (rules whose semantics changed with the opset read it). */
  final long opset;
  /** Shape inference's view of the model: small integer tensors computed from shapes. */
  final dev.onnxprune.graph.shape.ShapeReport shapes;

  Analyzer(long opset, dev.onnxprune.graph.shape.ShapeReport shapes) {
    this.opset = opset;
    this.shapes = shapes;
  }

  /** New channel ids for output {@code value} of {@code producer}, along {@code axis}. */
  ChannelMap newSpace(Node producer, Value value, int axis, int size, boolean fixed) {
    int base = uf.add(size);
    Space s = new Space(spaces.size(), producer, value, axis, base, size, fixed);
    spaces.add(s);
    if (spaceOfId.length < base + size) {
      spaceOfId = java.util.Arrays.copyOf(spaceOfId, Math.max(spaceOfId.length * 2, base + size));
    }
    int[] ids = new int[size];
    for (int i = 0; i < size; i++) {
      ids[i] = base + i;
      spaceOfId[base + i] = s.index();
    }
    ChannelMap m = ChannelMap.single(axis, ids);
    if (fixed) {
      block(m, "channels of '" + value.name() + "' are not produced by a prunable layer");
    }
    return m;
  }

  int spaceOf(int id) {
    return spaceOfId[id];
  }

  ChannelMap map(Value v) {
    return v == null ? null : maps.get(v);
  }

  void setMap(Value v, ChannelMap m) {
    if (v != null && m != null) {
      maps.put(v, m);
    }
  }

  void union(int a, int b) {
    uf.union(a, b);
  }

  /** Couples two maps position by position (same length). */
  void unionAll(ChannelMap a, ChannelMap b) {
    for (int i = 0; i < a.length(); i++) {
      uf.union(a.ids()[i], b.ids()[i]);
    }
  }

  void block(ChannelMap m, String reason) {
    if (m == null) {
      return;
    }
    // One block per distinct id is enough; flattened maps repeat ids.
    int last = -1;
    for (int id : m.ids()) {
      if (id != last) {
        blocks.add(new Block(id, reason));
        last = id;
      }
    }
  }

  void touch(Node n, GroupMember.Role role, Value tensor, ChannelMap m) {
    if (m != null) {
      touches.add(new Touch(n, role, tensor == null ? "" : tensor.name(), m.ids()));
    }
  }

  /**
   * Output 0 of {@code n} carries {@code out}, derived from the channels {@code in} of input 0;
   * records the touch as {@code role}.
   */
  void carry(Node n, GroupMember.Role role, ChannelMap in, ChannelMap out) {
    setMap(n.output(0), out);
    touch(n, role, n.input(0), in);
  }

  /** Output 0 of {@code n} carries the channels {@code m} of input 0 unchanged. */
  void carry(Node n, ChannelMap m) {
    carry(n, GroupMember.Role.CHANNELWISE, m, m);
  }

  void consumerEnd(Node n, int inputIndex) {
    consumerEnds.add(new ConsumerEnd(n, inputIndex));
  }

  /**
   * Forgets the sets of copies ({@link #copies}) that no layer's channels were coupled to and no
   * consumer reads: an Expand of a mask or an index that merely broadcasts is no unit of
   * anything, and would otherwise be reported as a group.
   */
  void dropLoneCopies() {
    if (copies.isEmpty()) {
      return;
    }
    java.util.Set<Integer> copySpaces = new java.util.HashSet<>();
    for (int id : copies) {
      copySpaces.add(spaceOf(id));
    }
    java.util.Set<Integer> realRoots = new java.util.HashSet<>();
    for (int id = 0; id < uf.count(); id++) {
      if (!copySpaces.contains(spaceOf(id))) {
        realRoots.add(uf.find(id));
      }
    }
    for (ConsumerEnd end : consumerEnds) {
      ChannelMap m = map(end.node().input(end.inputIndex()));
      for (int id : m == null ? new int[0] : m.ids()) {
        realRoots.add(uf.find(id));
      }
    }
    for (int id : copies) {
      Space s = spaces.get(spaceOf(id));
      boolean lone = true;
      for (int i = 0; i < s.size() && lone; i++) {
        lone = !realRoots.contains(uf.find(s.base() + i));
      }
      if (lone) {
        dropped.add(s.index());
      }
    }
    if (dropped.isEmpty()) {
      return;
    }
    java.util.function.IntPredicate gone = id -> dropped.contains(spaceOf(id));
    maps.values().removeIf(m -> java.util.Arrays.stream(m.ids()).anyMatch(gone));
    touches.removeIf(t -> java.util.Arrays.stream(t.ids()).anyMatch(gone));
    blocks.removeIf(b -> gone.test(b.id()));
  }

  /** Blocks every tracked input of {@code n}: the analysis does not understand it. */
  void unknown(Node n, String why) {
    String reason = n.describe() + ": " + why;
    for (Value in : n.inputs()) {
      block(map(in), reason);
    }
  }

  /**
   * A 2-D constant weight read as {@code [K, N]} by MatMul: the constant itself, or a constant
   * {@code [N, K]} behind a Transpose (exporters that do not fold constants emit Linear layers
   * so). {@code holder} and {@code input} say where the constant is read, for slicing.
   */
  record MatMulWeight(Tensor tensor, boolean transposed, Node holder, int input) {}

  static MatMulWeight matMulWeight(Node matMul) {
    Value b = matMul.input(1);
    Tensor t = constant(b);
    if (t != null) {
      return t.rank() == 2 ? new MatMulWeight(t, false, matMul, 1) : null;
    }
    Node p = b == null ? null : b.producer();
    if (p != null && p.is("Transpose") && b.uses().size() == 1) {
      Tensor inner = constant(p.input(0));
      long[] perm = p.attrLongs("perm");
      if (inner != null && inner.rank() == 2 && (perm == null || (perm[0] == 1 && perm[1] == 0))) {
        return new MatMulWeight(inner, true, p, 0);
      }
    }
    return null;
  }

  /** Static shape of {@code v}, or null when its shape or rank is unknown. */
  static Shape shape(Value v) {
    return v == null ? null : v.shape();
  }

  /** Rank of {@code v}, or -1 when unknown. */
  static int rank(Value v) {
    Shape s = shape(v);
    return s == null ? -1 : s.rank();
  }

  /** Size of axis {@code axis} of {@code v}, or -1 when unknown. */
  static long dim(Value v, int axis) {
    Shape s = shape(v);
    if (s == null || axis < 0 || axis >= s.rank() || !s.dim(axis).isKnown()) {
      return -1;
    }
    return s.dim(axis).get();
  }

  /**
   * The constant tensor behind {@code v}: an initializer or Constant, through at most 16 Identity
   * nodes (an Identity reading its own output, in a model with a cycle, ended the walk never).
   */
  static Tensor constant(Value v) {
    for (int hops = 0; v != null && hops < 16; hops++) {
      Tensor t = v.constantValue();
      if (t != null) {
        return t;
      }
      Node p = v.producer();
      if (p != null && p.is("Identity")) {
        v = p.input(0);
      } else {
        return null;
      }
    }
    return null;
  }
}
