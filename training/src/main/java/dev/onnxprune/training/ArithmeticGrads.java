package dev.onnxprune.training;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;

/**
 * Gradients of the broadcasting arithmetic ops. Each operand's gradient is summed over the axes
 * it was broadcast along ({@link GradContext#sumTo}).
 * <ol>
 *   <li>Add: {@code dA = dY, dB = dY};
 *   <li>Sub: {@code dA = dY, dB = -dY};
 *   <li>Mul: {@code dA = dY B, dB = dY A};
 *   <li>Div: {@code dA = dY / B, dB = -dY A / B^2 = -dY Y / B};
 *   <li>Neg: {@code dA = -dY}.
 * </ol>
 */
final class ArithmeticGrads {
  private ArithmeticGrads() {}

  static void add(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    for (int i = 0; i < 2; i++) {
      Value v = n.input(i);
      if (ctx.needsGrad(v)) {
        ctx.addGrad(v, ctx.sumTo(dy, y, v));
      }
    }
  }

  static void sub(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    if (ctx.needsGrad(n.input(0))) {
      ctx.addGrad(n.input(0), ctx.sumTo(dy, y, n.input(0)));
    }
    if (ctx.needsGrad(n.input(1))) {
      ctx.addGrad(n.input(1), ctx.sumTo(ctx.neg(dy), y, n.input(1)));
    }
  }

  static void mul(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value a = n.input(0);
    Value b = n.input(1);
    if (ctx.needsGrad(a)) {
      ctx.addGrad(a, ctx.sumTo(ctx.mul(dy, b), y, a));
    }
    if (ctx.needsGrad(b)) {
      ctx.addGrad(b, ctx.sumTo(ctx.mul(dy, a), y, b));
    }
  }

  static void div(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value a = n.input(0);
    Value b = n.input(1);
    if (ctx.needsGrad(a)) {
      ctx.addGrad(a, ctx.sumTo(ctx.div(dy, b), y, a));
    }
    if (ctx.needsGrad(b)) {
      ctx.addGrad(b, ctx.sumTo(ctx.neg(ctx.mul(dy, ctx.div(y, b))), y, b));
    }
  }

  static void neg(GradContext ctx, Node n) {
    ctx.addGrad(n.input(0), ctx.neg(ctx.grad(n.output(0))));
  }
}
