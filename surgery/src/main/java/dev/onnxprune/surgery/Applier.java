package dev.onnxprune.surgery;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.BitSet;

/**
 * State of applying a prune plan: which channel ids go, and the edits rules use to slice
 * parameters. Parameters shared with other nodes (directly or through Identity, as exporters
 * merge equal tensors) are copied before slicing, so other users keep theirs.
 */
final class Applier {
  final ChannelAnalysis analysis;
  final BitSet removed;
  /** Slices with run-time bounds, to check once shapes are inferred on the pruned model. */
  final java.util.List<IndexRules.Slice.DynamicCheck> dynamicChecks = new java.util.ArrayList<>();

  Applier(ChannelAnalysis analysis, BitSet removed) {
    this.analysis = analysis;
    this.removed = removed;
  }

  ChannelMap map(Value v) {
    return analysis.state.map(v);
  }

  /** Per position of {@code v}'s channel map: true when removed; null when nothing is removed. */
  boolean[] removedPositions(Value v) {
    ChannelMap m = map(v);
    if (m == null) {
      return null;
    }
    boolean[] rm = new boolean[m.length()];
    boolean any = false;
    for (int p = 0; p < rm.length; p++) {
      rm[p] = removed.get(m.ids()[p]);
      any |= rm[p];
    }
    return any ? rm : null;
  }

  /** Positions of {@code m} (along its axes, without the tile) whose channel is kept. */
  long keptPositions(ChannelMap m) {
    long k = 0;
    for (int id : m.ids()) {
      if (!removed.get(id)) {
        k++;
      }
    }
    return k;
  }

  static int kept(boolean[] rm) {
    int k = 0;
    for (boolean r : rm) {
      if (!r) {
        k++;
      }
    }
    return k;
  }

  static int count(boolean[] rm, int from, int to) {
    int c = 0;
    for (int p = from; p < to; p++) {
      if (rm[p]) {
        c++;
      }
    }
    return c;
  }

  /** Slices input {@code i} of {@code n} (a constant) along {@code axis}, dropping {@code rm} positions. */
  void sliceInput(Node n, int i, int axis, boolean[] rm) {
    if (rm == null || n.input(i) == null) {
      return;
    }
    String what = n.describe() + " input " + i + " '" + n.input(i).name() + "'";
    enqueue(n, i, t -> {
      if (t.dim(axis) != rm.length) {
        throw new GraphException(what + " has " + t.dim(axis) + " entries on axis " + axis + ", the channel map has "
            + rm.length);
      }
      return slice(t, axis, rm);
    });
  }

  private record Slot(Node node, int input) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Slot s && s.node == node && s.input == input;
    }

    @Override
    public int hashCode() {
      return System.identityHashCode(node) * 31 + input;
    }
  }

  /** Slices to make, per (node, input), composed in the order rules asked for them. */
  private final java.util.Map<Slot, java.util.function.UnaryOperator<Tensor>> pending = new java.util.LinkedHashMap<>();

  private void enqueue(Node n, int i, java.util.function.UnaryOperator<Tensor> slicing) {
    if (Analyzer.constant(n.input(i)) == null) {
      throw new GraphException(n.describe() + " input " + i + " '" + n.input(i).name() + "' is not a constant");
    }
    pending.merge(new Slot(n, i), slicing, (first, then) -> t -> then.apply(first.apply(t)));
  }

  /**
   * Makes the queued slices (in parallel: each reads one constant and builds a new one), then
   * points each node at its new constant.
   */
  void flush() {
    java.util.List<Slot> slots = new java.util.ArrayList<>(pending.keySet());
    Tensor[] made = new Tensor[slots.size()];
    java.util.stream.IntStream.range(0, slots.size()).parallel().forEach(k -> {
      Slot s = slots.get(k);
      made[k] = pending.get(s).apply(Analyzer.constant(s.node().input(s.input())));
    });
    for (int k = 0; k < made.length; k++) {
      replaceConstant(slots.get(k).node(), slots.get(k).input(), made[k]);
    }
    pending.clear();
  }

  /** Slices axes 0 and 1 of constant input {@code i} in one pass (either may be null: kept whole). */
  void sliceInput01(Node n, int i, boolean[] rm0, boolean[] rm1) {
    if (rm0 == null) {
      sliceInput(n, i, 1, rm1);
      return;
    }
    if (rm1 == null) {
      sliceInput(n, i, 0, rm0);
      return;
    }
    String what = n.describe() + " input " + i;
    enqueue(n, i, t -> {
      if (t.rank() < 2 || t.dim(0) != rm0.length || t.dim(1) != rm1.length) {
        throw new GraphException(what + " does not match the channel maps it is sliced by");
      }
      return slice01(t, rm0, rm1);
    });
  }

  /** A copy of {@code t} without positions {@code rm0} of axis 0 and {@code rm1} of axis 1, in one pass. */
  static Tensor slice01(Tensor t, boolean[] rm0, boolean[] rm1) {
    long[] dims = t.dims();
    int elem = t.dataType().bits() / 8;
    long inner = elem;
    for (int d = 2; d < dims.length; d++) {
      inner *= dims[d];
    }
    int block = Math.toIntExact(inner);
    int k0 = kept(rm0);
    int k1 = kept(rm1);
    dims[0] = k0;
    dims[1] = k1;
    if (elem == 4) {
      // 4-byte elements: each kept row of axis 0 read in one bulk copy, its kept runs picked from it
      java.nio.IntBuffer src = t.buffer().asIntBuffer();
      int per = block / 4;
      int[] dst = new int[k0 * k1 * per];
      int[] row = new int[rm1.length * per];
      int[] keptB = keptIndices(rm1);
      int q = 0;
      for (int a = 0; a < rm0.length; a++) {
        if (!rm0[a]) {
          src.get(a * row.length, row, 0, row.length);
          q = pick(row, keptB, per, dst, q);
        }
      }
      return Tensor.ofRaw(t.dataType(), dims, bytes(dst));
    }
    if (elem == 0 || t.dataType().bits() % 8 != 0) {
      throw new GraphException("cannot slice " + t + ": elements of " + t.dataType() + " are not whole bytes");
    }
    byte[] out = new byte[Math.toIntExact((long) k0 * k1 * inner)];
    int o = 0;
    for (int a = 0; a < rm0.length; a++) {
      if (rm0[a]) {
        continue;
      }
      for (int b = 0; b < rm1.length; b++) {
        if (!rm1[b]) {
          t.copyBytes(((long) a * rm1.length + b) * inner, out, o, block);
          o += block;
        }
      }
    }
    return Tensor.ofRaw(t.dataType(), dims, UnsafeByteOperations.unsafeWrap(out));
  }

  /** Appends runs {@code kept} (of {@code per} ints each) of {@code row} to {@code dst} at {@code q}; the new end. */
  private static int pick(int[] row, int[] kept, int per, int[] dst, int q) {
    if (per == 1) {
      for (int b : kept) {
        dst[q++] = row[b];
      }
      return q;
    }
    for (int b : kept) {
      System.arraycopy(row, b * per, dst, q, per);
      q += per;
    }
    return q;
  }

  private static int[] keptIndices(boolean[] rm) {
    int[] out = new int[kept(rm)];
    int k = 0;
    for (int i = 0; i < rm.length; i++) {
      if (!rm[i]) {
        out[k++] = i;
      }
    }
    return out;
  }

  private static ByteString bytes(int[] a) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(a.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(a);
    return UnsafeByteOperations.unsafeWrap(b.array());
  }

  /**
   * Points input {@code i} of {@code n} at a constant holding {@code t}: in place when the
   * initializer has no other user, else a new initializer (the old one stays for its users).
   */
  void replaceConstant(Node n, int i, Tensor t) {
    Value v = n.input(i);
    if (v.isInitializer() && v.graph() == n.graph() && v.uses().size() == 1 && !v.isGraphOutput()) {
      v.setInitializer(t);
      return;
    }
    String base = v.name();
    Value fresh = n.graph().addInitializer(n.graph().uniqueName(base), t);
    n.replaceInput(i, fresh);
  }

  /** A copy of {@code t} without the positions {@code rm} along {@code axis}. */
  static Tensor slice(Tensor t, int axis, boolean[] rm) {
    long[] dims = t.dims();
    int bits = t.dataType().bits();
    if (bits % 8 != 0 || bits == 0) {
      throw new GraphException("cannot slice " + t + ": elements of " + t.dataType() + " are not whole bytes");
    }
    int elem = bits / 8;
    long outer = 1;
    for (int d = 0; d < axis; d++) {
      outer *= dims[d];
    }
    long inner = elem;
    for (int d = axis + 1; d < dims.length; d++) {
      inner *= dims[d];
    }
    int keep = kept(rm);
    if (elem == 4) {
      java.nio.IntBuffer src = t.buffer().asIntBuffer();
      int per = Math.toIntExact(inner / 4);
      int[] dst = new int[Math.toIntExact(outer * keep * per)];
      int[] row = new int[rm.length * per];
      int[] kept = keptIndices(rm);
      int q = 0;
      for (long a = 0; a < outer; a++) {
        src.get(Math.toIntExact(a * row.length), row, 0, row.length);
        q = pick(row, kept, per, dst, q);
      }
      dims[axis] = keep;
      return Tensor.ofRaw(t.dataType(), dims, bytes(dst));
    }
    byte[] out = new byte[Math.toIntExact(outer * keep * inner)];
    int block = Math.toIntExact(inner);
    int o = 0;
    for (long a = 0; a < outer; a++) {
      for (int c = 0; c < rm.length; c++) {
        if (!rm[c]) {
          t.copyBytes((a * rm.length + c) * inner, out, o, block);
          o += block;
        }
      }
    }
    dims[axis] = keep;
    ByteString bytes = UnsafeByteOperations.unsafeWrap(out);
    return Tensor.ofRaw(t.dataType(), dims, bytes);
  }
}
