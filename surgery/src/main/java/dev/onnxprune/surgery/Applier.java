package dev.onnxprune.surgery;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.nio.ByteBuffer;
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
  final java.util.List<ChannelRules.Slice.DynamicCheck> dynamicChecks = new java.util.ArrayList<>();

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
    Tensor t = Analyzer.constant(n.input(i));
    if (t == null) {
      throw new GraphException(n.describe() + " input " + i + " '" + n.input(i).name() + "' is not a constant");
    }
    if (t.dim(axis) != rm.length) {
      throw new GraphException(n.describe() + " input " + i + " '" + n.input(i).name() + "' has " + t.dim(axis)
          + " entries on axis " + axis + ", the channel map has " + rm.length);
    }
    replaceConstant(n, i, slice(t, axis, rm));
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
    ByteBuffer src = t.buffer();
    byte[] out = new byte[Math.toIntExact(outer * keep * inner)];
    int block = Math.toIntExact(inner);
    int o = 0;
    for (long a = 0; a < outer; a++) {
      for (int c = 0; c < rm.length; c++) {
        if (!rm[c]) {
          int from = Math.toIntExact((a * rm.length + c) * inner);
          src.get(from, out, o, block);
          o += block;
        }
      }
    }
    dims[axis] = keep;
    ByteString bytes = UnsafeByteOperations.unsafeWrap(out);
    return Tensor.ofRaw(t.dataType(), dims, bytes);
  }
}
