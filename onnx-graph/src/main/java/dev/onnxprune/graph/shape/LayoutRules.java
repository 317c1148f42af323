package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Ops that move or select elements: Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze,
 * Unsqueeze, Pad, Expand, Tile, DepthToSpace, SpaceToDepth. Known integer data passes through
 * the ones that keep element order (Reshape, Flatten, Squeeze, Unsqueeze) and is computed for
 * Concat and Slice of 1-D data.
 */
final class LayoutRules {
  private LayoutRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "Flatten", LayoutRules::flatten);
    OpRules.put(table, "Reshape", LayoutRules::reshape);
    OpRules.put(table, "Transpose", LayoutRules::transpose);
    OpRules.put(table, "Concat", LayoutRules::concat);
    OpRules.put(table, "Split", LayoutRules::split);
    OpRules.put(table, "Slice", LayoutRules::slice);
    OpRules.put(table, "Squeeze", LayoutRules::squeeze);
    OpRules.put(table, "Unsqueeze", LayoutRules::unsqueeze);
    OpRules.put(table, "Pad", LayoutRules::pad);
    OpRules.put(table, "Expand", LayoutRules::expand);
    OpRules.put(table, "Tile", LayoutRules::tile);
    OpRules.put(table, "DepthToSpace", c -> blocks(c, true));
    OpRules.put(table, "SpaceToDepth", c -> blocks(c, false));
  }

  /** [d0..dn) -> [d0*..*d(axis-1), d(axis)*..*d(n-1)]; axis defaults to 1, negative counts from the end. */
  static void flatten(InferenceContext c) {
    Shape x = c.requireShape(0);
    long a = c.node().attrLong("axis", 1);
    int axis = (int) (a < 0 ? a + x.rank() : a);
    if (axis < 0 || axis > x.rank()) {
      throw c.fail("axis " + a + " is out of range for rank " + x.rank());
    }
    Shape out = Shape.of(SymbolicDims.product(x.dims().subList(0, axis)),
        SymbolicDims.product(x.dims().subList(axis, x.rank())));
    c.setWithData(0, c.elemType(0), out, c.data(0));
  }

  /**
   * Target from the (possibly symbolic) data of input 1: 0 copies the input's dim at that index
   * (unless allowzero, opset 14+), -1 is what makes the element counts equal (exact symbolic
   * division, else unknown). When the target's data is unknown but its length is, the output
   * rank is known and its dims are not.
   */
  static void reshape(InferenceContext c) {
    Shape x = c.requireShape(0);
    List<Dim> target = c.data(1);
    if (target == null) {
      Shape ts = c.requireShape(1);
      if (ts.rank() != 1 || !ts.dim(0).isKnown()) {
        throw c.fail("shape input " + ts + " is neither known nor a vector of known length");
      }
      List<Dim> unknown = new ArrayList<>();
      for (long i = 0; i < ts.dim(0).get(); i++) {
        unknown.add(Dim.unknown());
      }
      c.set(0, c.elemType(0), Shape.of(unknown));
      return;
    }
    boolean allowZero = c.opset() >= 14 && c.node().attrLong("allowzero", 0) != 0;
    List<Dim> out = new ArrayList<>(target.size());
    int inferred = -1;
    for (int i = 0; i < target.size(); i++) {
      Dim t = target.get(i);
      if (t.isKnown() && t.get() == 0 && !allowZero) {
        if (i >= x.rank()) {
          throw c.fail("shape " + target + " copies dim " + i + " (0) of rank-" + x.rank() + " input " + x);
        }
        out.add(ShapeMath.plain(x.dim(i)));
      } else if (t.isKnown() && t.get() == -1) {
        if (inferred >= 0) {
          throw c.fail("shape " + target + " has more than one -1");
        }
        inferred = i;
        out.add(Dim.unknown());
      } else if (t.isKnown() && t.get() < 0) {
        throw c.fail("shape " + target + " has invalid size " + t.get());
      } else {
        out.add(ShapeMath.plain(t));
      }
    }
    Dim total = SymbolicDims.product(x.dims());
    if (inferred >= 0) {
      List<Dim> others = new ArrayList<>(out);
      others.remove(inferred);
      Dim rest = SymbolicDims.product(others);
      if (total.isKnown() && rest.isKnown() && (rest.get() == 0 || total.get() % rest.get() != 0)) {
        throw c.fail("cannot reshape " + x + " (" + total + " elements) to " + target + ": " + total
            + " is not a multiple of " + rest);
      }
      out.set(inferred, SymbolicDims.divide(total, rest));
    }
    Dim outTotal = SymbolicDims.product(out);
    if (total.isKnown() && outTotal.isKnown() && total.get() != outTotal.get()) {
      throw c.fail("cannot reshape " + x + " (" + total + " elements) to " + target + " (" + outTotal + " elements)");
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), c.data(0));
  }

  /** Permutes dims by {@code perm} (default: reversed). */
  static void transpose(InferenceContext c) {
    Shape x = c.requireShape(0);
    long[] perm = c.node().attrLongs("perm");
    int r = x.rank();
    if (perm == null) {
      perm = new long[r];
      for (int i = 0; i < r; i++) {
        perm[i] = r - 1 - i;
      }
    }
    if (perm.length != r) {
      throw c.fail("perm " + Arrays.toString(perm) + " does not match rank " + r);
    }
    boolean[] seen = new boolean[r];
    List<Dim> out = new ArrayList<>(r);
    for (long p : perm) {
      int a = c.axis(p, r);
      if (seen[a]) {
        throw c.fail("perm " + Arrays.toString(perm) + " is not a permutation");
      }
      seen[a] = true;
      out.add(ShapeMath.plain(x.dim(a)));
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), permuted(c.data(0), x, perm));
  }

  /**
   * The data of a small tensor of static shape {@code x} transposed by {@code perm}, or null when
   * the data or a size is unknown (exporters transpose pads as {@code [2, rank]} matrices).
   */
  private static List<Dim> permuted(List<Dim> data, Shape x, long[] perm) {
    int r = x.rank();
    if (data == null || r <= 1) {
      return data;
    }
    if (!x.isStatic()) {
      return null;
    }
    long[] dims = x.toArray();
    long[] inStride = new long[r];
    long stride = 1;
    for (int i = r - 1; i >= 0; i--) {
      inStride[i] = stride;
      stride *= dims[i];
    }
    if (stride != data.size()) {
      return null;
    }
    List<Dim> out = new ArrayList<>(data.size());
    long[] idx = new long[r];
    for (int k = 0; k < data.size(); k++) {
      long src = 0;
      for (int i = 0; i < r; i++) {
        src += idx[i] * inStride[(int) perm[i]];
      }
      out.add(data.get((int) src));
      for (int i = r - 1; i >= 0; i--) {
        if (++idx[i] < dims[(int) perm[i]]) {
          break;
        }
        idx[i] = 0;
      }
    }
    return out;
  }

  /** Sizes along {@code axis} add up; the other dims must agree. 1-D data is concatenated. */
  static void concat(InferenceContext c) {
    if (c.inputCount() == 0) {
      throw c.fail("Concat needs at least one input");
    }
    Shape first = c.requireShape(0);
    int r = first.rank();
    if (!c.node().hasAttribute("axis")) {
      throw c.fail("attribute axis is required");
    }
    int axis = c.axis(c.node().attrLong("axis", 0), r);
    List<Dim> out = ShapeMath.dims(first, 0, r);
    List<Dim> data = r == 1 ? new ArrayList<>() : null;
    for (int i = 0; i < c.inputCount(); i++) {
      Shape s = c.requireShape(i);
      if (s.rank() != r) {
        throw c.fail("input " + i + " " + s + " has rank " + s.rank() + ", input 0 " + first + " has " + r);
      }
      for (int k = 0; k < r; k++) {
        if (k == axis) {
          if (i > 0) {
            out.set(k, SymbolicDims.add(out.get(k), s.dim(k)));
          }
        } else {
          Dim merged = agree(out.get(k), s.dim(k));
          if (merged == null) {
            throw c.fail("input " + i + " " + s + " differs from " + first + " on axis " + k);
          }
          out.set(k, merged);
        }
      }
      List<Dim> d = c.data(i);
      if (data != null) {
        if (d == null) {
          data = null;
        } else {
          data.addAll(d);
        }
      }
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), data);
  }

  /** Two sizes that must be equal: the known one wins; null on a conflict. */
  private static Dim agree(Dim a, Dim b) {
    if (a.isKnown() && b.isKnown()) {
      return a.get() == b.get() ? a : null;
    }
    if (a.isKnown() || a.isSymbolic()) {
      return b.isKnown() ? ShapeMath.plain(b) : a;
    }
    return ShapeMath.plain(b);
  }

  /**
   * Sizes from {@code split} (attribute before opset 13, input 1 from 13); else
   * {@code num_outputs} (opset 18) or the output count: equal parts, the last one smaller when
   * the size does not divide (opset 18 semantics).
   */
  static void split(InferenceContext c) {
    Shape x = c.requireShape(0);
    int axis = c.axis(c.node().attrLong("axis", 0), x.rank());
    long[] sizes = c.opset() >= 13 ? c.intsOrNull(1) : c.node().attrLongs("split");
    int n = c.node().outputCount();
    Dim d = x.dim(axis);
    if (sizes != null && sizes.length > 0) {
      if (sizes.length != n) {
        throw c.fail("split " + Arrays.toString(sizes) + " has " + sizes.length + " sizes for " + n + " outputs");
      }
      long sum = Arrays.stream(sizes).sum();
      if (d.isKnown() && sum != d.get()) {
        throw c.fail("split " + Arrays.toString(sizes) + " sums to " + sum + ", axis " + axis + " of " + x + " has "
            + d.get());
      }
    } else {
      long parts = c.opset() >= 18 ? c.node().attrLong("num_outputs", n) : n;
      if (parts != n) {
        throw c.fail("num_outputs " + parts + " but " + n + " outputs");
      }
      sizes = null;
      if (d.isKnown()) {
        long chunk = (d.get() + n - 1) / n;
        sizes = new long[n];
        for (int i = 0; i < n; i++) {
          sizes[i] = Math.max(0, Math.min(chunk, d.get() - chunk * i));
        }
      }
    }
    for (int i = 0; i < n; i++) {
      c.set(i, c.elemType(0), x.with(axis, sizes == null ? Dim.unknown() : Dim.of(sizes[i])));
    }
  }

  /**
   * starts, ends, axes, steps from inputs 1-4 (opset 10+) or attributes (before 10). Per axis:
   * negative starts/ends count from the end; for step > 0 both clamp to [0, dim], for step < 0
   * start clamps to [0, dim-1] and end to [-1, dim-1]; size {@code max(0, ceil((end - start) /
   * step))}. A symbolic dim survives a full slice (start 0, end >= dim, step 1); otherwise it is
   * unknown. Bounds computed at run time keep the rank: {@code [0:end]} with step 1 and a symbolic
   * {@code end} (e.g. a position table sliced to the sequence length) is that symbol, as in every
   * run where the result fits what reads it; other run-time bounds make the axis unknown (all axes
   * when the axes are not known either). Known data of a static shape is sliced (any rank: exporters reverse pads as a {@code [rank, 2]} matrix).
   */
  static void slice(InferenceContext c) {
    Shape x = c.requireShape(0);
    List<Dim> starts;
    List<Dim> ends;
    long[] axes;
    long[] steps = null;
    if (c.opset() >= 10) {
      starts = c.data(1);
      ends = c.data(2);
      axes = c.has(3) && c.data(3) != null ? c.ints(3) : null;
      steps = c.has(4) && c.data(4) != null ? c.ints(4) : null;
      if ((c.has(3) && axes == null) || (c.has(4) && steps == null) || starts == null || ends == null) {
        // bounds, axes or steps computed at run time, beyond what shape data follows
        List<Dim> out = ShapeMath.dims(x, 0, x.rank());
        if (axes == null && c.has(3)) {
          out.replaceAll(d -> Dim.unknown());
        } else {
          int k = axes != null ? axes.length : starts != null ? starts.size() : ends != null ? ends.size() : x.rank();
          for (int i = 0; i < k; i++) {
            out.set(c.axis(axes == null ? i : axes[i], x.rank()), Dim.unknown());
          }
        }
        c.set(0, c.elemType(0), Shape.of(out));
        return;
      }
    } else {
      long[] s = c.node().attrLongs("starts");
      long[] e = c.node().attrLongs("ends");
      axes = c.node().attrLongs("axes");
      if (s == null || e == null) {
        throw c.fail("attributes starts and ends are required");
      }
      starts = Arrays.stream(s).mapToObj(Dim::of).toList();
      ends = Arrays.stream(e).mapToObj(Dim::of).toList();
    }
    int k = starts.size();
    if (ends.size() != k || (axes != null && axes.length != k) || (steps != null && steps.length != k)) {
      throw c.fail("starts " + starts + ", ends " + ends + ", axes " + Arrays.toString(axes) + " and steps "
          + Arrays.toString(steps) + " differ in length");
    }
    List<Dim> out = ShapeMath.dims(x, 0, x.rank());
    List<Dim> data = x.isStatic() ? c.data(0) : null;
    long[] first = new long[x.rank()];
    long[] stepOf = new long[x.rank()];
    Arrays.fill(stepOf, 1);
    for (int i = 0; i < k; i++) {
      int axis = c.axis(axes == null ? i : axes[i], x.rank());
      long step = steps == null ? 1 : steps[i];
      if (step == 0) {
        throw c.fail("step 0 on axis " + axis);
      }
      Dim d = x.dim(axis);
      Dim start = starts.get(i);
      Dim end = ends.get(i);
      if (!start.isKnown() || !end.isKnown()) {
        boolean prefix = step == 1 && start.isKnown() && start.get() == 0 && end.isSymbolic();
        out.set(axis, prefix ? ShapeMath.plain(end) : Dim.unknown());
        data = null;
        continue;
      }
      if (!d.isKnown()) {
        boolean whole = step == 1 && start.get() == 0 && end.get() >= Integer.MAX_VALUE;
        out.set(axis, whole ? ShapeMath.plain(d) : Dim.unknown());
        data = null;
        continue;
      }
      long[] range = clampedRange(d.get(), start.get(), end.get(), step);
      long size = Math.max(0, ceilDiv(range[1] - range[0], step));
      out.set(axis, Dim.of(size));
      first[axis] = range[0];
      stepOf[axis] = step;
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), data == null ? null : sliced(data, x.toArray(), out, first, stepOf));
  }

  /**
   * Elements {@code first[a] + j * step[a]} (j below the output size) of every axis of a small
   * tensor of sizes {@code dims}, row-major; null when an output size is not known.
   */
  private static List<Dim> sliced(List<Dim> data, long[] dims, List<Dim> out, long[] first, long[] step) {
    int r = dims.length;
    long total = 1;
    long[] sizes = new long[r];
    for (int i = 0; i < r; i++) {
      if (!out.get(i).isKnown()) {
        return null;
      }
      sizes[i] = out.get(i).get();
      total *= sizes[i];
    }
    long[] stride = new long[r];
    long s = 1;
    for (int i = r - 1; i >= 0; i--) {
      stride[i] = s;
      s *= dims[i];
    }
    if (s != data.size()) {
      return null;
    }
    List<Dim> result = new ArrayList<>((int) total);
    long[] idx = new long[r];
    for (long k = 0; k < total; k++) {
      long src = 0;
      for (int i = 0; i < r; i++) {
        src += (first[i] + idx[i] * step[i]) * stride[i];
      }
      result.add(data.get((int) src));
      for (int i = r - 1; i >= 0; i--) {
        if (++idx[i] < sizes[i]) {
          break;
        }
        idx[i] = 0;
      }
    }
    return result;
  }

  /** {start, end} after ONNX Slice's negative-index adjustment and clamping. */
  static long[] clampedRange(long dim, long start, long end, long step) {
    if (start < 0) {
      start += dim;
    }
    if (end < 0) {
      end += dim;
    }
    if (step > 0) {
      start = clamp(start, 0, dim);
      end = clamp(end, 0, dim);
    } else {
      start = clamp(start, 0, dim - 1);
      end = clamp(end, -1, dim - 1);
    }
    return new long[] {start, end};
  }

  private static long clamp(long v, long lo, long hi) {
    return Math.max(lo, Math.min(hi, v));
  }

  private static long ceilDiv(long a, long b) {
    return -Math.floorDiv(-a, b);
  }

  /** Removes the listed axes (attribute before opset 13, input 1 from 13), or every known 1 when none. */
  static void squeeze(InferenceContext c) {
    Shape x = c.requireShape(0);
    long[] axes = c.opset() >= 13 ? c.intsOrNull(1) : c.node().attrLongs("axes");
    boolean[] drop = new boolean[x.rank()];
    if (axes == null || axes.length == 0) {
      for (int i = 0; i < x.rank(); i++) {
        if (!x.dim(i).isKnown()) {
          throw c.fail("no axes given and dim " + i + " of " + x + " is not known, so it may or may not be 1");
        }
        drop[i] = x.dim(i).get() == 1;
      }
    } else {
      for (long a : axes) {
        int axis = c.axis(a, x.rank());
        if (x.dim(axis).isKnown() && x.dim(axis).get() != 1) {
          throw c.fail("cannot squeeze axis " + a + " of " + x + ": its size is " + x.dim(axis).get());
        }
        drop[axis] = true;
      }
    }
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      if (!drop[i]) {
        out.add(ShapeMath.plain(x.dim(i)));
      }
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), c.data(0));
  }

  /** Inserts size-1 axes at {@code axes} of the output (attribute before opset 13, input 1 from 13). */
  static void unsqueeze(InferenceContext c) {
    Shape x = c.requireShape(0);
    long[] axes = c.opset() >= 13 ? c.ints(1) : c.node().attrLongs("axes");
    if (axes == null) {
      throw c.fail("axes are required");
    }
    int r = x.rank() + axes.length;
    boolean[] inserted = new boolean[r];
    for (long a : axes) {
      int axis = c.axis(a, r);
      if (inserted[axis]) {
        throw c.fail("axes " + Arrays.toString(axes) + " repeat axis " + axis);
      }
      inserted[axis] = true;
    }
    List<Dim> out = new ArrayList<>(r);
    int k = 0;
    for (int i = 0; i < r; i++) {
      out.add(inserted[i] ? Dim.of(1) : ShapeMath.plain(x.dim(k++)));
    }
    c.setWithData(0, c.elemType(0), Shape.of(out), c.data(0));
  }

  /**
   * Each padded axis grows by its begin and end pads ({@code pads} attribute before opset 11,
   * input 1 from 11, restricted to input 3 {@code axes} from 18). Negative pads crop. Pads computed
   * at run time keep the rank, with those axes unknown.
   */
  static void pad(InferenceContext c) {
    Shape x = c.requireShape(0);
    int r = x.rank();
    List<Dim> pads;
    if (c.opset() >= 11) {
      if (!c.has(1)) {
        throw c.fail("pads are required");
      }
      pads = c.data(1);
    } else {
      long[] attr = c.node().attrLongs("pads");
      if (attr == null) {
        throw c.fail("pads are required");
      }
      pads = Arrays.stream(attr).mapToObj(Dim::of).toList();
    }
    long[] axes = c.opset() >= 18 ? c.intsOrNull(3) : null;
    int[] axisList = new int[axes == null ? r : axes.length];
    for (int i = 0; i < axisList.length; i++) {
      axisList[i] = axes == null ? i : c.axis(axes[i], r);
    }
    int n = axisList.length;
    List<Dim> out = ShapeMath.dims(x, 0, r);
    if (pads == null) {
      // pads computed at run time (e.g. up to a multiple of the stride): the rank stays
      for (int a : axisList) {
        out.set(a, Dim.unknown());
      }
      c.set(0, c.elemType(0), Shape.of(out));
      return;
    }
    if (pads.size() != 2 * n) {
      throw c.fail("pads " + pads + " needs " + 2 * n + " values for " + n + " axes");
    }
    for (int i = 0; i < n; i++) {
      if (!pads.get(i).isKnown() || !pads.get(i + n).isKnown()) {
        out.set(axisList[i], Dim.unknown());
        continue;
      }
      Dim grown = SymbolicDims.add(out.get(axisList[i]), pads.get(i).get() + pads.get(i + n).get());
      if (grown.isKnown() && grown.get() < 0) {
        throw c.fail("pads " + pads + " crop axis " + axisList[i] + " of " + x + " below 0");
      }
      out.set(axisList[i], grown);
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }

  /** Broadcast of the input's shape and the (possibly symbolic) shape data of input 1. */
  static void expand(InferenceContext c) {
    Shape x = c.requireShape(0);
    List<Dim> target = c.data(1);
    if (target == null) {
      throw c.fail(c.describeInput(1) + " (the shape) is not known");
    }
    c.set(0, c.elemType(0), ShapeMath.broadcast(c, List.of(x, Shape.of(target))));
  }

  /** Each dim times its repeat count (input 1). */
  static void tile(InferenceContext c) {
    Shape x = c.requireShape(0);
    long[] repeats = c.ints(1);
    if (repeats.length != x.rank()) {
      throw c.fail("repeats " + Arrays.toString(repeats) + " does not match rank " + x.rank());
    }
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      out.add(SymbolicDims.multiply(x.dim(i), Dim.of(repeats[i])));
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }

  /** DepthToSpace [N, C, H, W] -> [N, C/b^2, H*b, W*b]; SpaceToDepth the inverse. */
  static void blocks(InferenceContext c, boolean toSpace) {
    Shape x = c.requireShape(0);
    if (x.rank() != 4) {
      throw c.fail("input " + x + " must be 4-D");
    }
    Dim b = Dim.of(c.node().attrLong("blocksize", 0));
    Dim b2 = Dim.of(b.get() * b.get());
    Dim ch = toSpace ? SymbolicDims.divide(x.dim(1), b2) : SymbolicDims.multiply(x.dim(1), b2);
    Dim h = toSpace ? SymbolicDims.multiply(x.dim(2), b) : SymbolicDims.divide(x.dim(2), b);
    Dim w = toSpace ? SymbolicDims.multiply(x.dim(3), b) : SymbolicDims.divide(x.dim(3), b);
    c.set(0, c.elemType(0), Shape.of(ShapeMath.plain(x.dim(0)), ch, h, w));
  }
}
