package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * Gradients of the ops that move or select elements without arithmetic: each is the adjoint
 * of the selection.
 * <ol>
 *   <li>Identity, Dropout in inference: {@code dx = dy};
 *   <li>Dropout in training ({@code training_mode} true): {@code dx = dy * mask / (1 - ratio)};
 *   <li>Flatten, Reshape, Squeeze, Unsqueeze: {@code dx = Reshape(dy, shape(x))};
 *   <li>Transpose(perm): {@code dx = Transpose(dy, perm^-1)};
 *   <li>Concat(axis): {@code dx_i = Split(dy)_i} at the inputs' offsets;
 *   <li>Split(axis): {@code dx = Concat(dy_i)} (zeros for outputs the loss does not use);
 *   <li>Slice: dy placed back at the sliced positions in zeros: {@code Pad} for unit steps,
 *       {@code ScatterElements} along each axis with another step;
 *   <li>Pad (constant mode): {@code dx = Slice(dy)} of the unpadded region (re-padded where the pads
 *       were negative, i.e. cropped);
 *   <li>Expand: {@code dx = dy} summed over the axes x was broadcast along;
 *   <li>Gather(axis): dy added back at the gathered positions, {@code ScatterND} with {@code
 *       reduction="add"} into zeros shaped like x (the axis moved first and back by Transpose;
 *       repeated indices add up, negative ones count from the end);
 *   <li>Cast between floating-point types: {@code dx = Cast(dy)} back to x's type.
 * </ol>
 */
final class LayoutGrads {
  private LayoutGrads() {}

  static void identity(GradContext ctx, Node n) {
    ctx.addGrad(n.input(0), ctx.grad(n.output(0)));
  }

  static void dropout(GradContext ctx, Node n) {
    Value dy = ctx.grad(n.output(0));
    Value x = n.input(0);
    if (!isTraining(n)) {
      ctx.addGrad(x, dy);
      return;
    }
    Value mask = n.output(1);
    if (mask == null) {
      throw new GradientException(Messages.unsupported(n, "Dropout in training mode without its mask output"));
    }
    double ratio = ratio(n);
    ctx.addGrad(x, ctx.where(mask, ctx.mul(dy, ctx.scalarLike(1 / (1 - ratio), x)), x));
  }

  /** Turns Dropout on: its training_mode input becomes the constant true, and it outputs its mask. */
  static void toTraining(GradContext ctx, Node n) {
    Value on = ctx.constant("training_mode", Tensor.ofRaw(dev.onnxprune.graph.DataType.BOOL, new long[0],
        com.google.protobuf.ByteString.copyFrom(new byte[] {1})));
    while (n.inputCount() < 2) {
      n.addInput(null);
    }
    if (n.inputCount() < 3) {
      n.addInput(on);
    } else {
      n.replaceInput(2, on);
    }
    if (n.output(1) == null) {
      if (n.outputCount() > 1) {
        throw new GradientException(Messages.unsupported(n, "Dropout with an omitted mask output slot"));
      }
      Value mask = n.addOutput(ctx.g.uniqueName(n.output(0).name() + "_mask"));
      mask.setType(new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.BOOL,
          n.output(0).shape()));
    }
  }

  /** True when the Dropout's training_mode input is the constant true. */
  static boolean isTraining(Node n) {
    double[] t = GradContext.constantDoubles(n, 2);
    if (n.input(2) != null && t == null) {
      throw new GradientException(Messages.needsConstant(n, "training_mode input"));
    }
    return t != null && t[0] != 0;
  }

  static double ratio(Node n) {
    double[] r = GradContext.constantDoubles(n, 1);
    if (n.input(1) != null && r == null) {
      throw new GradientException(Messages.needsConstant(n, "ratio input"));
    }
    return r == null ? 0.5 : r[0];
  }

  static void reshapeLike(GradContext ctx, Node n) {
    Value x = n.input(0);
    ctx.addGrad(x, ctx.reshape(ctx.grad(n.output(0)), ctx.shapeOf(x)));
  }

  static void transpose(GradContext ctx, Node n) {
    int rank = ctx.rank(n.input(0));
    long[] perm = n.attrLongs("perm");
    if (perm == null) {
      perm = new long[rank];
      for (int i = 0; i < rank; i++) {
        perm[i] = rank - 1 - i;
      }
    }
    long[] inv = new long[rank];
    for (int i = 0; i < rank; i++) {
      inv[(int) perm[i]] = i;
    }
    ctx.addGrad(n.input(0), ctx.transpose(ctx.grad(n.output(0)), inv));
  }

  static void concat(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    int rank = ctx.rank(y);
    long axis = n.attrLong("axis", 0);
    axis = axis < 0 ? axis + rank : axis;
    int k = n.inputCount();
    if (k == 1) {
      ctx.addGrad(n.input(0), dy);
      return;
    }
    long[] sizes = new long[k];
    for (int i = 0; i < k; i++) {
      sizes[i] = ctx.dims(n.input(i))[(int) axis];
      if (sizes[i] < 0) {
        throw new GradientException(Messages.needsStaticShape(n.input(i), "the gradient of Concat along axis " + axis));
      }
    }
    Value[] parts = ctx.opN("Split", List.of(dy, ctx.ints(sizes)), k, Attribute.of("axis", axis));
    for (int i = 0; i < k; i++) {
      ctx.addGrad(n.input(i), parts[i]);
    }
  }

  static void split(GradContext ctx, Node n) {
    Value x = n.input(0);
    int rank = ctx.rank(x);
    long axis = n.attrLong("axis", 0);
    axis = axis < 0 ? axis + rank : axis;
    List<Value> parts = new ArrayList<>();
    for (Value out : n.outputs()) {
      Value g = out == null ? null : ctx.grad(out);
      parts.add(g != null ? g : ctx.zerosLike(out));
    }
    ctx.addGrad(x, parts.size() == 1 ? parts.get(0) : ctx.op("Concat", parts, Attribute.of("axis", axis)));
  }

  static void slice(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value g = ctx.grad(n.output(0));
    long[] xd = ctx.dims(x);
    int rank = xd.length;
    long[] starts = ctx.longs(n, 1, "starts input");
    long[] ends = ctx.longs(n, 2, "ends input");
    long[] axes = ctx.longs(n, 3, "axes input");
    long[] steps = ctx.longs(n, 4, "steps input");
    if (axes == null) {
      axes = GradContext.range(0, starts.length);
    }
    long[] pads = new long[2 * rank];
    boolean padded = false;
    for (int j = 0; j < starts.length; j++) {
      int a = (int) (axes[j] < 0 ? axes[j] + rank : axes[j]);
      long dim = xd[a];
      if (dim < 0) {
        throw new GradientException(Messages.needsStaticShape(x, "the gradient of Slice along axis " + a));
      }
      long step = steps == null ? 1 : steps[j];
      long start = starts[j] < 0 ? starts[j] + dim : starts[j];
      long end = ends[j] < 0 ? ends[j] + dim : ends[j];
      long len;
      if (step > 0) {
        start = clamp(start, 0, dim);
        end = clamp(end, 0, dim);
        len = Math.max(0, (end - start + step - 1) / step);
      } else {
        start = clamp(start, 0, dim - 1);
        end = clamp(end, -1, dim - 1);
        len = Math.max(0, (start - end - step - 1) / -step);
      }
      if (step == 1) {
        pads[a] = start;
        pads[rank + a] = dim - start - len;
        padded |= pads[a] != 0 || pads[rank + a] != 0;
        continue;
      }
      // Another step: scatter along this axis into zeros of the full size.
      long[] idxShape = GradContext.filled(rank, 1);
      idxShape[a] = len;
      long[] idx = new long[(int) len];
      for (int i = 0; i < len; i++) {
        idx[i] = start + i * step;
      }
      Value index = ctx.op("Expand", List.of(ctx.constant("slice_positions", Tensor.ofLongs(idxShape, idx)),
          ctx.op("Shape", List.of(g))));
      long[] grow = new long[2 * rank];
      grow[rank + a] = dim - len;
      Value zeros = ctx.op("Pad", List.of(ctx.mul(g, ctx.scalarLike(0, x)), ctx.ints(grow)));
      g = ctx.op("ScatterElements", List.of(zeros, index, g), Attribute.of("axis", (long) a));
    }
    if (padded) {
      g = ctx.op("Pad", List.of(g, ctx.ints(pads)));
    }
    ctx.addGrad(x, g);
  }

  static void pad(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    String mode = n.attrString("mode", "constant");
    if (!mode.equals("constant")) {
      throw new GradientException(Messages.unsupported(n, "Pad mode '" + mode + "' (only constant)"));
    }
    int rank = ctx.rank(x);
    long[] given = ctx.longs(n, 1, "pads input");
    long[] axes = ctx.longs(n, 3, "axes input");
    long[] pads = new long[2 * rank];
    if (axes == null) {
      pads = given;
    } else {
      for (int j = 0; j < axes.length; j++) {
        int a = (int) (axes[j] < 0 ? axes[j] + rank : axes[j]);
        pads[a] = given[j];
        pads[rank + a] = given[axes.length + j];
      }
    }
    long[] starts = new long[rank];
    long[] ends = new long[rank];
    long[] repad = new long[2 * rank];
    boolean crop = false;
    boolean slice = false;
    for (int a = 0; a < rank; a++) {
      long pb = pads[a];
      long pe = pads[rank + a];
      starts[a] = Math.max(pb, 0);
      ends[a] = pe > 0 ? -pe : Long.MAX_VALUE;
      slice |= pb > 0 || pe > 0;
      repad[a] = Math.max(-pb, 0);
      repad[rank + a] = Math.max(-pe, 0);
      crop |= pb < 0 || pe < 0;
    }
    Value g = dy;
    if (slice) {
      g = ctx.op("Slice", List.of(dy, ctx.ints(starts), ctx.ints(ends), ctx.ints(GradContext.range(0, rank))));
    }
    if (crop) {
      g = ctx.op("Pad", List.of(g, ctx.ints(repad)));
    }
    ctx.addGrad(x, g);
  }

  static void expand(GradContext ctx, Node n) {
    Value y = n.output(0);
    ctx.addGrad(n.input(0), ctx.sumTo(ctx.grad(y), y, n.input(0)));
  }

  static void cast(GradContext ctx, Node n) {
    Value x = n.input(0);
    if (!ctx.dtype(x).isFloatingPoint()) {
      return;
    }
    ctx.addGrad(x, ctx.op("Cast", List.of(ctx.grad(n.output(0))), Attribute.of("to", (long) ctx.dtype(x).code())));
  }

  static void gather(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value idx = n.input(1);
    Value dy = ctx.grad(n.output(0));
    long[] xd = ctx.dims(x);
    int r = xd.length;
    int q = ctx.rank(idx);
    long a0 = n.attrLong("axis", 0);
    int a = (int) (a0 < 0 ? a0 + r : a0);
    // dy is x[:a] + idx + x[a+1:]; ScatterND wants the index axes first: idx + x[:a] + x[a+1:]
    long[] toFront = new long[r + q - 1];
    int k = 0;
    for (int i = 0; i < q; i++) {
      toFront[k++] = a + i;
    }
    for (int i = 0; i < a; i++) {
      toFront[k++] = i;
    }
    for (int i = a + q; i < r + q - 1; i++) {
      toFront[k++] = i;
    }
    Value updates = ctx.transpose(dy, toFront);
    // zeros shaped like x with the axis first: x[a] + x[:a] + x[a+1:]
    long[] xPerm = new long[r];
    xPerm[0] = a;
    for (int i = 0; i < a; i++) {
      xPerm[i + 1] = i;
    }
    for (int i = a + 1; i < r; i++) {
      xPerm[i] = i;
    }
    Value shape;
    if (GradContext.isStatic(xd)) {
      long[] sd = new long[r];
      for (int i = 0; i < r; i++) {
        sd[i] = xd[(int) xPerm[i]];
      }
      shape = ctx.ints(sd);
    } else {
      shape = ctx.op("Gather", List.of(ctx.op("Shape", List.of(x)), ctx.ints(xPerm)));
    }
    Tensor zero = GradContext.tensorOf(ctx.dtype(x), new long[] {1}, new double[] {0});
    Value zeros = ctx.op("ConstantOfShape", List.of(shape), Attribute.of("value", zero));
    Value positions = idx;
    Tensor ic = idx.constantValue();
    if (ic != null && xd[a] >= 0) {
      long[] v = ic.toLongArray();
      for (int i = 0; i < v.length; i++) {
        v[i] = v[i] < 0 ? v[i] + xd[a] : v[i];
      }
      positions = ctx.constant("gather_positions", Tensor.ofLongs(ic.dims(), v));
    } else if (ic == null) {
      // negative indices count from the end: (i + size) mod size
      Value size = ctx.op("Gather", List.of(ctx.op("Shape", List.of(x)), ctx.constant("axis",
          Tensor.ofLongs(new long[0], new long[] {a}))));
      Value i64 = ctx.dtype(idx) == dev.onnxprune.graph.DataType.INT64 ? idx
          : ctx.op("Cast", List.of(idx), Attribute.of("to", (long) dev.onnxprune.graph.DataType.INT64.code()));
      positions = ctx.op("Mod", List.of(ctx.add(i64, size), size));
    }
    Value g = ctx.op("ScatterND", List.of(zeros, ctx.unsqueeze(positions, -1), updates),
        Attribute.of("reduction", "add"));
    if (a != 0) {
      long[] back = new long[r];
      for (int i = 0; i < r; i++) {
        back[(int) xPerm[i]] = i;
      }
      g = ctx.transpose(g, back);
    }
    ctx.addGrad(x, g);
  }

  private static long clamp(long v, long lo, long hi) {
    return Math.max(lo, Math.min(hi, v));
  }

}
