package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.List;

/**
 * Gradients of the pointwise activations, {@code dx = dy * f'(x)}. At the kinks the one-sided
 * choice is PyTorch's (strict inequalities: the derivative of Relu at 0 is 0).
 * <ol>
 *   <li>Relu: {@code f' = [x > 0]};
 *   <li>LeakyRelu(alpha): {@code f' = x > 0 ? 1 : alpha};
 *   <li>Clip(min, max) (Relu6): {@code f' = [min < x < max]}, absent bounds unbounded;
 *   <li>Sigmoid: {@code f' = y (1 - y)};
 *   <li>HardSigmoid(alpha, beta): {@code f' = alpha [0 < alpha x + beta < 1]};
 *   <li>HardSwish {@code x * relu6(x + 3) / 6}: {@code f' = 0 for x < -3, x/3 + 1/2 for x <= 3, 1 above};
 *   <li>Tanh: {@code f' = 1 - y^2};
 *   <li>Erf (exact GELU is {@code x/2 (1 + erf(x/sqrt 2))}): {@code f' = 2/sqrt(pi) exp(-x^2)};
 *   <li>Sqrt: {@code f' = 1 / (2 y)};
 *   <li>Exp: {@code f' = y};
 *   <li>Log: {@code f' = 1 / x};
 *   <li>Reciprocal: {@code f' = -y^2}.
 * </ol>
 */
final class ActivationGrads {
  private ActivationGrads() {}

  static void relu(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    // dy * float(x > 0): twice as fast as Where in ONNX Runtime CPU; the same values, save that a
    // masked-out non-finite dy gives NaN where Where gives 0 and a negative one gives -0
    Value mask = ctx.op("Cast", List.of(greater(ctx, x, 0)), Attribute.of("to", (long) ctx.dtype(x).code()));
    ctx.addGrad(x, ctx.mul(dy, mask));
  }

  static void leakyRelu(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    Value scaled = ctx.mul(dy, ctx.scalarLike(n.attrFloat("alpha", 0.01f), x));
    ctx.addGrad(x, ctx.op("Where", List.of(greater(ctx, x, 0), dy, scaled)));
  }

  static void clip(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    Value lo = n.input(1);
    Value hi = n.input(2);
    Value inside = null;
    if (lo != null) {
      inside = ctx.op("Greater", List.of(x, lo));
    }
    if (hi != null) {
      Value below = ctx.op("Less", List.of(x, hi));
      inside = inside == null ? below : ctx.op("And", List.of(inside, below));
    }
    ctx.addGrad(x, inside == null ? dy : ctx.where(inside, dy, x));
  }

  static void sigmoid(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value d = ctx.mul(y, ctx.sub(ctx.scalarLike(1, y), y));
    ctx.addGrad(n.input(0), ctx.mul(dy, d));
  }

  static void hardSigmoid(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    float alpha = n.attrFloat("alpha", 0.2f);
    float beta = n.attrFloat("beta", 0.5f);
    Value t = ctx.add(ctx.mul(x, ctx.scalarLike(alpha, x)), ctx.scalarLike(beta, x));
    Value inside = ctx.op("And", List.of(greater(ctx, t, 0, x), ctx.op("Less", List.of(t, ctx.scalarLike(1, x)))));
    ctx.addGrad(x, ctx.where(inside, ctx.mul(dy, ctx.scalarLike(alpha, x)), x));
  }

  static void hardSwish(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    Value slope = ctx.add(ctx.mul(x, ctx.scalarLike(1.0 / 3, x)), ctx.scalarLike(0.5, x));
    Value upper = ctx.op("Where", List.of(greater(ctx, x, 3), ctx.scalarLike(1, x), slope));
    Value d = ctx.op("Where", List.of(ctx.op("Less", List.of(x, ctx.scalarLike(-3, x))), ctx.scalarLike(0, x), upper));
    ctx.addGrad(x, ctx.mul(dy, d));
  }

  static void tanh(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    Value d = ctx.sub(ctx.scalarLike(1, y), ctx.mul(y, y));
    ctx.addGrad(n.input(0), ctx.mul(dy, d));
  }

  static void erf(GradContext ctx, Node n) {
    Value x = n.input(0);
    Value dy = ctx.grad(n.output(0));
    Value gauss = ctx.op("Exp", List.of(ctx.neg(ctx.mul(x, x))));
    ctx.addGrad(x, ctx.mul(dy, ctx.mul(gauss, ctx.scalarLike(2 / Math.sqrt(Math.PI), x))));
  }

  static void sqrt(GradContext ctx, Node n) {
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    ctx.addGrad(n.input(0), ctx.div(ctx.mul(dy, ctx.scalarLike(0.5, y)), y));
  }

  static void exp(GradContext ctx, Node n) {
    Value y = n.output(0);
    ctx.addGrad(n.input(0), ctx.mul(ctx.grad(y), y));
  }

  static void log(GradContext ctx, Node n) {
    ctx.addGrad(n.input(0), ctx.div(ctx.grad(n.output(0)), n.input(0)));
  }

  static void reciprocal(GradContext ctx, Node n) {
    Value y = n.output(0);
    ctx.addGrad(n.input(0), ctx.neg(ctx.mul(ctx.grad(y), ctx.mul(y, y))));
  }

  private static Value greater(GradContext ctx, Value x, double c) {
    return greater(ctx, x, c, x);
  }

  /** {@code x > c} with c of the element type of {@code like} (x may be an untyped new value). */
  private static Value greater(GradContext ctx, Value x, double c, Value like) {
    return ctx.op("Greater", List.of(x, ctx.scalarLike(c, like)));
  }
}
