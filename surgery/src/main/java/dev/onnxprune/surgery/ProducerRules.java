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
}
