package dev.onnxprune.surgery;

import static dev.onnxprune.surgery.ChannelRules.DYNAMIC;
import static dev.onnxprune.surgery.ChannelRules.intsAttrOrInput;
import static dev.onnxprune.surgery.ChannelRules.normAxis;
import static dev.onnxprune.surgery.ChannelRules.singleAxis;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelRules.ChannelRule;
import dev.onnxprune.surgery.ChannelRules.InputRule;
import dev.onnxprune.surgery.GroupMember.Role;

/** Rules for ops that carry channels through unchanged: activations, pools, normalisations,
 * elementwise merges, and reductions, Softmax, Pad and Resize that leave the channel axis alone. */
final class ChannelwiseRules {
  private ChannelwiseRules() {}

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
  static final class Pool implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      if (m.axis() != 1) {
        a.unknown(n, "pooling over the channel axis");
        return;
      }
      if (n.output(1) != null && !n.output(1).uses().isEmpty()) {
        a.unknown(n, "MaxPool Indices output encodes channel positions");
        return;
      }
      a.carry(n, m);
    }
  }

  /** BatchNormalization / InstanceNormalization: per-channel parameters are sliced. */
  static final class Norm implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
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
      a.carry(n, m);
    }

    @Override
    public void apply(Node n, Applier p) {
      boolean[] rm = p.removedPositions(n.input(0));
      for (int i = 1; i < n.inputCount(); i++) {
        p.sliceInput(n, i, 0, rm);
      }
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
          if (m.length() == ref.length() && !RowMajor.same(m.tile(), ref.tile())) {
            a.unknown(n, "operands carry channels tiled differently (" + m.tile() + " and " + ref.tile() + ")");
            return;
          }
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
        if (d == 1 || uniform(in)) {
          continue;
        }
        if (d == ref.length() && Analyzer.constant(in) != null) {
          continue; // per-channel constant, sliced on apply
        }
        a.unknown(n, "operand '" + in.name() + "' has " + (d < 0 ? "an unknown number of" : String.valueOf(d))
            + " channels that are not tracked");
        return;
      }
      a.carry(n, ref);
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

  /**
   * True when every element of {@code v} is the same constant, made by ConstantOfShape from a
   * shape read at run time (attention masks' zeros): it follows the pruned sizes and needs no
   * slicing.
   */
  static boolean uniform(Value v) {
    for (int hops = 0; v != null && hops < 8; hops++) {
      Node p = v.producer();
      if (p == null) {
        return false;
      }
      if (p.is("ConstantOfShape")) {
        return Analyzer.constant(p.input(0)) == null;
      }
      v = p.is("Cast") || p.is("Identity") ? p.input(0) : null;
    }
    return false;
  }

  /** Reductions over other axes keep channels; over the channel axis they mix them. */
  static final class Reduce implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
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
        int d = normAxis(n, "axes", x, rank);
        if (d == axis) {
          statistic(n, a, m, axes.length);
          return;
        }
        if (d < axis) {
          before++;
        }
      }
      boolean keep = n.attrLong("keepdims", 1) != 0;
      a.carry(n, Role.CHANNELWISE, m, m.withAxis(keep ? axis : axis - before));
    }

    /**
     * A ReduceMean over the channel axis alone, keeping it (size 1): a statistic of the channels,
     * as a LayerNorm's mean and variance and an RMSNorm's mean square are. Its output has no
     * channels; pruning makes it the statistic of the kept ones, which is what the exact reference
     * computes. Other reductions over channels mix them.
     */
    private static void statistic(Node n, Analyzer a, ChannelMap m, int axes) {
      if (!n.is("ReduceMean") || axes != 1 || n.attrLong("keepdims", 1) == 0 || m.span() != 1) {
        a.unknown(n, n.is("ReduceMean") ? "reduces over the channel axis together with other axes"
            : n.opType() + " over the channel axis (only a LayerNorm's or RMSNorm's ReduceMean over the channel axis"
            + " is pruned through)");
        return;
      }
      a.statistics.add(n);
      a.touch(n, Role.STATISTIC, n.input(0), m);
    }
  }

  /**
   * LayerNormalization (opset 17) over the last axis alone, which holds the channels: channel-wise
   * (scale and bias are sliced) and a statistic of the channels (its mean and variance), so the
   * exact reference computes it over the kept channels ({@link MaskInsertion}). A LayerNorm over
   * other axes carries the channels. Over the channels together with other axes, or with its Mean
   * or InvStdDev outputs used, it is refused.
   */
  static final class LayerNorm implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      int rank = Analyzer.rank(n.input(0));
      int axis = rank < 0 ? -1 : normAxis(n, "axis", n.attrLong("axis", -1), rank);
      if (rank >= 0 && m.axis() < axis) {
        a.carry(n, m); // normalises other axes: its parameters are not per channel
        return;
      }
      if (rank < 0 || axis != rank - 1 || m.axis() != axis || !m.untiled()) {
        a.unknown(n, "LayerNormalization over the channel axis together with other axes");
        return;
      }
      for (int i = 1; i < n.inputCount(); i++) {
        if (n.input(i) != null && Analyzer.constant(n.input(i)) == null) {
          a.unknown(n, "LayerNormalization parameter '" + n.input(i).name() + "' is not a constant");
          return;
        }
      }
      for (int o = 1; o < n.outputCount(); o++) {
        if (n.output(o) != null && !n.output(o).uses().isEmpty()) {
          a.unknown(n, "LayerNormalization's Mean or InvStdDev output is used");
          return;
        }
      }
      a.statistics.add(n);
      a.touch(n, Role.STATISTIC, n.input(0), m);
      a.carry(n, m);
    }

    @Override
    public void apply(Node n, Applier p) {
      boolean[] rm = p.removedPositions(n.input(0));
      for (int i = 1; i < n.inputCount(); i++) {
        Tensor t = n.input(i) == null ? null : Analyzer.constant(n.input(i));
        if (t != null && t.rank() >= 1) {
          p.sliceInput(n, i, t.rank() - 1, rm);
        }
      }
    }
  }

  /**
   * Expand: a tracked input keeps its channels on the aligned output axis (broadcast along other
   * axes, as grouped-query attention repeats each key/value head); an untracked input broadcast
   * from 1 to a constant size along one axis (an attention mask repeated for every head) becomes
   * a set of copies that other channels can couple to. The shape is rewritten on apply.
   */
  static final class Expand implements ChannelRule {
    @Override
    public void analyze(Node n, Analyzer a) {
      if (a.map(n.input(1)) != null) {
        a.unknown(n, "its shape depends on tracked channels");
        return;
      }
      ChannelMap m = singleAxis(n, a, 0);
      if (m == null && a.map(n.input(0)) != null) {
        return;
      }
      Shape in = Analyzer.shape(n.input(0));
      Shape out = Analyzer.shape(n.output(0));
      if (in == null || out == null) {
        if (m != null) {
          a.unknown(n, "shapes are unknown");
        }
        return;
      }
      int shift = out.rank() - in.rank();
      if (m != null) {
        int oa = m.axis() + shift;
        if (!RowMajor.same(in.dim(m.axis()), out.dim(oa))) {
          a.unknown(n, "broadcasts " + in.dim(m.axis()) + " channel(s) to " + out.dim(oa));
          return;
        }
        a.carry(n, Role.CHANNELWISE, m, m.withAxis(oa));
        return;
      }
      int copied = -1;
      for (int j = 1; j < out.rank(); j++) {
        Dim src = j >= shift ? in.dim(j - shift) : Dim.of(1);
        Dim d = out.dim(j);
        if (src.isKnown() && src.get() == 1 && d.isKnown() && d.get() > 1) {
          if (copied >= 0) {
            return; // broadcast along several axes: not a set of copies of one axis
          }
          copied = j;
        }
      }
      if (copied > 0) {
        ChannelMap copies = a.newSpace(n, n.output(0), copied, Math.toIntExact(out.dim(copied).get()), false);
        a.copies.add(copies.ids()[0]);
        a.setMap(n.output(0), copies);
        a.touch(n, Role.CHANNELWISE, n.output(0), copies);
      }
    }

    @Override
    public void apply(Node n, Applier p) {
      Tensor shape = Analyzer.constant(n.input(1));
      boolean changed = p.removedPositions(n.output(0)) != null;
      if (shape == null && (changed || ShapeTargets.readsPrunedSizes(n.input(1), p))) {
        ShapeTargets.rewriteExpand(n, p);
        return;
      }
      if (!changed || shape == null) {
        return;
      }
      ChannelMap out = p.map(n.output(0));
      long[] t = shape.toLongArray();
      int j = out.axis() - (Analyzer.rank(n.output(0)) - t.length);
      if (j >= 0 && j < t.length && t[j] > 1) {
        t[j] = ShapeTargets.newSize(p, out);
        p.replaceConstant(n, 1, Tensor.ofLongs(shape.dims(), t));
      }
    }
  }

  /** Softmax family: fine along another axis, not across channels. */
  static final class SoftmaxRule implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      int rank = Analyzer.rank(n.input(0));
      boolean modern = a.opset >= 13;
      int axis = normAxis(n, "axis", n.attrLong("axis", modern ? -1 : 1), rank);
      if (rank < 0 || (modern ? axis == m.axis() : m.axis() >= axis)) {
        a.unknown(n, "normalises across the channel axis");
        return;
      }
      a.carry(n, m);
    }
  }

  /** Pad: fine when the channel axis is not padded. */
  static final class Pad implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
      int rank = Analyzer.rank(n.input(0));
      long[] pads = intsAttrOrInput(n, "pads", 1);
      if (pads == DYNAMIC && a.shapes.constantOf(n.input(1)) != null) {
        pads = a.shapes.constantOf(n.input(1)); // computed at run time from sizes pruning keeps (checked below)
      }
      long[] axes = n.inputCount() > 3 ? intsAttrOrInput(n, "axes", 3) : null;
      if (pads == DYNAMIC || pads == null || axes == DYNAMIC || rank < 0) {
        a.unknown(n, "pads are not constant");
        return;
      }
      int half = pads.length / 2;
      if (pads.length % 2 != 0 || (axes != null && axes.length != half)) {
        throw n.invalid("pads has " + pads.length + " values" + (axes == null ? "" : " for " + axes.length + " axes")
            + "; Pad takes a begin and an end per axis");
      }
      for (int i = 0; i < half; i++) {
        int ax = axes == null ? i : normAxis(n, "axes", axes[i], rank);
        if (ax == m.axis() && (pads[i] != 0 || pads[i + half] != 0)) {
          a.unknown(n, "pads the channel axis");
          return;
        }
      }
      a.carry(n, m);
    }
  }

  /** Resize/Upsample: fine when the channel axis keeps its size (a constant sizes entry is rewritten). */
  static final class Resize implements InputRule {
    @Override
    public void analyze(Node n, Analyzer a, ChannelMap m) {
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
      a.carry(n, m);
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
}
