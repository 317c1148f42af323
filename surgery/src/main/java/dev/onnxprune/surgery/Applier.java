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
    Slot slot = new Slot(n, i);
    boolean[][] axes01 = sliced01.get(slot);
    if (axis <= 1 && (axes01 != null ? axes01[axis] == null : !pending.containsKey(slot))) {
      // Axes 0 and 1 of one constant (a MatMul or Conv weight: its own outputs and its inputs)
      // are sliced in one pass, whichever rule asks first: two passes made the once-sliced
      // tensor as garbage (128 MB for an 8192 x 8192 weight) and read the weight twice.
      boolean[][] both = axes01 != null ? axes01 : new boolean[2][];
      both[axis] = rm;
      if (axes01 == null) {
        sliced01.put(slot, both);
        enqueue(n, i, t -> {
          for (int a = 0; a < 2; a++) {
            if (both[a] != null && (t.rank() <= a || t.dim(a) != both[a].length)) {
              throw new GraphException(what + " has " + (t.rank() <= a ? "no axis " + a : t.dim(a) + " entries on axis " + a)
                  + ", the channel map has " + both[a].length);
            }
          }
          return both[0] != null && both[1] != null ? slice01(t, both[0], both[1])
              : both[0] != null ? slice(t, 0, both[0]) : slice(t, 1, both[1]);
        });
      }
      return;
    }
    sliced01.remove(slot); // further slicings compose after it
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
  /** Slots whose queued slicing so far is exactly one slice of axis 0 and/or one of axis 1: rm per axis. */
  private final java.util.Map<Slot, boolean[][]> sliced01 = new java.util.HashMap<>();

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
    sliced01.clear();
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
      Tensor.Reader src = t.reader(); // external data: a window at a time, not the whole tensor
      int per = block / 4;
      // the kept elements go straight into the new tensor's bytes (no int[] copy of them)
      byte[] out = new byte[Math.toIntExact(4L * k0 * k1 * per)];
      java.nio.IntBuffer dst = java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
      int[] row = new int[rm1.length * per];
      int[] keptB = keptIndices(rm1);
      for (int a = 0; a < rm0.length; a++) {
        if (rm0[a]) {
          src.skip(row.length);
        } else {
          src.get(row, 0, row.length);
          pick(row, keptB, per, dst);
        }
      }
      return Tensor.ofRaw(t.dataType(), dims, UnsafeByteOperations.unsafeWrap(out));
    }
    if (elem == 0 || t.dataType().bits() % 8 != 0) {
      throw new GraphException("cannot slice " + t + ": elements of " + t.dataType() + " are not whole bytes");
    }
    byte[] out = new byte[Math.toIntExact((long) k0 * k1 * inner)];
    java.nio.ByteBuffer src = t.buffer(); // once: external data is read from its file per call
    int o = 0;
    for (int a = 0; a < rm0.length; a++) {
      if (rm0[a]) {
        continue;
      }
      for (int b = 0; b < rm1.length; b++) {
        if (!rm1[b]) {
          src.get(Math.toIntExact(((long) a * rm1.length + b) * inner), out, o, block);
          o += block;
        }
      }
    }
    return Tensor.ofRaw(t.dataType(), dims, UnsafeByteOperations.unsafeWrap(out));
  }

  /** Appends runs {@code kept} (of {@code per} ints each) of {@code row} to {@code dst}. */
  private static void pick(int[] row, int[] kept, int per, java.nio.IntBuffer dst) {
    if (per == 1) {
      for (int b : kept) {
        dst.put(row[b]);
      }
      return;
    }
    for (int b : kept) {
      dst.put(row, b * per, per);
    }
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
      Tensor.Reader src = t.reader(); // external data: a window at a time, not the whole tensor
      int per = Math.toIntExact(inner / 4);
      byte[] out = new byte[Math.toIntExact(4L * outer * keep * per)];
      java.nio.IntBuffer dst = java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
      int[] row = new int[rm.length * per];
      int[] kept = keptIndices(rm);
      for (long a = 0; a < outer; a++) {
        src.get(row, 0, row.length);
        pick(row, kept, per, dst);
      }
      dims[axis] = keep;
      return Tensor.ofRaw(t.dataType(), dims, UnsafeByteOperations.unsafeWrap(out));
    }
    byte[] out = new byte[Math.toIntExact(outer * keep * inner)];
    java.nio.ByteBuffer src = t.buffer(); // once: external data is read from its file per call
    int block = Math.toIntExact(inner);
    int o = 0;
    for (long a = 0; a < outer; a++) {
      for (int c = 0; c < rm.length; c++) {
        if (!rm[c]) {
          src.get(Math.toIntExact((a * rm.length + c) * inner), out, o, block);
          o += block;
        }
      }
    }
    dims[axis] = keep;
    ByteString bytes = UnsafeByteOperations.unsafeWrap(out);
    return Tensor.ofRaw(t.dataType(), dims, bytes);
  }
}
