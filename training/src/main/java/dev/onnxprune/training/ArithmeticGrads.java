package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.List;

/**
 * Gradients of the broadcasting arithmetic ops. Each operand's gradient is summed over the axes
 * it was broadcast along ({@link GradContext#sumTo}).
 * <ol>
 *   <li>Add: {@code dA = dY, dB = dY};
 *   <li>Sub: {@code dA = dY, dB = -dY};
 *   <li>Mul: {@code dA = dY B, dB = dY A};
 *   <li>Div: {@code dA = dY / B, dB = -dY A / B^2 = -dY Y / B};
 *   <li>Neg: {@code dA = -dY};
 *   <li>Pow: {@code dA = dY P A^(P-1)} ({@code dY 2 A} for the constant exponent 2 of a variance),
 *       {@code dP = dY Y ln A};
 *   <li>Where(C, A, B): {@code dA = C ? dY : 0}, {@code dB = C ? 0 : dY}.
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

  static void pow(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value a = n.input(0);
    Value p = n.input(1);
    if (ctx.needsGrad(a)) {
      Tensor pc = p.constantValue();
      Value da;
      if (pc != null && allEqual(pc.toDoubleArray(), 2)) {
        da = ctx.mul(dy, ctx.mul(a, ctx.scalarLike(2, a)));
      } else {
        Value pa = ctx.dtype(p) == ctx.dtype(a) ? p
            : ctx.op("Cast", List.of(p), Attribute.of("to", (long) ctx.dtype(a).code()));
        Value pm1 = ctx.sub(pa, ctx.scalarLike(1, a));
        da = ctx.mul(dy, ctx.mul(pa, ctx.op("Pow", List.of(a, pm1))));
      }
      ctx.addGrad(a, ctx.sumTo(da, y, a));
    }
    if (ctx.needsGrad(p)) {
      ctx.addGrad(p, ctx.sumTo(ctx.mul(dy, ctx.mul(y, ctx.op("Log", List.of(a)))), y, p));
    }
  }

  static void where(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value c = n.input(0);
    Value zero = ctx.scalarLike(0, y);
    if (ctx.needsGrad(n.input(1))) {
      ctx.addGrad(n.input(1), ctx.sumTo(ctx.op("Where", List.of(c, dy, zero)), y, n.input(1)));
    }
    if (ctx.needsGrad(n.input(2))) {
      ctx.addGrad(n.input(2), ctx.sumTo(ctx.op("Where", List.of(c, zero, dy)), y, n.input(2)));
    }
  }

  private static boolean allEqual(double[] v, double x) {
    for (double d : v) {
      if (d != x) {
        return false;
      }
    }
    return v.length > 0;
  }
}
