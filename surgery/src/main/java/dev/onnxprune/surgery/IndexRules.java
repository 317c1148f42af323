package dev.onnxprune.surgery;

import static dev.onnxprune.surgery.ChannelRules.DYNAMIC;
import static dev.onnxprune.surgery.ChannelRules.intsAttrOrInput;
import static dev.onnxprune.surgery.ChannelRules.normAxis;
import static dev.onnxprune.surgery.ChannelRules.singleAxis;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelRules.ChannelRule;
import dev.onnxprune.surgery.ChannelRules.InputRule;
import dev.onnxprune.surgery.GroupMember.Role;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Rules for ops that map channels to ranges: Concat offsets, Split and Slice ranges. */
final class IndexRules {
  private IndexRules() {}

  /** Concat: on the channel axis each input takes its offset range; elsewhere operands merge. */
  static final class Concat implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      int rank = Analyzer.rank(n.output(0));
      int axis = normAxis(n, "axis", n.attrLong("axis", 0), rank);
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
        // Concatenating along another axis: every operand must carry the same channels, or be a
        // constant with one value per channel (a class token), sliced on apply.
        ChannelMap ref = maps.stream().filter(java.util.Objects::nonNull).findFirst().orElseThrow();
        for (int i = 0; i < maps.size(); i++) {
          ChannelMap m = maps.get(i);
          if (m == null) {
            if (perChannelConstant(n.input(i), ref.axis() - (rank - Analyzer.rank(n.input(i))), ref.length()) == null) {
              a.unknown(n, "operand '" + n.input(i).name() + "' has channels that are not tracked");
              return;
            }
          } else if (!m.sameLayout(ref)) {
            a.unknown(n, "operands carry different channels");
            return;
          } else if (m != ref) {
            a.unionAll(ref, m);
          }
        }
        a.carry(n, Role.MERGE, ref, ref);
        return;
      }
      for (ChannelMap m : maps) {
        if (m != null && !m.untiled()) {
          a.unknown(n, "concatenates channels merged with a symbolic axis (" + m.tile() + ")");
          return;
        }
      }
      List<Integer> ids = new ArrayList<>();
      for (int i = 0; i < maps.size(); i++) {
        ChannelMap m = maps.get(i);
        if (m == null) {
          if (n.input(i) == null) { // an empty input name: Concat has no optional operand
            a.unknown(n, "operand " + i + " is missing (an empty input name)");
            return;
          }
          long d = Analyzer.dim(n.input(i), axis);
          if (d < 0 || d > Integer.MAX_VALUE) {
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

    /**
     * Where the constant behind {@code v} is read, when {@code v} is that constant with
     * {@code channels} values along {@code axis} (through Identity), or an Expand of one along
     * other axes (ViT's class token expanded to the batch): the node and input to slice and the
     * axis in the constant; null otherwise.
     */
    static Slot perChannelConstant(Value v, int axis, int channels) {
      if (v == null || axis < 0 || Analyzer.dim(v, axis) != channels) {
        return null;
      }
      Node p = v.producer();
      if (p != null && p.is("Expand")) {
        Tensor t = Analyzer.constant(p.input(0));
        int ax = axis - (Analyzer.rank(v) - (t == null ? 0 : t.rank()));
        return t != null && ax >= 0 && t.dim(ax) == channels ? new Slot(p, 0, ax) : null;
      }
      return Analyzer.constant(v) != null ? new Slot(null, -1, axis) : null;
    }

    /** A constant input {@code input} of {@code node} to slice along {@code axis} (node null: the operand itself). */
    record Slot(Node node, int input, int axis) {}

    @Override
    public void apply(Node n, Applier p) {
      ChannelMap out = p.map(n.output(0));
      boolean[] rm = p.removedPositions(n.output(0));
      int rank = Analyzer.rank(n.output(0));
      if (out == null || rm == null || out.axis() == normAxis(n, "axis", n.attrLong("axis", 0), rank)) {
        return;
      }
      for (int i = 0; i < n.inputCount(); i++) {
        if (p.map(n.input(i)) != null) {
          continue;
        }
        Slot s = perChannelConstant(n.input(i), out.axis() - (rank - Analyzer.rank(n.input(i))), out.length());
        if (s != null) {
          p.sliceInput(s.node() == null ? n : s.node(), s.node() == null ? i : s.input(), s.axis(), rm);
        }
      }
    }
  }

  /** Split on the channel axis: each output takes its range; sizes are rewritten. */
  static final class Split implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      int rank = Analyzer.rank(n.input(0));
      int axis = normAxis(n, "axis", n.attrLong("axis", 0), rank);
      if (m.axis() != axis) {
        for (Value out : n.outputs()) {
          a.setMap(out, m);
        }
        a.touch(n, Role.CHANNELWISE, n.input(0), m);
        return;
      }
      long[] sizes = sizes(n, m.length());
      if (sizes == null || !m.untiled()) {
        a.unknown(n, sizes == null ? "split sizes are not constant" : "splits channels merged with " + m.tile());
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
      int axis = normAxis(n, "axis", n.attrLong("axis", 0), Analyzer.rank(n.input(0)));
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
  static final class Slice implements InputRule {
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
        int ax = axes == null ? i : normAxis(n, "axes", axes[i], rank);
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
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      for (int i = 1; i < n.inputCount(); i++) {
        if (a.map(n.input(i)) != null) {
          a.unknown(n, "slice bounds depend on tracked channels");
          return;
        }
      }
      Bounds b = bounds(n, m.axis(), Analyzer.rank(n.input(0)), a);
      if (b == null) {
        a.carry(n, m);
        return;
      }
      if (!m.untiled()) {
        a.unknown(n, "slices channels merged with " + m.tile());
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
      a.carry(n, Role.INDEX_MAP, m, m.range(m.axis(), s, Math.max(s, e)));
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
}
