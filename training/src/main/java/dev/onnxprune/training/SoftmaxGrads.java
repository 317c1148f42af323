package dev.onnxprune.training;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.List;

/**
 * Gradients of Softmax and LogSoftmax along {@code axis} (opset 13 semantics: one axis).
 * <ol>
 *   <li>Softmax: {@code dx = y * (dy - sum_axis(dy * y))};
 *   <li>LogSoftmax: {@code dx = dy - exp(y) * sum_axis(dy)}.
 * </ol>
 * The softmax cross-entropy loss has its own closed form ({@link LossBuilder}).
 */
final class SoftmaxGrads {
  private SoftmaxGrads() {}

  static void softmax(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    long[] axis = {axis(ctx, n)};
    Value s = ctx.reduceSum(ctx.mul(dy, y), axis, true);
    ctx.addGrad(n.input(0), ctx.mul(y, ctx.sub(dy, s)));
  }

  static void logSoftmax(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    long[] axis = {axis(ctx, n)};
    Value s = ctx.reduceSum(dy, axis, true);
    ctx.addGrad(n.input(0), ctx.sub(dy, ctx.mul(ctx.op("Exp", List.of(y)), s)));
  }

  private static long axis(GradContext ctx, Node n) {
    if (ctx.opset < 13) {
      throw new GradientException(Messages.unsupported(n, "Softmax before opset 13 (coerced 2-D semantics)"));
    }
    long a = n.attrLong("axis", -1);
    return a < 0 ? a + ctx.rank(n.input(0)) : a;
  }
}
