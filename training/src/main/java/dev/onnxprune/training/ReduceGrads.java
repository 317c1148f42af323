package dev.onnxprune.training;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.List;

/**
 * Gradients of ReduceSum and ReduceMean: dy, with the reduced axes restored when {@code
 * keepdims=0}, broadcast back over them ({@code Expand}); ReduceMean divides by the number of
 * elements each output averaged.
 */
final class ReduceGrads {
  private ReduceGrads() {}

  static void reduceSum(GradContext ctx, Node n) {
    reduce(ctx, n, false);
  }

  static void reduceMean(GradContext ctx, Node n) {
    reduce(ctx, n, true);
  }

  private static void reduce(GradContext ctx, Node n, boolean mean) {
    Value x = n.input(0);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    int rank = ctx.rank(x);
    boolean axesAsInput = n.is("ReduceSum") ? ctx.opset >= 13 : ctx.opset >= 18;
    long[] axes = axesAsInput ? ctx.longs(n, 1, "axes input") : n.attrLongs("axes");
    if (axes == null || axes.length == 0) {
      if (n.attrLong("noop_with_empty_axes", 0) != 0) {
        ctx.addGrad(x, dy);
        return;
      }
      axes = GradContext.range(0, rank);
    }
    axes = GradContext.normalizeAxes(axes, rank);
    Value g = dy;
    if (n.attrLong("keepdims", 1) == 0) {
      g = ctx.unsqueeze(dy, axes);
    }
    if (mean) {
      long[] xd = ctx.dims(x);
      long count = 1;
      boolean known = true;
      for (long a : axes) {
        known &= xd[(int) a] >= 0;
        count *= xd[(int) a];
      }
      Value c = known ? ctx.scalarLike(count, x)
          : ctx.div(ctx.count(x, ctx.dtype(x)), ctx.count(y, ctx.dtype(x)));
      g = ctx.div(g, c);
    }
    ctx.addGrad(x, ctx.op("Expand", List.of(g, ctx.shapeOf(x))));
  }
}
