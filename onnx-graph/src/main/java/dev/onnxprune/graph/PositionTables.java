package dev.onnxprune.graph;

import java.util.Set;

/**
 * The position tables of a token model, which bound the sequence lengths it accepts: a constant
 * sliced up to a size read from an input's shape ({@code position_ids[:, :seq]}), or a constant
 * table gathered at positions from {@code Range} ({@code wpe(arange(seq))}).
 */
public final class PositionTables {
  private static final Set<String> PASS_THROUGH = Set.of("Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten",
      "Identity", "Expand", "Transpose");

  private PositionTables() {}

  /**
   * The rows of the smallest position table of {@code model} (the longest sequence every table
   * accepts), or -1 when it has none.
   */
  public static long smallest(Model model) {
    long best = -1;
    for (Node n : model.graph().nodes()) {
      long rows = -1;
      if (n.is("Slice") && n.inputCount() > 2) {
        Tensor data = constant(n.input(0));
        if (data != null && fromShape(n.input(2), 8)) {
          Tensor axes = n.inputCount() > 3 ? constant(n.input(3)) : null;
          long a = axes == null ? 0 : axes.toLongArray()[0];
          rows = data.rank() == 0 ? -1 : data.dim((int) (a < 0 ? a + data.rank() : a));
        }
      } else if (n.is("Gather") && fromRange(n.input(1))) {
        Tensor table = constant(n.input(0));
        rows = table == null || table.rank() == 0 ? -1 : table.dim(0);
      }
      if (rows > 0) {
        best = best < 0 ? rows : Math.min(best, rows);
      }
    }
    return best;
  }

  /** True when {@code v} is computed from a Shape (or Size) within {@code depth} nodes. */
  private static boolean fromShape(Value v, int depth) {
    Node p = v == null ? null : v.producer();
    if (p == null || depth == 0) {
      return false;
    }
    if (p.is("Shape") || p.is("Size")) {
      return true;
    }
    for (Value in : p.inputs()) {
      if (fromShape(in, depth - 1)) {
        return true;
      }
    }
    return false;
  }

  /** True when {@code v} comes from a Range, through the ops that pass indices on. */
  private static boolean fromRange(Value v) {
    for (int hops = 0; v != null && hops < 8; hops++) {
      Node p = v.producer();
      if (p == null) {
        return false;
      }
      if (p.is("Range")) {
        return true;
      }
      v = PASS_THROUGH.contains(p.opType()) ? p.input(0) : null;
    }
    return false;
  }

  /** The constant behind {@code v}: an initializer or Constant, through Identity nodes. */
  private static Tensor constant(Value v) {
    Value c = v == null ? null : v.behindIdentity();
    return c == null ? null : c.constantValue();
  }
}
