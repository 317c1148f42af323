package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.List;

/**
 * Gradients of Gemm and MatMul.
 * <ol>
 *   <li>Gemm {@code Y = alpha A' B' + beta C} with {@code A' = transA ? A^T : A} (B' alike):
 *       {@code dA' = alpha dY B'^T}, {@code dB' = alpha A'^T dY}, transposed back when the operand was
 *       (each one Gemm with the transpose flags folded in); {@code dC = beta * dY} summed over the
 *       axes C was broadcast along.
 *   <li>MatMul {@code Y = A B} (numpy batched, rank >= 2): {@code dA = dY B^T}, {@code dB = A^T dY},
 *       each summed over the batch axes its operand was broadcast along.
 * </ol>
 */
final class LinearGrads {
  private LinearGrads() {}

  static void gemm(GradContext ctx, Node n) {
    Value a = n.input(0);
    Value b = n.input(1);
    Value c = n.input(2);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    float alpha = n.attrFloat("alpha", 1f);
    float beta = n.attrFloat("beta", 1f);
    boolean ta = n.attrLong("transA", 0) != 0;
    boolean tb = n.attrLong("transB", 0) != 0;
    if (ctx.needsGrad(a)) {
      // transA=0: dA = alpha dY B'^T; transA=1: dA = alpha B' dY^T
      Value da = ta ? gemm(ctx, b, dy, alpha, tb, true) : gemm(ctx, dy, b, alpha, false, !tb);
      ctx.addGrad(a, da);
    }
    if (ctx.needsGrad(b)) {
      // transB=0: dB = alpha A'^T dY; transB=1: dB = alpha dY^T A'
      Value db = tb ? gemm(ctx, dy, a, alpha, true, ta) : gemm(ctx, a, dy, alpha, !ta, false);
      ctx.addGrad(b, db);
    }
    if (ctx.needsGrad(c)) {
      Value dc = ctx.sumTo(dy, y, c);
      if (beta != 1f) {
        dc = ctx.mul(dc, ctx.scalarLike(beta, c));
      }
      ctx.addGrad(c, dc);
    }
  }

  private static Value gemm(GradContext ctx, Value p, Value q, float alpha, boolean tp, boolean tq) {
    return ctx.op("Gemm", List.of(p, q), Attribute.of("alpha", alpha), Attribute.of("transA", tp ? 1L : 0L),
        Attribute.of("transB", tq ? 1L : 0L));
  }

  static void matMul(GradContext ctx, Node n) {
    Value a = n.input(0);
    Value b = n.input(1);
    Value y = n.output(0);
    Value dy = ctx.grad(y);
    int ra = ctx.rank(a);
    int rb = ctx.rank(b);
    if (ra < 2 || rb < 2) {
      throw new GradientException(Messages.unsupported(n, "MatMul of a 1-D operand (rank " + ra + " x " + rb
          + "); reshape it to 2-D"));
    }
    if (ctx.needsGrad(a)) {
      Value da = ctx.op("MatMul", List.of(dy, swapLast(ctx, b, rb)));
      ctx.addGrad(a, ctx.sumTo(da, withLastTwo(ctx.dims(y), ctx.dims(a)), a));
    }
    if (ctx.needsGrad(b)) {
      Value db;
      if (rb == 2 && ra > 2) {
        // A^T dY summed over the batch: one GEMM over the flattened batch.
        long k = ctx.dims(a)[ra - 1];
        long m = ctx.dims(y)[ra - 1];
        db = ctx.op("Gemm", List.of(ctx.reshape(a, -1, k), ctx.reshape(dy, -1, m)), Attribute.of("transA", 1L));
      } else {
        db = ctx.sumTo(ctx.op("MatMul", List.of(swapLast(ctx, a, ra), dy)), withLastTwo(ctx.dims(y), ctx.dims(b)), b);
      }
      ctx.addGrad(b, db);
    }
  }

  /** The sizes of y with the matrix dims of {@code operand} (the shape of its unreduced gradient). */
  private static long[] withLastTwo(long[] y, long[] operand) {
    long[] d = y.clone();
    d[d.length - 1] = operand[operand.length - 1];
    d[d.length - 2] = operand[operand.length - 2];
    return d;
  }

  private static Value swapLast(GradContext ctx, Value v, int rank) {
    long[] perm = GradContext.range(0, rank);
    perm[rank - 1] = rank - 2;
    perm[rank - 2] = rank - 1;
    return ctx.transpose(v, perm);
  }
}
