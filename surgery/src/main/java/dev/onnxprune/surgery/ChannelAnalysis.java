package dev.onnxprune.surgery;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Use;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.surgery.ChannelGroup.Kind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Channel-dependency analysis of a model: which channels must be removed together
 * ({@link ChannelGroup}s), and which cannot be removed and why.
 *
 * <p>Every channel producer (Conv, ConvTranspose, Gemm, MatMul with a constant weight) gets
 * fresh channel ids; rules per op ({@link ChannelRules}) carry them through channel-wise ops,
 * couple them where activations merge, map them through Concat/Split/Slice/Flatten/Reshape/
 * Transpose, and stop at consumers. Anything a rule does not understand blocks the channels it
 * touches, with the node and reason recorded; graph outputs keep their channels. The analysis
 * reads the model and never changes it (shape inference fills in value types first).
 */
public final class ChannelAnalysis {
  private final Model model;
  final Analyzer state;
  private final List<ChannelGroup> groups;
  /** Root id of each unit, by group then unit index. */
  private final int[][] unitRoots;
  /** Group and unit index of each root id. */
  private final Map<Integer, int[]> unitOfRoot;
  /** Group and unit index of every channel id (resolved once; the union-find is final). */
  private final int[] groupOfId;
  private final int[] unitOfId;

  private ChannelAnalysis(Model model, Analyzer state) {
    this.model = model;
    this.state = state;
    IntUnionFind uf = state.uf;
    // Groups are the components of spaces that share any coupled channel.
    IntUnionFind spaceUf = new IntUnionFind();
    spaceUf.add(state.spaces.size());
    Map<Integer, Integer> spaceOfRoot = new HashMap<>();
    for (int id = 0; id < uf.count(); id++) {
      if (state.dropped.contains(state.spaceOf(id))) {
        continue;
      }
      int root = uf.find(id);
      Integer s = spaceOfRoot.putIfAbsent(root, state.spaceOf(id));
      if (s != null) {
        spaceUf.union(s, state.spaceOf(id));
      }
    }
    Map<Integer, Integer> groupOfSpaceRoot = new LinkedHashMap<>();
    List<List<Integer>> unitsPerGroup = new ArrayList<>();
    unitOfRoot = new HashMap<>();
    for (Analyzer.Space s : state.spaces) {
      if (state.dropped.contains(s.index())) {
        continue;
      }
      int g = groupOfSpaceRoot.computeIfAbsent(spaceUf.find(s.index()), k -> {
        unitsPerGroup.add(new ArrayList<>());
        return unitsPerGroup.size() - 1;
      });
      for (int i = 0; i < s.size(); i++) {
        int root = uf.find(s.base() + i);
        if (!unitOfRoot.containsKey(root)) {
          unitOfRoot.put(root, new int[] {g, unitsPerGroup.get(g).size()});
          unitsPerGroup.get(g).add(root);
        }
      }
    }
    groupOfId = new int[uf.count()];
    unitOfId = new int[uf.count()];
    for (int id = 0; id < uf.count(); id++) {
      int[] gu = unitOfRoot.get(uf.find(id));
      groupOfId[id] = gu == null ? -1 : gu[0]; // -1: a dropped set of copies
      unitOfId[id] = gu == null ? -1 : gu[1];
    }
    int n = unitsPerGroup.size();
    unitRoots = new int[n][];
    List<Set<String>> reasons = new ArrayList<>();
    List<LinkedHashMap<String, GroupMember>> members = new ArrayList<>();
    List<List<String>> producers = new ArrayList<>();
    for (int g = 0; g < n; g++) {
      unitRoots[g] = unitsPerGroup.get(g).stream().mapToInt(Integer::intValue).toArray();
      reasons.add(new LinkedHashSet<>());
      members.add(new LinkedHashMap<>());
      producers.add(new ArrayList<>());
    }
    for (Analyzer.Block b : state.blocks) {
      reasons.get(groupOfId[b.id()]).add(b.reason());
    }
    java.util.Set<Integer> copySpaces = new java.util.HashSet<>();
    for (int id : state.copies) {
      copySpaces.add(state.spaceOf(id));
    }
    for (Analyzer.Space s : state.spaces) {
      if (!s.fixed() && !copySpaces.contains(s.index()) && !state.dropped.contains(s.index())) {
        producers.get(groupOf(s.base())).add(name(s.producer()));
      }
    }
    for (int id : state.copies) {
      Analyzer.Space s = state.spaces.get(state.spaceOf(id));
      int g = groupOf(id);
      if (g >= 0 && producers.get(g).isEmpty()) {
        reasons.get(g).add(s.producer().describe() + ": copies one value along an axis; no layer produces these"
            + " channels");
      }
    }
    Kind[] kinds = new Kind[n];
    java.util.Arrays.fill(kinds, Kind.CHANNELS);
    for (Analyzer.Touch t : state.touches) {
      if (t.role() == GroupMember.Role.STATISTIC || (t.role() == GroupMember.Role.PRODUCER && t.node().is("Gather"))) {
        kinds[groupOf(t.ids()[0])] = Kind.HIDDEN;
      }
    }
    for (int id : state.headSplits) {
      kinds[groupOf(id)] = Kind.HEADS;
    }
    for (Analyzer.Touch t : state.touches) {
      int last = -1;
      for (int id : t.ids()) {
        int g = groupOf(id);
        if (g != last) {
          GroupMember m = new GroupMember(name(t.node()), t.node().opType(), t.role(), t.tensor());
          members.get(g).putIfAbsent(m.node() + "/" + m.role() + "/" + m.tensor(), m);
          last = g;
        }
      }
    }
    List<ChannelGroup> out = new ArrayList<>(n);
    for (int g = 0; g < n; g++) {
      out.add(new ChannelGroup(g, unitRoots[g].length, kinds[g], new ArrayList<>(members.get(g).values()),
          new ArrayList<>(reasons.get(g)), producers.get(g)));
    }
    this.groups = List.copyOf(out);
  }

  /**
   * Analyses {@code model} (its main graph; values used inside subgraphs are kept whole). Runs
   * shape inference on the model first, which sets value types but changes nothing else.
   */
  public static ChannelAnalysis analyze(Model model) {
    Analyzer a = new Analyzer(model.defaultOpsetVersion(), ShapeInference.infer(model));
    Graph g = model.graph();
    for (Node n : g.nodes()) {
      ChannelRules.forNode(n).analyze(n, a);
    }
    a.dropLoneCopies();
    for (Value out : g.outputs()) {
      a.block(a.map(out), "'" + out.name() + "' is a graph output and keeps its channels");
    }
    for (Map.Entry<Value, ChannelMap> e : a.maps.entrySet()) {
      for (Use u : e.getKey().uses()) {
        if (u.node().graph() != g) {
          a.block(e.getValue(), "'" + e.getKey().name() + "' is read inside subgraph of "
              + u.node().graph().parent().describe());
          break;
        }
      }
    }
    return new ChannelAnalysis(model, a);
  }

  /** The analysed model. */
  public Model model() {
    return model;
  }

  /** Every channel group, in graph order of their first producer. */
  public List<ChannelGroup> groups() {
    return groups;
  }

  /** Groups that may lose channels. */
  public List<ChannelGroup> prunableGroups() {
    return groups.stream().filter(ChannelGroup::prunable).toList();
  }

  /** Group of a channel id. */
  int groupOf(int id) {
    return groupOfId[id];
  }

  /** Unit index (channel index within its group) of a channel id. */
  int unitOf(int id) {
    return unitOfId[id];
  }

  /** The channel ids of every unit in {@code removals}: group id -> unit indices. */
  java.util.BitSet removedIds(Map<Integer, int[]> removals) {
    boolean[][] gone = new boolean[groups.size()][];
    for (Map.Entry<Integer, int[]> e : removals.entrySet()) {
      gone[e.getKey()] = new boolean[groups.get(e.getKey()).size()];
      for (int u : e.getValue()) {
        gone[e.getKey()][u] = true;
      }
    }
    java.util.BitSet out = new java.util.BitSet(groupOfId.length);
    for (int id = 0; id < groupOfId.length; id++) {
      boolean[] g = groupOfId[id] < 0 ? null : gone[groupOfId[id]];
      if (g != null && g[unitOfId[id]]) {
        out.set(id);
      }
    }
    return out;
  }

  /**
   * A value entering an op that contracts over its channels (a Conv's data input, a
   * Gemm/MatMul's input features), and which channel each position of it carries: positions
   * run row-major over the {@code span} axes starting at {@code axis} (one axis, except inside a
   * channel shuffle); position {@code p} is unit {@code units[p]} of group {@code groups[p]}.
   * A flattened value repeats each unit over its feature block. These are the places where
   * removed channels stop mattering, so masks and activation statistics are taken here.
   *
   * @param node the consumer
   * @param input the consumer's input index
   * @param value the value it reads (as analysed; mask insertion may later put a Mul between)
   * @param axis first axis carrying channels
   * @param span number of axes carrying channels
   * @param groups group id of each position
   * @param units unit (channel index within its group) of each position
   */
  public record ConsumerInput(Node node, int input, Value value, int axis, int span, int[] groups, int[] units) {
    /** Number of channel positions ({@code groups.length}). */
    public int length() {
      return groups.length;
    }
  }

  /** Every consumer input whose value carries tracked channels, in graph order. */
  public List<ConsumerInput> consumerInputs() {
    List<ConsumerInput> out = new ArrayList<>();
    for (Analyzer.ConsumerEnd end : state.consumerEnds) {
      Value v = end.node().input(end.inputIndex());
      ChannelMap m = state.map(v);
      if (m == null) {
        continue;
      }
      int[] g = new int[m.length()];
      int[] u = new int[m.length()];
      for (int p = 0; p < g.length; p++) {
        g[p] = groupOf(m.ids()[p]);
        u[p] = unitOf(m.ids()[p]);
      }
      out.add(new ConsumerInput(end.node(), end.inputIndex(), v, m.axis(), m.span(), g, u));
    }
    return out;
  }

  /**
   * A constant parameter whose entries along {@code axis} follow channels: {@code units[p]} is
   * the unit (channel index within the group) that position {@code p} belongs to, or -1 when the
   * position belongs to another group.
   *
   * @param node the node reading the parameter
   * @param tensor the parameter's data
   * @param axis the axis that follows channels
   * @param units unit of each position along {@code axis}
   */
  public record ParameterSlice(Node node, Tensor tensor, int axis, int[] units) {}

  /**
   * The filters that produce {@code group}'s channels: for each producer (Conv, ConvTranspose,
   * Gemm, MatMul; grouped convs included; an embedding table's columns) its weight and the axis
   * of its output channels; for RNN/GRU/LSTM its W and R seen as [directions * gates, hidden, cols]
   * (a unit is its rows in every gate block). A unit of several channels (an attention head's q, k and v rows) has
   * several positions in each slice.
   */
  public List<ParameterSlice> producerWeights(ChannelGroup group) {
    List<ParameterSlice> out = new ArrayList<>();
    for (Analyzer.Space s : state.spaces) {
      if (s.fixed() || groupOf(s.base()) != group.id() || s.producer().is("Expand")) {
        continue;
      }
      Node p = s.producer();
      if (p.is("LSTM") || p.is("GRU") || p.is("RNN")) {
        // a unit's rows in every gate block (and direction) of W and of R: [d * gates, hidden, cols]
        int[] units = unitsOf(group, state.map(s.value()));
        for (int i = 1; i <= 2; i++) {
          Tensor t = Analyzer.constant(p.input(i));
          long h = units.length;
          Tensor rows = Tensor.ofRaw(t.dataType(), new long[] {t.dim(0) * (t.dim(1) / h), h, t.dim(2)}, t.rawBytes());
          out.add(new ParameterSlice(p, rows, 1, units));
        }
        continue;
      }
      Tensor w = Analyzer.constant(p.input(p.is("Gather") ? 0 : 1));
      int axis = switch (p.opType()) {
        case "ConvTranspose", "Gather" -> 1;
        case "Gemm" -> p.attrLong("transB", 0) != 0 ? 0 : 1;
        case "MatMul" -> 1;
        default -> 0;
      };
      if (p.is("MatMul")) {
        Analyzer.MatMulWeight mw = Analyzer.matMulWeight(p);
        w = mw.tensor();
        axis = mw.transposed() ? 0 : 1;
      }
      out.add(new ParameterSlice(p, w, axis, unitsOf(group, state.map(s.value()))));
    }
    return out;
  }

  /** The BatchNormalization scales (gamma) over {@code group}'s channels, axis 0. */
  public List<ParameterSlice> batchNormScales(ChannelGroup group) {
    List<ParameterSlice> out = new ArrayList<>();
    for (Node n : model.graph().nodes()) {
      if (!n.is("BatchNormalization")) {
        continue;
      }
      ChannelMap m = state.map(n.input(0));
      if (m == null || m.span() != 1) {
        continue;
      }
      int[] units = unitsOf(group, m);
      if (java.util.Arrays.stream(units).anyMatch(u -> u >= 0)) {
        out.add(new ParameterSlice(n, Analyzer.constant(n.input(1)), 0, units));
      }
    }
    return out;
  }

  private int[] unitsOf(ChannelGroup group, ChannelMap m) {
    int[] units = new int[m.length()];
    for (int p = 0; p < units.length; p++) {
      int id = m.ids()[p];
      units[p] = groupOfId[id] == group.id() ? unitOfId[id] : -1;
    }
    return units;
  }

  static String name(Node n) {
    return n.name() == null || n.name().isEmpty() ? n.opType() + "@" + n.graph().indexOf(n) : n.name();
  }

  @Override
  public String toString() {
    long prunable = groups.stream().filter(ChannelGroup::prunable).count();
    return "ChannelAnalysis(" + groups.size() + " groups, " + prunable + " prunable, "
        + Arrays.stream(unitRoots).mapToInt(u -> u.length).sum() + " channels)";
  }
}
