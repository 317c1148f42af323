package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Gemm and MatMul. */
final class LinearRules {
  private LinearRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "Gemm", LinearRules::gemm);
    OpRules.put(table, "MatMul", LinearRules::matMul);
  }

  /** A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB) -> Y [M, N]. */
  static void gemm(InferenceContext c) {
    Shape a = c.requireShape(0);
    Shape b = c.requireShape(1);
    if (a.rank() != 2 || b.rank() != 2) {
      throw c.fail("Gemm needs 2-D inputs, got " + a + " and " + b);
    }
    boolean ta = c.node().attrLong("transA", 0) != 0;
    boolean tb = c.node().attrLong("transB", 0) != 0;
    Dim m = a.dim(ta ? 1 : 0);
    Dim ka = a.dim(ta ? 0 : 1);
    Dim kb = b.dim(tb ? 1 : 0);
    Dim n = b.dim(tb ? 0 : 1);
    if (ka.isKnown() && kb.isKnown() && ka.get() != kb.get()) {
      throw c.fail("inner dimensions differ: A " + a + (ta ? " (transposed)" : "") + ", B " + b
          + (tb ? " (transposed)" : ""));
    }
    c.set(0, c.elemType(0), Shape.of(ShapeMath.plain(m), ShapeMath.plain(n)));
  }

  /**
   * numpy matmul: 1-D operands are promoted (a [K] to [1, K], b [K] to [K, 1]) and the added axis
   * is removed from the result; leading (batch) axes broadcast.
   */
  static void matMul(InferenceContext c) {
    Shape a = c.requireShape(0);
    Shape b = c.requireShape(1);
    if (a.rank() == 0 || b.rank() == 0) {
      throw c.fail("MatMul operands must have rank >= 1, got " + a + " and " + b);
    }
    List<Dim> ad = ShapeMath.dims(a, 0, a.rank());
    List<Dim> bd = ShapeMath.dims(b, 0, b.rank());
    boolean aVec = ad.size() == 1;
    boolean bVec = bd.size() == 1;
    if (aVec) {
      ad.add(0, Dim.of(1));
    }
    if (bVec) {
      bd.add(Dim.of(1));
    }
    Dim ka = ad.get(ad.size() - 1);
    Dim kb = bd.get(bd.size() - 2);
    if (ka.isKnown() && kb.isKnown() && ka.get() != kb.get()) {
      throw c.fail("inner dimensions differ: " + a + " x " + b);
    }
    Shape batch = ShapeMath.broadcast(c, List.of(Shape.of(ad.subList(0, ad.size() - 2)),
        Shape.of(bd.subList(0, bd.size() - 2))));
    List<Dim> out = new ArrayList<>(batch.dims());
    if (!aVec) {
      out.add(ad.get(ad.size() - 2));
    }
    if (!bVec) {
      out.add(bd.get(bd.size() - 1));
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }
}
