package dev.onnxprune.surgery;

import static dev.onnxprune.surgery.ChannelRules.DYNAMIC;
import static dev.onnxprune.surgery.ChannelRules.intsAttrOrInput;
import static dev.onnxprune.surgery.ChannelRules.normAxis;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.shape.SymbolicDims;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.surgery.ChannelRules.ChannelRule;
import dev.onnxprune.surgery.ChannelRules.InputRule;
import dev.onnxprune.surgery.GroupMember.Role;
import java.util.ArrayList;
import java.util.List;

/** Rules for ops that move or reshape the channel axis: Flatten, Reshape (including the channel
 * shuffle), Transpose, Squeeze and Unsqueeze. */
final class ReshapeRules {
  private ReshapeRules() {}

  /** Flatten: channels at or after the flatten axis expand into blocks of features. */
  static final class Flatten implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      Shape s = Analyzer.shape(n.input(0));
      int rank = s == null ? -1 : s.rank();
      int k = normAxis(n, "axis", n.attrLong("axis", 1), rank, true);
      if (rank < 0 || m.axis() < k || k == 0 || !m.untiled()) {
        a.unknown(n, "flatten merges the channel axis with leading axes");
        return;
      }
      ChannelMap out = expand(s, k, m, 1);
      if (out == null) {
        a.unknown(n, "flattened feature block size is not static");
        return;
      }
      a.carry(n, Role.RESHAPE, m, out);
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

  /**
   * Reshape, read through the row-major layout ({@link RowMajor}): the channel positions are
   * {@code pre} repeats of blocks of {@code post} elements, and the output axis where they land
   * says what the reshape does to them.
   * <ol>
   *   <li><b>Keep / flatten</b>: one output axis holds every position, each over {@code repeat}
   *       elements of it (Flatten-like: {@code [N, C, H, W] -> [N, C*H*W]}), possibly behind
   *       leading axes merged into it ({@code [S, B, E] -> [S*B, E]}, or a symbolic batch as a
   *       tile, {@code [S, B*H, hd]} of attention heads).
   *   <li><b>Heads</b>: the channel axis splits over several output axes of which one becomes a
   *       batch axis of attention's MatMuls ({@link RowMajor#reachesAttentionBatchAxis}): that
   *       axis's positions are the units (heads), and every channel of a head (its head_dim, and
   *       for a packed {@code [3, heads, head_dim]} split its q, k and v parts) is coupled into
   *       it. Exporters' {@code [B, S, D] -> [B, S, H, hd]} and PyTorch's
   *       {@code [S, B, D] -> [S, B*H, hd]} are both this.
   *   <li><b>Channel shuffle</b>: a split into {@code (groups, per group)} that does not reach an
   *       attention couples position {@code j} of every group (every group keeps the same
   *       positions); its Transpose and merge back are followed on a two-axis map.
   * </ol>
   * On apply a constant target gets the new size; a target computed at run time (from Shape
   * chains that read sizes the pruning changes, or a head count) is replaced by one built from
   * the pruned shapes ({@link ShapeTargets}).
   */
  static final class Reshape implements ChannelRule {
    enum Case { KEEP, SPLIT, MERGE }

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
      if (m.span() == 2) {
        mergeShuffle(n, a, m, in, out);
        return;
      }
      Dim pre = SymbolicDims.multiply(RowMajor.product(in, 0, ax), m.tile());
      Dim post = RowMajor.product(in, ax + 1, in.rank());
      int positions = m.length();
      RowMajor.Placement p = RowMajor.place(out, pre);
      if (p == null) {
        a.unknown(n, "reshape " + in + " -> " + out + " moves the channels across axes it cannot follow");
        return;
      }
      long r = RowMajor.repeat(out, p, positions, post);
      if (r > 0) {
        if (!ShapeTargets.copiesAreKept(n, in, p.axis(), ax)) {
          a.unknown(n, "its target copies an input size (0) that pruning changes");
          return;
        }
        int[] ids = new int[Math.toIntExact(positions * r)];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = m.ids()[(int) (i / r)];
        }
        ChannelMap o = ChannelMap.tiled(p.axis(), ids, p.tile());
        a.carry(n, Role.RESHAPE, m, o);
        a.notes.put(n, new Note(Case.KEEP, p.axis(), 0));
        return;
      }
      long[] f = RowMajor.factors(out, p, positions, post);
      if (f == null) {
        a.unknown(n, "reshape " + in + " -> " + out + " mixes channels with other axes");
        return;
      }
      for (int h = 0; h < f.length; h++) {
        if (RowMajor.reachesAttentionBatchAxis(n.output(0), p.axis() + h)) {
          splitHeads(n, a, m, p, f, h);
          return;
        }
      }
      boolean shuffle = f.length == 2 && f[0] > 1 && p.tile().isKnown() && p.tile().get() == 1 && m.untiled();
      if (!shuffle) {
        a.unknown(n, "reshape " + in + " -> " + out + " splits the channels into " + java.util.Arrays.toString(f)
            + " and no axis of it is an attention's head axis");
        return;
      }
      long g = f[0];
      long per = f[1];
      // Every group must lose the same positions: couple position j of all groups.
      for (int j = 0; j < per; j++) {
        for (int q = 1; q < g; q++) {
          a.union(m.ids()[j], m.ids()[(int) (q * per + j)]);
        }
      }
      ChannelMap split = new ChannelMap(p.axis(), new long[] {g, per}, m.ids());
      a.carry(n, Role.RESHAPE, m, split);
      a.notes.put(n, new Note(Case.SPLIT, p.axis(), g));
    }

    /**
     * Attention heads: the positions split over axes with sizes {@code f} (row-major), and factor
     * {@code h} is the head axis. Every position of one head index (whatever its other factors)
     * becomes one unit; the output carries the heads on that axis.
     */
    private static void splitHeads(Node n, Analyzer a, ChannelMap m, RowMajor.Placement p, long[] f, int h) {
      long inner = 1;
      for (int i = h + 1; i < f.length; i++) {
        inner *= f[i];
      }
      int heads = Math.toIntExact(f[h]);
      int[] first = new int[heads];
      java.util.Arrays.fill(first, -1);
      for (int pos = 0; pos < m.length(); pos++) {
        int head = (int) ((pos / inner) % heads);
        if (first[head] < 0) {
          first[head] = m.ids()[pos];
        } else {
          a.union(first[head], m.ids()[pos]);
        }
      }
      ChannelMap o = h == 0 ? ChannelMap.tiled(p.axis(), first, p.tile()) : ChannelMap.single(p.axis() + h, first);
      a.carry(n, Role.RESHAPE, m, o);
      a.notes.put(n, new Note(Case.KEEP, o.axis(), 0));
      a.headSplits.add(first[0]);
    }

    /** A channel shuffle's two-axis map merged back into one axis. */
    private static void mergeShuffle(Node n, Analyzer a, ChannelMap m, Shape in, Shape out) {
      int ax = m.axis();
      long g = m.dims()[0];
      long per = m.dims()[1];
      if (samePrefix(in, out, ax) && out.rank() > ax && known(out, ax) == g * per
          && in.elementsFrom(ax + 2) == out.elementsFrom(ax + 1) && in.elementsFrom(ax + 2) >= 0) {
        ChannelMap merged = ChannelMap.single(ax, m.ids());
        a.carry(n, Role.RESHAPE, merged, merged);
        a.notes.put(n, new Note(Case.MERGE, ax, g));
        return;
      }
      a.unknown(n, "channel shuffle reshape not understood");
    }

    private static long known(Shape s, int axis) {
      return s.dim(axis).isKnown() ? s.dim(axis).get() : -1;
    }

    private static boolean samePrefix(Shape in, Shape out, int axis) {
      if (out.rank() < axis) {
        return false;
      }
      for (int d = 0; d < axis; d++) {
        if (!RowMajor.same(in.dim(d), out.dim(d))) {
          return false;
        }
      }
      return true;
    }

    @Override
    public void apply(Node n, Applier p) {
      Note note = (Note) p.analysis.state.notes.get(n);
      boolean[] rmIn = p.removedPositions(n.input(0));
      Tensor target = Analyzer.constant(n.input(1));
      if (target == null && (rmIn != null || ShapeTargets.readsPrunedSizes(n.input(1), p))) {
        ShapeTargets.rewriteReshape(n, p);
        return;
      }
      if (note == null || rmIn == null || target == null) {
        return;
      }
      ChannelMap out = p.map(n.output(0));
      long[] t = target.toLongArray();
      int ax = note.axis();
      if (ax >= t.length) {
        return;
      }
      int kept = Applier.kept(rmIn);
      switch (note.kind()) {
        case KEEP, MERGE -> {
          if (t[ax] > 0) {
            t[ax] = ShapeTargets.newSize(p, out);
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
        a.carry(n, Role.RESHAPE, m, m.withAxis(p0));
        return;
      }
      int p1 = indexOf(perm, m.axis() + 1);
      ChannelMap out;
      if (p1 == p0 + 1) {
        out = m.withAxis(p0);
      } else if (p0 == p1 + 1) {
        int g = (int) m.dims()[0];
        int per = (int) m.dims()[1];
        int[] ids = new int[g * per];
        for (int q = 0; q < g; q++) {
          for (int j = 0; j < per; j++) {
            ids[j * g + q] = m.ids()[q * per + j];
          }
        }
        out = new ChannelMap(p1, new long[] {per, g}, ids);
      } else {
        a.unknown(n, "transpose separates a channel shuffle's axes");
        return;
      }
      a.carry(n, Role.RESHAPE, m, out);
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
  static final class SqueezeUnsqueeze implements InputRule {
    private final boolean squeeze;

    SqueezeUnsqueeze(boolean squeeze) {
      this.squeeze = squeeze;
    }

    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
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
            sq.add(normAxis(n, "axes", x, inRank));
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
          inserted[normAxis(n, "axes", x, outRank)] = true;
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
      a.carry(n, Role.RESHAPE, m, m.withAxis(newAxis));
    }
  }
}
