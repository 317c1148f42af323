package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Shape arithmetic shared by the rules: broadcasting and sliding-window output sizes. */
final class ShapeMath {
  private ShapeMath() {}

  /** The rank-0 shape. */
  static final Shape SCALAR = Shape.of(List.<Dim>of());

  /** Multidirectional (numpy) broadcast of {@code shapes}; fails on incompatible sizes. */
  static Shape broadcast(InferenceContext c, List<Shape> shapes) {
    int rank = 0;
    for (Shape s : shapes) {
      rank = Math.max(rank, s.rank());
    }
    List<Dim> out = new ArrayList<>(rank);
    for (int i = 0; i < rank; i++) {
      Dim d = Dim.of(1);
      for (Shape s : shapes) {
        int k = i - (rank - s.rank());
        if (k < 0) {
          continue;
        }
        Dim merged = broadcastDim(d, s.dim(k));
        if (merged == null) {
          throw c.fail("cannot broadcast shapes " + shapes + ": axis " + i + " has sizes " + d + " and " + s.dim(k));
        }
        d = merged;
      }
      out.add(d);
    }
    return Shape.of(out);
  }

  /**
   * One broadcast axis: 1 yields to the other size; equal sizes or equal symbols stay; a known
   * size other than 1 wins over a symbol or unknown (the model is only valid when they agree);
   * two different symbols, or an unknown against 1-or-symbol, are unknown. Null on a conflict.
   */
  static Dim broadcastDim(Dim a, Dim b) {
    if (a.isKnown() && a.get() == 1) {
      return plain(b);
    }
    if (b.isKnown() && b.get() == 1) {
      return plain(a);
    }
    if (a.isKnown() && b.isKnown()) {
      return a.get() == b.get() ? plain(a) : null;
    }
    if (a.isKnown()) {
      return plain(a);
    }
    if (b.isKnown()) {
      return plain(b);
    }
    if (a.isSymbolic() && b.isSymbolic() && a.param().equals(b.param())) {
      return plain(a);
    }
    return Dim.unknown();
  }

  /** {@code d} without its denotation. */
  static Dim plain(Dim d) {
    return d.denotation() == null ? d : new Dim(d.value(), d.param(), null);
  }

  /**
   * Output size of a sliding window with explicit pads (ONNX's auto_pad NOTSET):
   * {@code floor-or-ceil((in + padBegin + padEnd - ((kernel - 1) * dilation + 1)) / stride) + 1};
   * with {@code ceilMode}, a last window that would start in the end padding is dropped (ONNX
   * opset 19 spec note; ONNX Runtime and PyTorch do the same). A symbolic input size passes
   * through a stride-1 window whose pads make up for its extent (a 1x1 unpadded window, a 3x3
   * with pads 1), and is unknown otherwise.
   */
  static Dim window(InferenceContext c, Dim in, long kernel, long stride, long dilation, long padBegin, long padEnd,
      boolean ceilMode) {
    long effective = (kernel - 1) * dilation + 1;
    if (!in.isKnown()) {
      // stride 1 with pads that make up for the window ("same" convolutions): the size is kept
      return stride == 1 && padBegin + padEnd == effective - 1 ? plain(in) : Dim.unknown();
    }
    long numerator = in.get() + padBegin + padEnd - effective;
    if (numerator < 0) {
      throw c.fail("window of " + effective + " (kernel " + kernel + ", dilation " + dilation + ") exceeds padded input "
          + (in.get() + padBegin + padEnd));
    }
    long out = numerator / stride + 1;
    if (ceilMode) {
      out = Math.floorDiv(numerator + stride - 1, stride) + 1;
      if ((out - 1) * stride >= in.get() + padBegin) {
        out--;
      }
    }
    return Dim.of(out);
  }

  /** Output size with auto_pad SAME_UPPER/SAME_LOWER: {@code ceil(in / stride)}. */
  static Dim same(Dim in, long stride) {
    if (!in.isKnown()) {
      return stride == 1 ? plain(in) : Dim.unknown();
    }
    return Dim.of(Math.floorDiv(in.get() + stride - 1, stride));
  }

  /** Output size with auto_pad VALID: {@code floor((in - ((kernel - 1) * dilation + 1)) / stride) + 1}. */
  static Dim valid(InferenceContext c, Dim in, long kernel, long stride, long dilation) {
    return window(c, in, kernel, stride, dilation, 0, 0, false);
  }

  /**
   * Spatial output sizes of Conv and the pools from their attributes ({@code kernel_shape},
   * {@code strides}, {@code dilations}, {@code pads}, {@code auto_pad}, {@code ceil_mode}).
   */
  static List<Dim> spatial(InferenceContext c, Shape x, long[] kernel, boolean ceilMode, boolean dilationsAllowed) {
    int n = x.rank() - 2;
    if (kernel.length != n) {
      throw c.fail("kernel_shape " + Arrays.toString(kernel) + " does not match " + n + " spatial dims of input " + x);
    }
    long[] strides = c.attrLongs("strides", n, 1);
    long[] dilations = dilationsAllowed ? c.attrLongs("dilations", n, 1) : ones(n);
    long[] pads = c.attrLongs("pads", 2 * n, 0);
    String autoPad = c.node().attrString("auto_pad", "NOTSET");
    List<Dim> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      if (strides[i] < 1 || dilations[i] < 1 || kernel[i] < 1) {
        throw c.fail("kernel " + kernel[i] + ", stride " + strides[i] + " and dilation " + dilations[i] + " must be >= 1");
      }
      Dim in = x.dim(i + 2);
      out.add(switch (autoPad) {
        case "NOTSET", "" -> window(c, in, kernel[i], strides[i], dilations[i], pads[i], pads[i + n], ceilMode);
        case "SAME_UPPER", "SAME_LOWER" -> same(in, strides[i]);
        case "VALID" -> valid(c, in, kernel[i], strides[i], dilations[i]);
        default -> throw c.fail("unknown auto_pad '" + autoPad + "'");
      });
    }
    return out;
  }

  static long[] ones(int n) {
    long[] o = new long[n];
    Arrays.fill(o, 1);
    return o;
  }

  /** Dims {@code [from, to)} of {@code s}. */
  static List<Dim> dims(Shape s, int from, int to) {
    List<Dim> out = new ArrayList<>();
    for (int i = from; i < to; i++) {
      out.add(plain(s.dim(i)));
    }
    return out;
  }

  /** {@code s} without dimension denotations. */
  static Shape plain(Shape s) {
    return s == null ? null : Shape.of(dims(s, 0, s.rank()));
  }

  /** Sizes of a known shape, or fails naming what needed them. */
  static long[] known(InferenceContext c, Shape s, String what) {
    if (!s.isStatic()) {
      throw c.fail(what + " needs known sizes, got " + s);
    }
    return s.toArray();
  }
}
