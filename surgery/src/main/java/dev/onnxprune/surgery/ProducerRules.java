package dev.onnxprune.surgery;

import static dev.onnxprune.surgery.ChannelRules.singleAxis;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelRules.ChannelRule;
import dev.onnxprune.surgery.GroupMember.Role;

/** Rules for the ops that create channels and contract over them: Conv (dense, depthwise, grouped),
 * ConvTranspose, Gemm and MatMul with constant weights. */
final class ProducerRules {
  private ProducerRules() {}

  /** Conv: producer; depthwise carries channels; grouped couples whole groups. */
  static final class Conv implements ChannelRule {
    enum Kind { DENSE, DEPTHWISE, GROUPED }

    /**
     * @throws dev.onnxprune.errors.InvalidModelException when {@code group} is below 1 or does not
     *     divide the weight's first axis (output channels of a Conv, input channels of a ConvTranspose)
     */
    static Kind kind(Node n, Tensor w) {
      long group = n.attrLong("group", 1);
      if (group == 1) {
        return Kind.DENSE;
      }
      long cout = w.dim(0);
      if (group < 1 || cout % group != 0) {
        throw n.invalidAttribute("group", "is " + group + "; it must be at least 1 and divide the " + cout
            + " channels of weight '" + n.input(1).name() + "' " + java.util.Arrays.toString(w.dims()));
      }
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
      if (in != null && (in.axis() != 1 || !in.untiled())) {
        a.unknown(n, "input channels are on axis " + in.axis() + (in.untiled() ? "" : " merged with " + in.tile()));
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
          a.carry(n, in);
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
        if (in.axis() != 1 || !in.untiled()) {
          a.unknown(n, "input features are on axis " + in.axis() + (in.untiled() ? "" : " merged with " + in.tile()));
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
      Analyzer.MatMulWeight w = Analyzer.matMulWeight(n);
      if (w == null && Analyzer.constant(n.input(0)) == null && Analyzer.constant(n.input(1)) == null) {
        ActivationMatMul.analyze(n, a);
        return;
      }
      ChannelMap in = singleAxis(n, a, 0);
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
        if (!in.untiled()) {
          a.unknown(n, "input features are merged with a symbolic axis (" + in.tile() + ")");
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
      Analyzer.MatMulWeight w = Analyzer.matMulWeight(n);
      if (p.map(n.output(0)) == null || w == null) {
        return;
      }
      int inAxis = w.transposed() ? 1 : 0;
      p.sliceInput(w.holder(), w.input(), inAxis, p.removedPositions(n.input(0)));
      p.sliceInput(w.holder(), w.input(), 1 - inAxis, p.removedPositions(n.output(0)));
    }
  }

  /**
   * MatMul of two activations (attention's {@code q . k^T} and {@code p . v}): channels on the
   * batch axes pair up by broadcasting (position by position, so both operands' heads are one
   * unit), channels on A's rows or B's columns carry to the output; channels on the contracted
   * axis of both (q and k's head_dim) are not followed.
   */
  static final class ActivationMatMul {
    private ActivationMatMul() {}

    static void analyze(Node n, Analyzer a) {
      ChannelMap ma = singleAxis(n, a, 0);
      ChannelMap mb = singleAxis(n, a, 1);
      if ((ma == null && a.map(n.input(0)) != null) || (mb == null && a.map(n.input(1)) != null)
          || (ma == null && mb == null)) {
        return;
      }
      int ra = Analyzer.rank(n.input(0));
      int rb = Analyzer.rank(n.input(1));
      int ro = Analyzer.rank(n.output(0));
      if (ra < 2 || rb < 2 || ro < 0) {
        a.unknown(n, "MatMul of two activations whose ranks are unknown or below 2");
        return;
      }
      int oa = ma == null ? -1 : outAxis(ma.axis(), ra, ro, false);
      int ob = mb == null ? -1 : outAxis(mb.axis(), rb, ro, true);
      if (oa == -2 || ob == -2) {
        a.unknown(n, "contracts over the channels of two activations (only whole attention heads are pruned,"
            + " not their head_dim)");
        return;
      }
      if (ma != null && mb != null) {
        if (oa != ob || !ma.sameLayout(mb.withAxis(ma.axis())) || oa >= ro - 2) {
          a.unknown(n, "its operands carry channels on different axes");
          return;
        }
        a.unionAll(ma, mb);
        a.touch(n, Role.MERGE, n.input(1), mb);
      }
      ChannelMap m = ma != null ? ma : mb;
      int o = ma != null ? oa : ob;
      if (o < ro - 2 && (ma == null || mb == null)) {
        Value other = ma == null ? n.input(0) : n.input(1);
        int ro2 = Analyzer.rank(other);
        long d = o - (ro - ro2) < 0 ? 1 : Analyzer.dim(other, o - (ro - ro2));
        if (d != 1) {
          a.unknown(n, "operand '" + other.name() + "' has channels that are not tracked on a batch axis");
          return;
        }
      }
      a.setMap(n.output(0), m.withAxis(o));
      a.touch(n, Role.CHANNELWISE, ma != null ? n.input(0) : n.input(1), m);
    }

    /** The output axis of an operand's channel axis; -2 when it is contracted. */
    private static int outAxis(int axis, int rank, int outRank, boolean right) {
      if (axis == rank - (right ? 2 : 1)) {
        return -2;
      }
      return axis + outRank - rank;
    }
  }

  /**
   * Gather: from a constant table {@code [rows, width]} along axis 0 (a word, position or segment
   * embedding, or a relative-position bias table) it produces {@code width} channels on the last
   * output axis, the table's columns; from an activation along another axis than its channels
   * (the first token for a pooler) it carries them.
   */
  static final class Gather implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      if (a.map(n.input(1)) != null) {
        a.unknown(n, "its indices depend on tracked channels");
        return;
      }
      ChannelMap data = singleAxis(n, a, 0);
      int r = Analyzer.rank(n.input(0));
      int ri = Analyzer.rank(n.input(1));
      int axis = r < 0 ? -1 : ChannelRules.normAxis(n, "axis", n.attrLong("axis", 0), r);
      if (data != null) {
        if (ri < 0 || axis < 0) {
          a.unknown(n, "ranks are unknown");
        } else if (axis == data.axis()) {
          a.unknown(n, "gathers along the channel axis");
        } else {
          a.carry(n, Role.RESHAPE, data, data.withAxis(axis < data.axis() ? data.axis() - 1 + ri : data.axis()));
        }
        return;
      }
      if (a.map(n.input(0)) != null) {
        return; // multi-axis map: blocked already
      }
      Tensor table = Analyzer.constant(n.input(0));
      if (table == null || table.rank() != 2 || axis != 0 || ri < 0 || !table.dataType().isFloatingPoint()) {
        return;
      }
      Value y = n.output(0);
      ChannelMap out = a.newSpace(n, y, ri, Math.toIntExact(table.dim(1)), false);
      a.setMap(y, out);
      a.touch(n, Role.PRODUCER, y, out);
    }

    @Override
    public void apply(Node n, Applier p) {
      ChannelMap out = p.map(n.output(0));
      if (out == null || p.map(n.input(0)) != null) {
        return;
      }
      p.sliceInput(n, 0, 1, p.removedPositions(n.output(0)));
    }
  }

  /**
   * RNN, GRU and LSTM: their input features are consumed like a Gemm's (the columns of W
   * {@code [directions, gates * hidden, input]}), so what feeds them (an embedding) is pruned.
   * Their hidden units are a group: a unit is its rows in every gate block of W and R (gate order
   * per the ONNX spec: LSTM iofc, GRU zrh, RNN one gate), its entries of both halves of B, of
   * initial_h and initial_c and of the peepholes P, and its column of R. The forward and backward
   * directions share one unit space (Y carries them on one hidden axis), so unit j goes in both
   * directions together. Constant initial states and weights are needed to slice them.
   */
  static final class Recurrent implements ChannelRule {
    /** Gate blocks of W and R: LSTM 4 (iofc), GRU 3 (zrh), RNN 1. */
    static int gates(Node n) {
      return n.is("LSTM") ? 4 : n.is("GRU") ? 3 : 1;
    }

    @Override
    public void analyze(Node n, Analyzer a) {
      ChannelMap in = singleAxis(n, a, 0);
      for (int i = 1; i < n.inputCount(); i++) {
        if (a.map(n.input(i)) != null) {
          a.unknown(n, n.opType() + ": input " + i + " '" + n.input(i).name() + "' carries channels (only X is"
              + " pruned through)");
          return;
        }
      }
      Tensor w = Analyzer.constant(n.input(1));
      if (in != null) {
        if (w == null || w.rank() != 3 || w.dim(2) != in.length() || in.axis() != 2 || !in.untiled()) {
          a.unknown(n, n.opType() + ": input features must be on the last axis of X and read by a constant W");
          return;
        }
        a.touch(n, Role.CONSUMER, n.input(0), in);
        a.consumerEnd(n, 0);
      }
      long hidden = n.attrLong("hidden_size", -1);
      if (hidden <= 0) {
        return;
      }
      String reason = blockReason(n, hidden);
      ChannelMap units = null;
      for (int o = 0; o < n.outputCount(); o++) {
        Value out = n.output(o);
        if (out == null || out.consumers().isEmpty()) {
          continue;
        }
        // the same units on Y [seq, directions, batch, hidden] (layout 1: [batch, seq, directions,
        // hidden]) and Y_h, Y_c [directions, batch, hidden] ([batch, directions, hidden])
        int axis = o == 0 ? 3 : 2;
        if (units == null) {
          units = a.newSpace(n, out, axis, Math.toIntExact(hidden), false);
          if (reason != null) {
            a.block(units, reason);
          } else {
            a.recurrent.add(n);
          }
        }
        ChannelMap m = units.withAxis(axis);
        a.setMap(out, m);
        a.touch(n, Role.PRODUCER, out, m);
      }
    }

    /** Why the hidden units of {@code n} cannot be sliced, or null when they can. */
    private static String blockReason(Node n, long hidden) {
      String[] names = {"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};
      long g = gates(n);
      long[][] rows = {null, {g * hidden, -1}, {g * hidden, hidden}, {2 * g * hidden}, null, {-1, hidden},
          {-1, hidden}, {3 * hidden}};
      for (int i = 1; i < Math.min(n.inputCount(), names.length); i++) {
        if (rows[i] == null || n.input(i) == null) {
          continue;
        }
        Tensor t = Analyzer.constant(n.input(i));
        if (t == null && (i == 5 || i == 6) && zeroState(n.input(i))) {
          continue; // zeros of a run-time shape (the batch): the state is dropped, the spec's default
        }
        if (t == null) {
          return n.describe() + ": " + n.opType() + " hidden units are not pruned: " + names[i] + " '"
              + n.input(i).name() + "' is not a constant";
        }
        long[] want = rows[i];
        boolean ok = t.rank() == want.length + 1;
        for (int d = 0; ok && d < want.length; d++) {
          ok = want[d] < 0 || t.dim(d + 1) == want[d];
        }
        if (!ok) {
          return n.describe() + ": " + n.opType() + " hidden units are not pruned: " + names[i] + " '"
              + n.input(i).name() + "' " + java.util.Arrays.toString(t.dims()) + " does not match hidden_size "
              + hidden;
        }
      }
      return null;
    }

    /**
     * True when {@code v} is all zeros of a run-time shape (PyTorch exports an LSTM without h0/c0
     * this way, sized by the batch): a ConstantOfShape whose value is 0. An absent initial state is
     * 0 by the ONNX spec, so the pruned node drops it.
     */
    static boolean zeroState(Value v) {
      Node p = v.producer();
      if (p == null || !p.is("ConstantOfShape")) {
        return false;
      }
      dev.onnxprune.graph.Attribute value = p.attribute("value");
      if (value == null) {
        return true; // the default value is a float 0
      }
      for (double x : value.asTensor().toDoubleArray()) {
        if (x != 0) {
          return false;
        }
      }
      return true;
    }

    /** {@code rm} repeated {@code times} times (one copy per gate block). */
    static boolean[] tiled(boolean[] rm, int times) {
      boolean[] out = new boolean[rm.length * times];
      for (int k = 0; k < times; k++) {
        System.arraycopy(rm, 0, out, k * rm.length, rm.length);
      }
      return out;
    }

    @Override
    public void apply(Node n, Applier p) {
      p.sliceInput(n, 1, 2, p.removedPositions(n.input(0)));
      boolean[] rm = hiddenRemoved(n, p);
      if (rm == null) {
        return;
      }
      int g = gates(n);
      p.sliceInput(n, 1, 1, tiled(rm, g));
      p.sliceInput(n, 2, 1, tiled(rm, g));
      p.sliceInput(n, 2, 2, rm);
      p.sliceInput(n, 3, 1, tiled(rm, 2 * g));
      int states = n.is("LSTM") ? 2 : 1;
      for (int i = 5; i < 5 + states; i++) {
        if (n.input(i) != null && Analyzer.constant(n.input(i)) == null) {
          n.replaceInput(i, null); // zeros of a run-time shape (checked in analyze): the default state
        } else {
          p.sliceInput(n, i, 2, rm);
        }
      }
      if (n.is("LSTM")) {
        p.sliceInput(n, 7, 1, tiled(rm, 3));
      }
      n.setAttribute(Attribute.of("hidden_size", (long) Applier.kept(rm)));
    }

    /** Per hidden unit of {@code n}: true when removed; null when none is. */
    static boolean[] hiddenRemoved(Node n, Applier p) {
      for (int o = 0; o < n.outputCount(); o++) {
        if (n.output(o) != null && p.map(n.output(o)) != null) {
          return p.removedPositions(n.output(o));
        }
      }
      return null;
    }
  }
}
