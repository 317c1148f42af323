package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Conv and ConvTranspose (ONNX opsets 11-21; attributes did not change in that range). */
final class ConvRules {
  private ConvRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "Conv", ConvRules::conv);
    OpRules.put(table, "ConvTranspose", ConvRules::convTranspose);
  }

  /**
   * X [N, C, D1..Dn], W [M, C/group, k1..kn] -> Y [N, M, o1..on] with o from {@link
   * ShapeMath#spatial}; kernel_shape defaults to W's spatial dims.
   */
  static void conv(InferenceContext c) {
    Shape x = c.requireShape(0);
    Shape w = c.requireShape(1);
    if (x.rank() < 3 || w.rank() != x.rank()) {
      throw c.fail("input " + x + " and weight " + w + " must have the same rank >= 3");
    }
    long group = c.node().attrLong("group", 1);
    Dim cin = x.dim(1);
    Dim wc = w.dim(1);
    if (cin.isKnown() && wc.isKnown() && cin.get() != wc.get() * group) {
      throw c.fail("input channels " + cin + " != weight channels " + wc + " * group " + group);
    }
    long[] kernel = kernel(c, w);
    List<Dim> out = new ArrayList<>();
    out.add(ShapeMath.plain(x.dim(0)));
    out.add(ShapeMath.plain(w.dim(0)));
    out.addAll(ShapeMath.spatial(c, x, kernel, false, true));
    c.set(0, c.elemType(0), Shape.of(out));
  }

  /**
   * X [N, C, D1..Dn], W [C, M/group, k1..kn] -> Y [N, M, o1..on] with
   * {@code o = stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - padBegin - padEnd};
   * {@code output_shape} (spatial sizes, or the full shape) wins; auto_pad SAME gives
   * {@code in * stride}.
   */
  static void convTranspose(InferenceContext c) {
    Shape x = c.requireShape(0);
    Shape w = c.requireShape(1);
    if (x.rank() < 3 || w.rank() != x.rank()) {
      throw c.fail("input " + x + " and weight " + w + " must have the same rank >= 3");
    }
    int n = x.rank() - 2;
    long group = c.node().attrLong("group", 1);
    Dim cout = w.dim(1).isKnown() ? Dim.of(w.dim(1).get() * group) : Dim.unknown();
    long[] kernel = kernel(c, w);
    long[] strides = c.attrLongs("strides", n, 1);
    long[] dilations = c.attrLongs("dilations", n, 1);
    long[] outPad = c.attrLongs("output_padding", n, 0);
    long[] pads = c.attrLongs("pads", 2 * n, 0);
    long[] outputShape = c.node().attrLongs("output_shape");
    String autoPad = c.node().attrString("auto_pad", "NOTSET");
    List<Dim> out = new ArrayList<>();
    out.add(ShapeMath.plain(x.dim(0)));
    out.add(cout);
    for (int i = 0; i < n; i++) {
      Dim in = x.dim(i + 2);
      if (outputShape != null) {
        if (outputShape.length != n && outputShape.length != n + 2) {
          throw c.fail("output_shape " + Arrays.toString(outputShape) + " needs " + n + " spatial sizes");
        }
        out.add(Dim.of(outputShape[outputShape.length - n + i]));
      } else if (!in.isKnown()) {
        out.add(Dim.unknown());
      } else if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
        out.add(Dim.of(in.get() * strides[i]));
      } else {
        long padSum = autoPad.equals("VALID") ? 0 : pads[i] + pads[i + n];
        out.add(Dim.of(strides[i] * (in.get() - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1 - padSum));
      }
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }

  private static long[] kernel(InferenceContext c, Shape w) {
    long[] k = c.node().attrLongs("kernel_shape");
    if (k != null) {
      return k;
    }
    List<Dim> spatial = ShapeMath.dims(w, 2, w.rank());
    return ShapeMath.known(c, Shape.of(spatial), "kernel_shape (taken from the weight)");
  }
}
