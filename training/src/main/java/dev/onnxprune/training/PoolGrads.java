package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.Arrays;
import java.util.List;

/**
 * Gradients of the pooling ops.
 * <ol>
 *   <li>MaxPool: dy goes to the input element each window picked. The node is given its
 *       {@code Indices} output (flat positions over N, C, H, W, padding not counted) and {@code dx =
 *       ScatterElements(zeros, indices, dy, reduction="add")}, so overlapping windows that pick
 *       the same element add up.
 *   <li>AveragePool: the adjoint of a windowed sum divided by the window count: {@code dx =
 *       ConvTranspose(dy / count, ones, group = C)} with the forward's strides and pads; the counts
 *       follow {@code count_include_pad} and {@code ceil_mode} as ONNX Runtime computes them.
 *   <li>GlobalAveragePool: {@code dx = dy / (H*W)} broadcast over the spatial axes.
 * </ol>
 */
final class PoolGrads {
  private PoolGrads() {}

  static void maxPool(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    if (n.attrLong("storage_order", 0) != 0) {
      throw new GradientException(Messages.unsupported(n, "MaxPool with storage_order=1 (column-major indices)"));
    }
    Value indices = n.output(1);
    if (indices == null) {
      if (n.outputCount() > 1) {
        throw new GradientException(Messages.unsupported(n, "MaxPool with an omitted Indices output slot"));
      }
      indices = n.addOutput(ctx.g.uniqueName(y.name() + "_indices"));
      indices.setType(new ValueType.TensorType(DataType.INT64, y.shape()));
    }
    long[] xd = ctx.dims(x);
    Value size = GradContext.isStatic(xd) ? ctx.ints(ConvGrads.prod(xd))
        : ctx.reshape(ctx.op("Size", List.of(x)), 1);
    Tensor zero = GradContext.tensorOf(ctx.dtype(x), new long[] {1}, new double[] {0});
    Value zeros = ctx.op("ConstantOfShape", List.of(size), Attribute.of("value", zero));
    Value scattered = ctx.op("ScatterElements", List.of(zeros, ctx.reshape(indices, -1), ctx.reshape(dy, -1)),
        Attribute.of("axis", 0L), Attribute.of("reduction", "add"));
    ctx.addGrad(x, ctx.reshape(scattered, ctx.shapeOf(x)));
  }

  static void averagePool(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    long[] xd = ctx.dims(x);
    int r = xd.length - 2;
    long[] in = ConvGrads.spatial(ctx, x, xd, r);
    long[] out = ConvGrads.spatial(ctx, y, ctx.dims(y), r);
    long[] kernel = n.attrLongs("kernel_shape");
    long[] strides = GradContext.longs(n, "strides", GradContext.filled(r, 1));
    long[] dil = GradContext.longs(n, "dilations", GradContext.filled(r, 1));
    for (long d : dil) {
      if (d != 1) {
        throw new GradientException(Messages.unsupported(n, "AveragePool with dilations " + Arrays.toString(dil)));
      }
    }
    long[][] pads = ConvGrads.convPads(n, in, kernel, strides, dil);
    boolean includePad = n.attrLong("count_include_pad", 0) != 0;
    long channels = xd[1];
    // 1 / (number of elements each output window averages), per output position
    long l = ConvGrads.prod(out);
    double[] inv = new double[(int) l];
    long[] o = new long[r];
    boolean uniform = true;
    for (int p = 0; p < l; p++) {
      long rest = p;
      for (int i = r - 1; i >= 0; i--) {
        o[i] = rest % out[i];
        rest /= out[i];
      }
      long count = 1;
      for (int i = 0; i < r; i++) {
        long start = o[i] * strides[i] - pads[0][i];
        long end = start + kernel[i];
        long lo = includePad ? -pads[0][i] : 0;
        long hi = includePad ? in[i] + pads[1][i] : in[i];
        count *= Math.max(0, Math.min(end, hi) - Math.max(start, lo));
      }
      inv[p] = count == 0 ? 0 : 1.0 / count;
      uniform &= inv[p] == inv[0];
    }
    DataType t = ctx.dtype(x);
    Value scale;
    if (uniform) {
      scale = ctx.scalar(inv[0], t);
    } else {
      long[] sd = new long[r + 2];
      Arrays.fill(sd, 1);
      System.arraycopy(out, 0, sd, 2, r);
      scale = ctx.constant("inverse_counts", GradContext.tensorOf(t, sd, inv));
    }
    long[] wd = new long[r + 2];
    wd[0] = channels;
    wd[1] = 1;
    System.arraycopy(kernel, 0, wd, 2, r);
    double[] ones = new double[(int) ConvGrads.prod(wd)];
    Arrays.fill(ones, 1);
    Value w = ctx.constant("ones", GradContext.tensorOf(t, wd, ones));
    ctx.addGrad(x, ConvGrads.convTransposeTo(ctx, ctx.mul(dy, scale), w, (int) channels, kernel, strides, dil,
        pads[0], out, in));
  }

  static void globalAveragePool(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    long[] xd = ctx.dims(x);
    long[] sp = ConvGrads.spatial(ctx, x, xd, xd.length - 2);
    Value g = ctx.mul(dy, ctx.scalarLike(1.0 / ConvGrads.prod(sp), x));
    ctx.addGrad(x, ctx.op("Expand", List.of(g, ctx.shapeOf(x))));
  }

}
