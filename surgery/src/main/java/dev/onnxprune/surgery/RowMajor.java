package dev.onnxprune.surgery;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Use;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.SymbolicDims;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a block of channel positions lands when a tensor is reshaped. A Reshape keeps the
 * row-major order of elements, so a channel axis holding {@code L} positions is, in any shape of
 * the same data, {@code pre} repeats of the {@code L} positions of {@code post} elements each;
 * whatever the reshape does, those three numbers stay. This class finds the output axes the
 * positions occupy (symbolic batch and sequence sizes included, through {@link SymbolicDims}), and
 * whether a split of the channel axis is the head axis of an attention.
 */
final class RowMajor {
  private RowMajor() {}

  /**
   * Where the channel positions sit in the output: axis {@code axis} holds {@code tile} (outer,
   * not channels) times {@code size} elements, of which the channel positions are the outermost;
   * when {@code size} is a multiple of the positions, each position spans {@code repeat} elements
   * of the axis ({@link #repeat}); when it divides them, the positions go on over the next axes.
   */
  record Placement(int axis, Dim tile, long size) {}

  /** The product of the dims of {@code s} in {@code [from, to)}. */
  static Dim product(Shape s, int from, int to) {
    return SymbolicDims.product(s.dims().subList(from, to));
  }

  /** True when two dims are the same known size or the same symbol. */
  static boolean same(Dim a, Dim b) {
    if (a.isKnown() || b.isKnown()) {
      return a.isKnown() && b.isKnown() && a.get() == b.get();
    }
    return a.isSymbolic() && b.isSymbolic() && a.param().equals(b.param());
  }

  /** {@code a / b} when exact, else null. */
  static Dim quotient(Dim a, Dim b) {
    Dim q = SymbolicDims.divide(a, b);
    return q.isKnown() || q.isSymbolic() ? q : null;
  }

  /**
   * The output axis whose leading part holds the channel positions that follow {@code pre}
   * elements in row-major order: the last axis {@code k} of {@code out} whose leading axes
   * multiply to a divisor of {@code pre}, with {@code tile = pre / product(out[0, k))}. Null when
   * no axis is such, or the rest of that axis is not a whole multiple of the tile.
   */
  static Placement place(Shape out, Dim pre) {
    int best = -1;
    Dim tile = null;
    for (int k = 0; k < out.rank(); k++) {
      Dim q = quotient(pre, product(out, 0, k));
      if (q == null) {
        break; // the leading axes only grow from here
      }
      best = k;
      tile = q;
    }
    if (best < 0) {
      return null;
    }
    Dim rest = quotient(out.dim(best), tile);
    if (rest == null || !rest.isKnown()) {
      return null;
    }
    return new Placement(best, tile, rest.get());
  }

  /**
   * How many elements of axis {@code p.axis()} each of {@code positions} channel positions spans
   * when its block of {@code post} elements ends on that axis: {@code post / product(out after the
   * axis)}; -1 when that is not a whole number, or the axis does not hold exactly the positions
   * times it.
   */
  static long repeat(Shape out, Placement p, long positions, Dim post) {
    Dim r = quotient(post, product(out, p.axis() + 1, out.rank()));
    if (r == null || !r.isKnown() || r.get() < 1 || p.size() != positions * r.get()) {
      return -1;
    }
    return r.get();
  }

  /**
   * The sizes of the output axes {@code p.axis(), p.axis() + 1, ...} that split {@code positions}
   * channel positions whose blocks are {@code post} elements (the first is {@code p.size()}); null
   * when the axes do not split them exactly or the block does not end with the last of them.
   */
  static long[] factors(Shape out, Placement p, long positions, Dim post) {
    List<Long> f = new ArrayList<>();
    long prod = p.size();
    f.add(prod);
    int k = p.axis() + 1;
    while (prod < positions && k < out.rank()) {
      if (!out.dim(k).isKnown()) {
        return null;
      }
      prod *= out.dim(k).get();
      f.add(out.dim(k).get());
      k++;
    }
    if (prod != positions || f.size() < 2 || !same(post, product(out, k, out.rank()))) {
      return null;
    }
    return f.stream().mapToLong(Long::longValue).toArray();
  }

  private static final int LOOKAHEAD = 16;

  /**
   * True when axis {@code axis} of {@code v} becomes a batch axis of a MatMul of two
   * activations (attention's {@code q . k^T} or {@code p . v}) within a few nodes, following it
   * through Transpose, Squeeze, Unsqueeze, Gather on other axes, Expand, Reshapes that keep what
   * precedes it, and elementwise ops and Softmax: then the axis is attention's head axis.
   */
  static boolean reachesAttentionBatchAxis(Value v, int axis) {
    return reaches(v, axis, LOOKAHEAD);
  }

  private static boolean reaches(Value v, int axis, int depth) {
    if (v == null || depth == 0 || axis < 0) {
      return false;
    }
    Shape s = v.shape();
    if (s == null || axis >= s.rank()) {
      return false;
    }
    for (Use u : v.uses()) {
      Node n = u.node();
      Value out = n.outputCount() > 0 ? n.output(0) : null;
      int next = follow(n, u.index(), s, axis);
      if (n.is("MatMul") && n.inputCount() == 2 && Analyzer.constant(n.input(0)) == null
          && Analyzer.constant(n.input(1)) == null && Analyzer.matMulWeight(n) == null) {
        if (axis < s.rank() - 2) {
          return true;
        }
        continue;
      }
      if (next >= 0 && reaches(out, next, depth - 1)) {
        return true;
      }
    }
    return false;
  }

  /** Where axis {@code axis} of input {@code input} (shape {@code s}) of {@code n} goes in its output 0; -1 when lost. */
  private static int follow(Node n, int input, Shape s, int axis) {
    Value out = n.outputCount() > 0 ? n.output(0) : null;
    Shape os = out == null ? null : out.shape();
    if (os == null) {
      return -1;
    }
    switch (n.opType()) {
      case "Transpose" -> {
        long[] perm = n.attrLongs("perm");
        for (int i = 0; perm != null && i < perm.length; i++) {
          if (perm[i] == axis) {
            return i;
          }
        }
        return perm == null ? s.rank() - 1 - axis : -1;
      }
      case "Gather" -> {
        int ga = ChannelRules.normAxis(n, "axis", n.attrLong("axis", 0), s.rank());
        Shape is = n.input(1) == null ? null : n.input(1).shape();
        if (input != 0 || ga == axis || is == null) {
          return -1;
        }
        return ga < axis ? axis - 1 + is.rank() : axis;
      }
      case "Reshape" -> {
        if (input != 0) {
          return -1;
        }
        // the axis keeps its place in the layout, maybe merged with axes after it (repeated heads)
        Placement p = place(os, product(s, 0, axis));
        return p != null && p.tile().isKnown() && p.tile().get() == 1 && s.dim(axis).isKnown()
            && p.size() % s.dim(axis).get() == 0 ? p.axis() : -1;
      }
      case "Squeeze", "Unsqueeze", "Expand", "Add", "Sub", "Mul", "Div", "Where", "Softmax", "Cast", "Identity",
          "Dropout" -> {
        if (os.rank() == s.rank() && same(os.dim(axis), s.dim(axis))) {
          return axis;
        }
        int shifted = axis + os.rank() - s.rank();
        if (n.is("Unsqueeze") || n.is("Squeeze")) {
          // find the axis of the same size nearest to where it was
          for (int d = Math.max(0, Math.min(axis, shifted)); d <= Math.max(axis, shifted) && d < os.rank(); d++) {
            if (same(os.dim(d), s.dim(axis))) {
              return d;
            }
          }
          return -1;
        }
        return shifted >= 0 && shifted < os.rank() && same(os.dim(shifted), s.dim(axis)) ? shifted : -1;
      }
      default -> {
        return -1;
      }
    }
  }
}
