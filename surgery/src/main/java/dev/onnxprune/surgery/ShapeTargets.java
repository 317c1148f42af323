package dev.onnxprune.surgery;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.SymbolicDims;
import java.util.ArrayList;
import java.util.List;

/**
 * New shape operands for Reshape and Expand nodes whose sizes a plan changes and whose operand
 * is computed at run time. Exporters compute them from Shape chains that read other sizes (the
 * hidden width of the tensor before the q projection) and constants (the head count), so after
 * pruning they would compute the old sizes; instead the operand is rebuilt from the sizes the node
 * now has: known sizes as constants, a Reshape's {@code 0} where a size is copied from the same
 * input axis, its {@code -1} for one size it can infer (a batch times the kept heads), and a size
 * read from the input's shape at run time for a symbol found on another input axis (a sequence
 * length); an Expand's {@code 1} where it keeps the input's size.
 */
final class ShapeTargets {
  private ShapeTargets() {}

  /**
   * False when the constant target of Reshape {@code n} copies (entry 0) an input size that
   * pruning changes into another place than where the channels go ({@code outAxis}), so that the
   * copy would be wrong after pruning; true otherwise (also for targets computed at run time,
   * which are rebuilt).
   */
  static boolean copiesAreKept(Node n, Shape in, int outAxis, int inAxis) {
    Tensor t = Analyzer.constant(n.input(1));
    if (t == null || n.attrLong("allowzero", 0) != 0) {
      return true;
    }
    long[] target = t.toLongArray();
    if (outAxis < target.length && target[outAxis] == 0 && outAxis != inAxis) {
      return false;
    }
    return !(inAxis < target.length && target[inAxis] == 0 && outAxis != inAxis);
  }

  /**
   * True when the run-time operand {@code v} is computed from a Shape (or Size) of a value that
   * loses channels: it would compute the old sizes, or sizes derived from the new ones that the
   * node does not want (the head_dim as the hidden width over the head count).
   */
  static boolean readsPrunedSizes(Value v, Applier p) {
    java.util.ArrayDeque<Value> work = new java.util.ArrayDeque<>(List.of(v));
    java.util.Set<Value> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    while (!work.isEmpty() && seen.size() < 256) {
      Value x = work.pop();
      Node n = x.producer();
      if (n == null || !seen.add(x)) {
        continue;
      }
      if (n.is("Shape") || n.is("Size")) {
        if (p.removedPositions(n.input(0)) != null) {
          return true;
        }
        continue;
      }
      for (Value in : n.inputs()) {
        if (in != null) {
          work.push(in);
        }
      }
    }
    return false;
  }

  /** Ops through which sizes are computed; their outputs are followed. */
  private static final java.util.Set<String> ARITHMETIC = java.util.Set.of("Gather", "Unsqueeze", "Squeeze", "Concat",
      "Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Where", "Identity", "Reshape", "Slice", "Neg", "Abs");

  /** Ops that take sizes as their shape operands (after input 0) and follow the pruned ones. */
  private static final java.util.Set<String> SIZED = java.util.Set.of("Reshape", "Expand", "Slice", "Pad", "Resize",
      "Tile", "Range", "ConstantOfShape", "Split", "TopK", "OneHot");

  /**
   * Sizes read from channel axes that lose channels (Shape of a pruned tensor, then arithmetic)
   * and used as values, not as shapes: a hand-written attention scales its scores by
   * {@code sqrt(C / heads)} with {@code C} the hidden width read at run time, which must stay the
   * head_dim when the hidden width shrinks. Each such use is given the constant the original model
   * computes there (the exact reference computes with the original sizes too). Uses as shape
   * operands are left to the rules that rewrite them.
   *
   * @return how many uses were frozen
   */
  static int freezeSizesUsedAsValues(dev.onnxprune.graph.Graph g, Applier p) {
    int frozen = 0;
    java.util.ArrayDeque<Value> work = new java.util.ArrayDeque<>();
    for (Node n : g.nodes()) {
      if ((n.is("Shape") || n.is("Size")) && p.removedPositions(n.input(0)) != null) {
        work.add(n.output(0));
      }
    }
    java.util.Set<Value> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    while (!work.isEmpty()) {
      Value v = work.pop();
      if (!seen.add(v)) {
        continue;
      }
      for (dev.onnxprune.graph.Use u : List.copyOf(v.uses())) {
        Node c = u.node();
        boolean integer = c.outputCount() > 0 && c.output(0) != null && c.output(0).tensorType() != null
            && isInteger(c.output(0).tensorType().elemType());
        if ((ARITHMETIC.contains(c.opType()) || (c.is("Cast") && integer)) && integer) {
          work.add(c.output(0));
        } else if (!(SIZED.contains(c.opType()) && u.index() > 0) && !c.is("Shape") && !c.is("Size")) {
          long[] data = p.analysis.state.shapes.constantOf(v);
          if (data != null && v.tensorType() != null && v.tensorType().shape() != null) {
            Tensor t = Tensor.ofLongs(v.tensorType().shape().toArray(), data);
            if (v.tensorType().elemType() == dev.onnxprune.graph.DataType.INT32) {
              t = Tensor.ofInts(t.dims(), java.util.Arrays.stream(data).mapToInt(Math::toIntExact).toArray());
            }
            c.replaceInput(u.index(), g.addInitializer(g.uniqueName(v.name() + "_original"), t));
            frozen++;
          }
        }
      }
    }
    return frozen;
  }

  private static boolean isInteger(dev.onnxprune.graph.DataType t) {
    return switch (t) {
      case INT64, INT32, INT16, INT8, UINT64, UINT32, UINT16, UINT8 -> true;
      default -> false;
    };
  }

  /** Positions the map {@code m} keeps along its axis (tile times kept ids; the tile must be known). */
  static long newSize(Applier p, ChannelMap m) {
    long kept = p.keptPositions(m);
    if (!m.tile().isKnown()) {
      throw new IllegalStateException("a constant size for a symbolic tile " + m);
    }
    return kept * m.tile().get();
  }

  /** {@code v}'s shape after pruning: its channel axes hold the kept positions. */
  static Shape prunedShape(Applier p, Value v) {
    Shape s = v.shape();
    ChannelMap m = p.map(v);
    if (s == null || m == null) {
      return s;
    }
    long kept = p.keptPositions(m);
    if (m.span() == 2) {
      long g = m.dims()[0];
      return s.with(m.axis() + 1, Dim.of(kept / g));
    }
    return s.with(m.axis(), SymbolicDims.multiply(m.tile(), Dim.of(kept)));
  }

  /** Replaces the run-time target of Reshape {@code n} by one for the pruned shapes; leaves it when none can be built. */
  static void rewriteReshape(Node n, Applier p) {
    Shape in = prunedShape(p, n.input(0));
    Shape out = prunedShape(p, n.output(0));
    if (in == null || out == null) {
      return;
    }
    boolean allowZero = n.attrLong("allowzero", 0) != 0;
    int rank = out.rank();
    // entries: a size (>= -1), or -2 - i to read input axis i at run time
    long[] entry = new long[rank];
    boolean[] open = new boolean[rank];
    int needInfer = 0;
    for (int j = 0; j < rank; j++) {
      Dim d = out.dim(j);
      if (d.isKnown()) {
        entry[j] = d.get();
      } else if (!allowZero && j < in.rank() && RowMajor.same(in.dim(j), d)) {
        entry[j] = 0;
      } else {
        int i = inputAxisOf(in, d);
        open[j] = true;
        entry[j] = i >= 0 ? -2 - i : Long.MIN_VALUE;
        if (i < 0) {
          needInfer++;
        }
      }
    }
    if (needInfer > 1) {
      return; // the sizes cannot be expressed; the run-time target stays
    }
    for (int j = 0; j < rank; j++) {
      if (open[j] && (entry[j] == Long.MIN_VALUE || needInfer == 0)) {
        entry[j] = -1;
        needInfer = 1;
        break;
      }
    }
    n.replaceInput(1, build(n, entry, "_target"));
  }

  /**
   * Replaces the run-time shape of Expand {@code n} by one for the pruned shapes (1 where it
   * keeps the input's size); leaves it when a size cannot be expressed.
   */
  static void rewriteExpand(Node n, Applier p) {
    Shape in = prunedShape(p, n.input(0));
    Shape out = prunedShape(p, n.output(0));
    if (in == null || out == null) {
      return;
    }
    int shift = out.rank() - in.rank();
    long[] entry = new long[out.rank()];
    for (int j = 0; j < out.rank(); j++) {
      Dim d = out.dim(j);
      Dim src = j >= shift ? in.dim(j - shift) : Dim.of(1);
      if (RowMajor.same(src, d) || (j >= shift && d.isSymbolic() && RowMajor.same(src, d))) {
        entry[j] = 1;
      } else if (d.isKnown()) {
        entry[j] = d.get();
      } else {
        return;
      }
    }
    n.replaceInput(1, build(n, entry, "_shape"));
  }

  private static int inputAxisOf(Shape in, Dim d) {
    if (!d.isSymbolic()) {
      return -1;
    }
    for (int i = 0; i < in.rank(); i++) {
      if (RowMajor.same(in.dim(i), d)) {
        return i;
      }
    }
    return -1;
  }

  /** A constant INT64 vector of {@code entry}, or, when some entries read input sizes, a Shape-Gather-Concat chain. */
  private static Value build(Node n, long[] entry, String suffix) {
    Graph g = n.graph();
    String base = n.output(0).name() + suffix;
    boolean reads = false;
    for (long e : entry) {
      reads |= e <= -2;
    }
    if (!reads) {
      return g.addInitializer(g.uniqueName(base), Tensor.vector(entry));
    }
    Value shape = g.addNodeBefore(n, "Shape", g.uniqueNodeName(base + "_shape"), List.of(n.input(0)),
        List.of(g.uniqueName(base + "_shape"))).output(0);
    List<Value> pieces = new ArrayList<>();
    for (long e : entry) {
      if (e <= -2) {
        Value idx = g.addInitializer(g.uniqueName(base + "_axis"), Tensor.vector(-2 - e));
        pieces.add(g.addNodeBefore(n, "Gather", g.uniqueNodeName(base + "_gather"), List.of(shape, idx),
            List.of(g.uniqueName(base + "_size")), Attribute.of("axis", 0L)).output(0));
      } else {
        pieces.add(g.addInitializer(g.uniqueName(base + "_const"), Tensor.vector(e)));
      }
    }
    return g.addNodeBefore(n, "Concat", g.uniqueNodeName(base + "_concat"), pieces, List.of(g.uniqueName(base)),
        Attribute.of("axis", 0L)).output(0);
  }
}
