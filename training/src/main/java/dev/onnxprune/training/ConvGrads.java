package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * Gradients of Conv and ConvTranspose (any spatial rank, strides, pads, dilations, groups incl.
 * depthwise).
 *
 * <p>Conv {@code y[n,m,o] = b[m] + sum_{c in group(m), k} w[m,c,k] x[n,c,o*s - pb + k*d]}:
 * <ol>
 *   <li>{@code db[m] = sum_{n,o} dy[n,m,o]};
 *   <li>{@code dx} is the adjoint of the convolution in x, which is ConvTranspose with the same
 *       weight, strides, pads, dilations and groups ({@code output_padding} restores the input size
 *       that the forward's floor division lost);
 *   <li>{@code dw[m,c,k] = sum_{n,o} dy[n,m,o] x[n,c,o*s - pb + k*d]}: the patches of x (im2col)
 *       are gathered with one {@code Gather} of precomputed flat indices from the padded input, laid
 *       out {@code [g, N*L, K*Cg]}, and contracted with dy laid out {@code [g, Mg, N*L]} in one
 *       batched {@code MatMul} (one GEMM per group, the batch folded into the contraction). The
 *       textbook form, a Conv of transposed x by transposed dy, ran about 4x slower than the
 *       forward in ONNX Runtime; see {@code bench/ConvGradBench}.
 * </ol>
 * ConvTranspose is the adjoint of Conv with the same attributes, so {@code dx = Conv(dy, w)} and
 * {@code dw} is the Conv weight gradient with the roles of x and dy exchanged.
 */
final class ConvGrads {
  private ConvGrads() {}

  /** Spatial geometry of a Conv or ConvTranspose, pads resolved from auto_pad/output_shape. */
  record Geometry(int group, long[] kernel, long[] strides, long[] dilations, long[] padsBegin, long[] padsEnd,
      long[] outputPadding) {}

  static void conv(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value w = n.input(1);
    Value b = n.input(2);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    long[] xd = ctx.dims(x);
    long[] yd = ctx.dims(y);
    long[] wd = ctx.staticDims(w, "the gradient of Conv");
    int r = xd.length - 2;
    long[] in = spatial(ctx, x, xd, r);
    long[] out = spatial(ctx, y, yd, r);
    long[] kernel = java.util.Arrays.copyOfRange(wd, 2, wd.length);
    int group = (int) n.attrLong("group", 1);
    long[] strides = GradContext.longs(n, "strides", GradContext.filled(r, 1));
    long[] dil = GradContext.longs(n, "dilations", GradContext.filled(r, 1));
    long[][] pads = convPads(n, in, kernel, strides, dil);
    if (ctx.needsGrad(b)) {
      ctx.addGrad(b, ctx.reduceSum(dy, spatialAndBatchAxes(r), false));
    }
    if (ctx.needsGrad(x)) {
      ctx.addGrad(x, convTransposeTo(ctx, dy, w, group, kernel, strides, dil, pads[0], out, in));
    }
    if (ctx.needsGrad(w)) {
      ctx.addGrad(w, weightGrad(ctx, x, dy, group, kernel, strides, dil, pads[0], in, out, wd[0], wd[1]));
    }
  }

  static void convTranspose(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value w = n.input(1);
    Value b = n.input(2);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    long[] xd = ctx.dims(x);
    long[] yd = ctx.dims(y);
    long[] wd = ctx.staticDims(w, "the gradient of ConvTranspose");
    int r = xd.length - 2;
    long[] in = spatial(ctx, x, xd, r);
    long[] out = spatial(ctx, y, yd, r);
    long[] kernel = java.util.Arrays.copyOfRange(wd, 2, wd.length);
    int group = (int) n.attrLong("group", 1);
    long[] strides = GradContext.longs(n, "strides", GradContext.filled(r, 1));
    long[] dil = GradContext.longs(n, "dilations", GradContext.filled(r, 1));
    long[] outPad = GradContext.longs(n, "output_padding", GradContext.filled(r, 0));
    long[][] pads = convTransposePads(n, in, out, kernel, strides, dil, outPad);
    if (ctx.needsGrad(b)) {
      ctx.addGrad(b, ctx.reduceSum(dy, spatialAndBatchAxes(r), false));
    }
    if (ctx.needsGrad(x)) {
      long[] p = concat(pads[0], pads[1]);
      ctx.addGrad(x, ctx.op("Conv", List.of(dy, w), Attribute.of("group", (long) group),
          Attribute.of("kernel_shape", kernel), Attribute.of("strides", strides), Attribute.of("dilations", dil),
          Attribute.of("pads", p)));
    }
    if (ctx.needsGrad(w)) {
      // y = ConvT(x, w) is the adjoint of Conv(., w): dw = Conv's weight gradient with input dy, output grad x.
      ctx.addGrad(w, weightGrad(ctx, dy, x, group, kernel, strides, dil, pads[0], out, in, wd[0], wd[1]));
    }
  }

  /**
   * {@code ConvTranspose(dy, w)} cropped or extended to the spatial size {@code target}: the
   * adjoint of a convolution with these attributes from an input of size {@code target}.
   */
  static Value convTransposeTo(GradContext ctx, Value dy, Value w, int group, long[] kernel, long[] strides,
      long[] dil, long[] padsBegin, long[] dySpatial, long[] target) {
    int r = kernel.length;
    long[] pe = new long[r];
    long[] op = new long[r];
    for (int i = 0; i < r; i++) {
      long full = (dySpatial[i] - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1;
      long rem = full - padsBegin[i] - target[i];
      if (rem >= 0) {
        pe[i] = rem;
      } else {
        op[i] = -rem;
      }
    }
    List<Attribute> attrs = new ArrayList<>(List.of(Attribute.of("group", (long) group),
        Attribute.of("kernel_shape", kernel), Attribute.of("strides", strides), Attribute.of("dilations", dil),
        Attribute.of("pads", concat(padsBegin, pe))));
    if (anyNonZero(op)) {
      attrs.add(Attribute.of("output_padding", op));
    }
    return ctx.op("ConvTranspose", List.of(dy, w), attrs.toArray(new Attribute[0]));
  }

  /**
   * The weight gradient of {@code Conv(input, w)} given the output gradient {@code outGrad}:
   * im2col of the padded input by one Gather, then one GEMM per group (see the class comment).
   *
   * @param outChannels M, the first weight dimension
   * @param inPerGroup Cg, the second weight dimension
   */
  static Value weightGrad(GradContext ctx, Value input, Value outGrad, int group, long[] kernel, long[] strides,
      long[] dil, long[] padsBegin, long[] inSpatial, long[] outSpatial, long outChannels, long inPerGroup) {
    int r = kernel.length;
    long mg = outChannels / group;
    long[] padsEnd = new long[r];
    long[] padded = new long[r];
    for (int i = 0; i < r; i++) {
      long need = (outSpatial[i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1;
      padsEnd[i] = Math.max(0, need - padsBegin[i] - inSpatial[i]);
      padded[i] = inSpatial[i] + padsBegin[i] + padsEnd[i];
    }
    long s = prod(padded);
    long l = prod(outSpatial);
    long k = prod(kernel);
    Value xp = input;
    if (anyNonZero(padsBegin) || anyNonZero(padsEnd)) {
      long[] pads = new long[2 * (r + 2)];
      for (int i = 0; i < r; i++) {
        pads[2 + i] = padsBegin[i];
        pads[r + 4 + i] = padsEnd[i];
      }
      xp = ctx.op("Pad", List.of(input, ctx.ints(pads)));
    }
    // [N, C, S] -> [g, N, S, Cg]
    Value xt = ctx.transpose(ctx.reshape(xp, -1, group, inPerGroup, s), 1, 0, 3, 2);
    long[] idx = patchIndices(padded, outSpatial, kernel, strides, dil);
    Value cols = isIdentity(idx, s) ? xt
        : ctx.op("Gather", List.of(xt, ctx.constant("im2col_indices", Tensor.vector(idx))), Attribute.of("axis", 2L));
    cols = ctx.reshape(cols, group, -1, k * inPerGroup); // [g, N*L, K*Cg]
    // [N, M, L] -> [g, Mg, N*L]
    Value dyt = ctx.reshape(ctx.transpose(ctx.reshape(outGrad, -1, group, mg, l), 1, 2, 0, 3), group, mg, -1);
    Value dw = ctx.op("MatMul", List.of(dyt, cols)); // [g, Mg, K*Cg]
    if (inPerGroup > 1) {
      dw = ctx.transpose(ctx.reshape(dw, outChannels, k, inPerGroup), 0, 2, 1);
    }
    long[] wShape = new long[r + 2];
    wShape[0] = outChannels;
    wShape[1] = inPerGroup;
    System.arraycopy(kernel, 0, wShape, 2, r);
    return ctx.reshape(dw, wShape);
  }

  /** Flat positions in the padded input of every (output position, kernel offset), output-major. */
  static long[] patchIndices(long[] padded, long[] out, long[] kernel, long[] strides, long[] dil) {
    int r = padded.length;
    long[] stride = new long[r];
    long acc = 1;
    for (int i = r - 1; i >= 0; i--) {
      stride[i] = acc;
      acc *= padded[i];
    }
    long l = prod(out);
    long k = prod(kernel);
    long[] idx = new long[Math.toIntExact(l * k)];
    long[] o = new long[r];
    long[] kk = new long[r];
    int p = 0;
    for (long li = 0; li < l; li++) {
      unravel(li, out, o);
      for (long ki = 0; ki < k; ki++) {
        unravel(ki, kernel, kk);
        long pos = 0;
        for (int i = 0; i < r; i++) {
          pos += (o[i] * strides[i] + kk[i] * dil[i]) * stride[i];
        }
        idx[p++] = pos;
      }
    }
    return idx;
  }

  private static void unravel(long flat, long[] dims, long[] out) {
    for (int i = dims.length - 1; i >= 0; i--) {
      out[i] = flat % dims[i];
      flat /= dims[i];
    }
  }

  private static boolean isIdentity(long[] idx, long size) {
    if (idx.length != size) {
      return false;
    }
    for (int i = 0; i < idx.length; i++) {
      if (idx[i] != i) {
        return false;
      }
    }
    return true;
  }

  /** Conv pads {begin, end}, resolving auto_pad from the static input size (ONNX Conv spec). */
  static long[][] convPads(Node n, long[] in, long[] kernel, long[] strides, long[] dil) {
    int r = in.length;
    String auto = n.attrString("auto_pad", "NOTSET");
    long[] pb = new long[r];
    long[] pe = new long[r];
    switch (auto) {
      case "NOTSET" -> {
        long[] pads = GradContext.longs(n, "pads", new long[2 * r]);
        System.arraycopy(pads, 0, pb, 0, r);
        System.arraycopy(pads, r, pe, 0, r);
      }
      case "VALID" -> { }
      case "SAME_UPPER", "SAME_LOWER" -> {
        for (int i = 0; i < r; i++) {
          long out = (in[i] + strides[i] - 1) / strides[i];
          long total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in[i]);
          long small = total / 2;
          pb[i] = auto.equals("SAME_UPPER") ? small : total - small;
          pe[i] = total - pb[i];
        }
      }
      default -> throw new GradientException(Messages.unsupported(n, "auto_pad '" + auto + "'"));
    }
    return new long[][] {pb, pe};
  }

  /** ConvTranspose pads {begin, end}: explicit, or from output_shape/auto_pad (ONNX ConvTranspose spec). */
  static long[][] convTransposePads(Node n, long[] in, long[] out, long[] kernel, long[] strides, long[] dil,
      long[] outPad) {
    int r = in.length;
    String auto = n.attrString("auto_pad", "NOTSET");
    long[] pb = new long[r];
    long[] pe = new long[r];
    if (auto.equals("NOTSET") && !n.hasAttribute("output_shape")) {
      long[] pads = GradContext.longs(n, "pads", new long[2 * r]);
      System.arraycopy(pads, 0, pb, 0, r);
      System.arraycopy(pads, r, pe, 0, r);
      return new long[][] {pb, pe};
    }
    if (auto.equals("VALID")) {
      return new long[][] {pb, pe};
    }
    for (int i = 0; i < r; i++) {
      long total = strides[i] * (in[i] - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1 - out[i];
      if (total < 0) {
        throw new GradientException(Messages.unsupported(n, "output_shape larger than the full transposed"
            + " convolution (negative total padding " + total + ")"));
      }
      if (auto.equals("SAME_UPPER")) {
        pb[i] = total / 2;
        pe[i] = total - total / 2;
      } else {
        pb[i] = total - total / 2;
        pe[i] = total / 2;
      }
    }
    return new long[][] {pb, pe};
  }

  static long[] spatial(GradContext ctx, Value v, long[] dims, int r) {
    long[] s = java.util.Arrays.copyOfRange(dims, 2, 2 + r);
    if (!GradContext.isStatic(s) || dims[1] < 0) {
      throw new GradientException(Messages.needsStaticShape(v, "the gradient of a convolution or pooling"));
    }
    return s;
  }

  static long[] spatialAndBatchAxes(int r) {
    long[] axes = new long[r + 1];
    for (int i = 1; i <= r; i++) {
      axes[i] = i + 1;
    }
    return axes;
  }

  static long[] concat(long[] a, long[] b) {
    long[] c = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  static boolean anyNonZero(long[] a) {
    for (long v : a) {
      if (v != 0) {
        return true;
      }
    }
    return false;
  }

  static long prod(long[] a) {
    long p = 1;
    for (long v : a) {
      p *= v;
    }
    return p;
  }
}
