package dev.onnxprune.surgery;

import static dev.onnxprune.surgery.ChannelRules.DYNAMIC;
import static dev.onnxprune.surgery.ChannelRules.intsAttrOrInput;
import static dev.onnxprune.surgery.ChannelRules.normAxis;

import dev.onnxprune.graph.Dim;
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
      if (rank < 0 || m.axis() < k || k == 0) {
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
          a.carry(n, Role.RESHAPE, merged, merged);
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
        a.carry(n, Role.RESHAPE, m, m);
        a.notes.put(n, new Note(Case.KEEP, ax, 0));
        return;
      }
      if (out.rank() == ax + 1 && known(out, ax) == c * trailIn) {
        ChannelMap flat = Flatten.expand(in, ax, m, ax);
        if (flat != null) {
          a.carry(n, Role.RESHAPE, m, flat);
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
        a.carry(n, Role.RESHAPE, m, split);
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
