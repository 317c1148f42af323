package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
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
 *       that the forward's floor division lost); with stride 1 (2') it is emitted as a Conv by the
 *       flipped, channel-swapped weight ({@link #inputGradByConv}), which ONNX Runtime runs faster;
 *   <li>{@code dw[m,c,k] = sum_{n,o} dy[n,m,o] x[n,c,o*s - pb + k*d]}: for each kernel offset k
 *       the patch {@code x[n, c, o*s - pb + k*d]} over all o is one strided {@code Slice} of the
 *       padded input laid out channels-last {@code [N, g, H, W, Cg]}, and one batched {@code
 *       MatMul} {@code [N, g, Mg, L] x [N, g, L, Cg]} contracts it with dy (a free reshape of
 *       {@code [N, M, Ho, Wo]}); the K products are concatenated and summed over N. No im2col
 *       matrix is built and dy is not transposed. Where a sample has no more output positions
 *       than a group has output channels ({@code L <= Mg}, the 7x7 stage of resnet20) the
 *       per-sample products would be larger than the patches, so the batch is folded into the
 *       contraction instead ({@code [g, Mg, N*L] x [g, N*L, Cg]}, dy transposed once). On
 *       resnet20's shapes this runs at about the forward's speed, where the textbook form (a Conv
 *       of transposed x by transposed dy) and an im2col by {@code Gather} ran 3.3x and 1.6x slower;
 *       see {@code bench/ConvGradBench}.
 * </ol>
 * ConvTranspose is the adjoint of Conv with the same attributes, so {@code dx = Conv(dy, w)} and
 * {@code dw} is the Conv weight gradient with the roles of x and dy exchanged.
 */
final class ConvGrads {
  private ConvGrads() {}

  /**
   * A Conv or ConvTranspose node as both gradient rules read it: operands, the output gradient,
   * static sizes (spatial {@code in} of x, {@code out} of y) and the attributes other than pads.
   */
  private static final class ConvNode {
    final Value x;
    final Value w;
    final Value b;
    final Value dy;
    final long[] wd;
    final int r;
    final long[] in;
    final long[] out;
    final long[] kernel;
    final int group;
    final long[] strides;
    final long[] dil;

    ConvNode(GradContext ctx, Node n) {
      x = n.input(0);
      w = n.input(1);
      b = n.input(2);
      Value y = n.output(0);
      dy = ctx.grad(y);
      long[] xd = ctx.dims(x);
      long[] yd = ctx.dims(y);
      wd = ctx.staticDims(w, "the gradient of " + n.opType());
      r = xd.length - 2;
      in = spatial(ctx, x, xd, r);
      out = spatial(ctx, y, yd, r);
      kernel = java.util.Arrays.copyOfRange(wd, 2, wd.length);
      group = (int) n.attrLong("group", 1);
      strides = GradContext.longs(n, "strides", GradContext.filled(r, 1));
      dil = GradContext.longs(n, "dilations", GradContext.filled(r, 1));
    }

    /** Rule 1, the same for both ops: db sums dy over the batch and spatial axes. */
    void biasGrad(GradContext ctx) {
      if (ctx.needsGrad(b)) {
        ctx.addGrad(b, ctx.reduceSum(dy, spatialAndBatchAxes(r), false));
      }
    }
  }

  static void conv(GradContext ctx, Node n) {
    ConvNode c = new ConvNode(ctx, n);
    long[][] pads = convPads(n, c.in, c.kernel, c.strides, c.dil);
    c.biasGrad(ctx);
    if (ctx.needsGrad(c.x)) {
      ctx.addGrad(c.x, byConv(c.strides, c.kernel, c.dil, pads)
          ? inputGradByConv(ctx, c.dy, c.w, c.wd, c.group, c.kernel, c.dil, pads)
          : convTransposeTo(ctx, c.dy, c.w, c.group, c.kernel, c.strides, c.dil, pads[0], c.out, c.in));
    }
    if (ctx.needsGrad(c.w)) {
      ctx.addGrad(c.w, weightGrad(ctx, c.x, c.dy, c.group, c.kernel, c.strides, c.dil, pads[0], c.in, c.out,
          c.wd[0], c.wd[1]));
    }
  }

  /** Stride 1 and pads of at most the dilated kernel extent: dx is a plain Conv (rule 2'). */
  private static boolean byConv(long[] strides, long[] kernel, long[] dil, long[][] pads) {
    for (int i = 0; i < strides.length; i++) {
      long reach = (kernel[i] - 1) * dil[i];
      if (strides[i] != 1 || pads[0][i] > reach || pads[1][i] > reach) {
        return false;
      }
    }
    return true;
  }

  /**
   * Rule 2' (stride 1): {@code dx[n,c,i] = sum_{m,k} w[m,c,K-1-k] dy[n,m,i + k*d - ((K-1)d - pb)]},
   * a Conv of dy by the weight with its channel axes swapped per group and its kernel flipped,
   * pads {@code (K-1)d - pb} and {@code (K-1)d - pe}. The same arithmetic as ConvTranspose, but
   * ONNX Runtime's CPU Conv runs it faster than its ConvTranspose (im2col and a threaded GEMM,
   * against a GEMM and a single-threaded col2im per image).
   */
  static Value inputGradByConv(GradContext ctx, Value dy, Value w, long[] wd, int group, long[] kernel, long[] dil,
      long[][] pads) {
    int r = kernel.length;
    long mg = wd[0] / group;
    long cg = wd[1];
    Value wt;
    if (group == 1) {
      long[] perm = GradContext.range(0, r + 2);
      perm[0] = 1;
      perm[1] = 0;
      wt = ctx.transpose(w, perm);
    } else if (mg == 1 || cg == 1) {
      // [g, Mg, Cg, k] -> [g, Cg, Mg, k] moves no data when one of the two is 1: a reshape
      long[] shape = new long[r + 2];
      shape[0] = group * cg;
      shape[1] = mg;
      System.arraycopy(kernel, 0, shape, 2, r);
      wt = ctx.reshape(w, shape);
    } else {
      long[] split = new long[r + 3];
      split[0] = group;
      split[1] = mg;
      split[2] = cg;
      System.arraycopy(kernel, 0, split, 3, r);
      long[] perm = GradContext.range(0, r + 3);
      perm[1] = 2;
      perm[2] = 1;
      long[] shape = new long[r + 2];
      shape[0] = group * cg;
      shape[1] = mg;
      System.arraycopy(kernel, 0, shape, 2, r);
      wt = ctx.reshape(ctx.transpose(ctx.reshape(w, split), perm), shape);
    }
    Value flipped = ctx.op("Slice", List.of(wt, ctx.ints(GradContext.filled(r, -1)),
        ctx.ints(GradContext.filled(r, Long.MIN_VALUE)), ctx.ints(GradContext.range(2, 2 + r)),
        ctx.ints(GradContext.filled(r, -1))));
    long[] p = new long[2 * r];
    for (int i = 0; i < r; i++) {
      long reach = (kernel[i] - 1) * dil[i];
      p[i] = reach - pads[0][i];
      p[r + i] = reach - pads[1][i];
    }
    return ctx.op("Conv", List.of(dy, flipped), Attribute.of("group", (long) group),
        Attribute.of("kernel_shape", kernel), Attribute.of("dilations", dil), Attribute.of("pads", p));
  }

  static void convTranspose(GradContext ctx, Node n) {
    ConvNode c = new ConvNode(ctx, n);
    long[] outPad = GradContext.longs(n, "output_padding", GradContext.filled(c.r, 0));
    long[][] pads = convTransposePads(n, c.in, c.out, c.kernel, c.strides, c.dil, outPad);
    c.biasGrad(ctx);
    if (ctx.needsGrad(c.x)) {
      long[] p = concat(pads[0], pads[1]);
      ctx.addGrad(c.x, ctx.op("Conv", List.of(c.dy, c.w), Attribute.of("group", (long) c.group),
          Attribute.of("kernel_shape", c.kernel), Attribute.of("strides", c.strides),
          Attribute.of("dilations", c.dil), Attribute.of("pads", p)));
    }
    if (ctx.needsGrad(c.w)) {
      // y = ConvT(x, w) is the adjoint of Conv(., w): dw = Conv's weight gradient with input dy, output grad x.
      ctx.addGrad(c.w, weightGrad(ctx, c.dy, c.x, c.group, c.kernel, c.strides, c.dil, pads[0], c.out, c.in,
          c.wd[0], c.wd[1]));
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
    long l = prod(outSpatial);
    long k = prod(kernel);
    // [N, C, S...] -> [N, g, S..., Cg]: channels last, so that each kernel offset's patch is one strided Slice;
    // padded after the transpose, where each padded row is S_last*Cg contiguous values (about 3x faster in ONNX
    // Runtime than padding NCHW rows), and ONNX Runtime's session rewrite can take this layout from the forward
    // Conv's ReorderInput when Cg is its block size (NchwcConvs.blockedPatches)
    long[] grouped = new long[r + 3];
    grouped[0] = -1;
    grouped[1] = group;
    grouped[2] = inPerGroup;
    System.arraycopy(inSpatial, 0, grouped, 3, r);
    // With few output positions per sample (L <= Mg, e.g. resnet20's 7x7 stage), the per-sample products
    // [Mg, Cg] would outweigh the patches, so the batch is folded into the contraction instead: [g, N, S..., Cg]
    // patches against dy as [g, Mg, N*L] (one transpose of dy), no per-sample products to concatenate and sum
    boolean fold = l <= mg;
    long[] perm = new long[r + 3];
    boolean groupsFirst = fold && group > 1; // with one group, [N, 1, ...] is already [1, N, ...] in memory
    perm[0] = groupsFirst ? 1 : 0;
    perm[1] = groupsFirst ? 0 : 1;
    for (int i = 0; i < r; i++) {
      perm[2 + i] = 3 + i;
    }
    perm[r + 2] = 2;
    Value xt = ctx.transpose(ctx.reshape(input, grouped), perm);
    if (anyNonZero(padsBegin) || anyNonZero(padsEnd)) {
      long[] pads = new long[2 * (r + 3)];
      for (int i = 0; i < r; i++) {
        pads[2 + i] = padsBegin[i];
        pads[r + 3 + 2 + i] = padsEnd[i];
      }
      xt = ctx.op("Pad", List.of(xt, ctx.ints(pads)));
    }
    Value dyr;
    if (!fold) {
      dyr = ctx.reshape(outGrad, -1, group, mg, l); // [N, g, Mg, L]: a view, no copy
    } else if (group == 1) {
      // [1, Mg, N*L]: a transpose of the two leading axes of [N, M, L] (whole rows move)
      dyr = ctx.reshape(ctx.transpose(ctx.reshape(outGrad, -1, mg, l), 1, 0, 2), 1, mg, -1);
    } else {
      // [g, Mg, N*L]
      dyr = ctx.reshape(ctx.transpose(ctx.reshape(outGrad, -1, group, mg, l), 1, 2, 0, 3), group, mg, -1);
    }
    long[] axes = GradContext.range(2, 2 + r);
    long[] kk = new long[r];
    List<Value> products = new ArrayList<>();
    for (long ki = 0; ki < k; ki++) {
      unravel(ki, kernel, kk);
      long[] starts = new long[r];
      long[] ends = new long[r];
      boolean whole = true;
      for (int i = 0; i < r; i++) {
        starts[i] = kk[i] * dil[i];
        ends[i] = starts[i] + (outSpatial[i] - 1) * strides[i] + 1;
        whole &= starts[i] == 0 && ends[i] == padded[i] && strides[i] == 1;
      }
      Value patch = whole ? xt
          : ctx.op("Slice", List.of(xt, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(strides)));
      // [N, g, Mg, L] x [N, g, L, Cg] -> [N, g, Mg, Cg], or folded [g, Mg, N*L] x [g, N*L, Cg] -> [g, Mg, Cg]
      products.add(ctx.op("MatMul", List.of(dyr, fold ? ctx.reshape(patch, group, -1, inPerGroup)
          : ctx.reshape(patch, -1, group, l, inPerGroup))));
    }
    // [K*N, g, Mg, Cg] (or [K*g, Mg, Cg]): along the first axis each product is one contiguous block
    Value cat = products.size() == 1 ? products.get(0) : ctx.op("Concat", products, Attribute.of("axis", 0L));
    Value dw = fold ? ctx.reshape(cat, k, outChannels * inPerGroup)
        : ctx.reduceSum(ctx.reshape(cat, k, -1, outChannels * inPerGroup), new long[] {1}, false); // [K, M*Cg]
    if (k > 1) {
      dw = ctx.transpose(dw, 1, 0);
    }
    long[] wShape = new long[r + 2];
    wShape[0] = outChannels;
    wShape[1] = inPerGroup;
    System.arraycopy(kernel, 0, wShape, 2, r);
    return ctx.reshape(dw, wShape);
  }

  private static void unravel(long flat, long[] dims, long[] out) {
    for (int i = dims.length - 1; i >= 0; i--) {
      out[i] = flat % dims[i];
      flat /= dims[i];
    }
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
