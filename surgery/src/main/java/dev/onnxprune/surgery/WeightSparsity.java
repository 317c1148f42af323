package dev.onnxprune.surgery;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import java.util.Locale;

/**
 * How many of a model's maskable weights (the FLOAT weights of Conv, ConvTranspose, Gemm and a
 * constant MatMul operand, the ones {@link MagnitudeMasking} masks; shared ones once) are exactly
 * zero.
 *
 * @param elements weights counted
 * @param zeros of them exactly 0
 */
public record WeightSparsity(long elements, long zeros) {
  /**
   * A model whose weights are at least this fraction zero is taken to be masked (unstructured or
   * N:M): a trained dense model has next to no exact zeros.
   */
  public static final double MASKED_AT = 0.01;

  /** The sparsity of {@code model}'s weights now. */
  public static WeightSparsity of(Model model) {
    long n = 0;
    long z = 0;
    for (Value w : MagnitudeMasking.weights(model.graph()).keySet()) {
      dev.onnxprune.graph.Tensor t = w.initializer();
      if (t.dataType() == dev.onnxprune.graph.DataType.FLOAT) {
        // in windows: external data is not read onto the heap whole
        dev.onnxprune.graph.Tensor.Reader r = t.reader();
        float[] f = new float[(int) Math.min(t.elementCount(), 1 << 16)];
        for (long left = t.elementCount(); left > 0; left -= f.length) {
          int k = (int) Math.min(f.length, left);
          r.get(f, 0, k);
          n += k;
          for (int i = 0; i < k; i++) {
            if (f[i] == 0f) {
              z++;
            }
          }
        }
        continue;
      }
      float[] f = t.toFloatArray();
      n += f.length;
      for (float v : f) {
        if (v == 0f) {
          z++;
        }
      }
    }
    return new WeightSparsity(n, z);
  }

  /** Fraction of the weights that are zero (0 when there are none). */
  public double fraction() {
    return elements == 0 ? 0 : (double) zeros / elements;
  }

  /** True when at least {@link #MASKED_AT} of the weights are zero. */
  public boolean masked() {
    return fraction() >= MASKED_AT;
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "%d of %d weights zero (%.2f%%)", zeros, elements, 100 * fraction());
  }
}
