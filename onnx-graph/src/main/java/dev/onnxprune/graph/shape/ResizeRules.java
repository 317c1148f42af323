package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Resize (opsets 10-21) and the deprecated Upsample. */
final class ResizeRules {
  private ResizeRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "Resize", ResizeRules::resize);
    OpRules.put(table, "Upsample", ResizeRules::upsample);
  }

  /**
   * Inputs X, roi, scales, sizes (opset 11+; opset 10 has X, scales). A non-empty {@code sizes}
   * gives the output sizes (on {@code axes}, opset 18+, scaled to keep the aspect ratio under
   * keep_aspect_ratio_policy not_larger/not_smaller); otherwise each size is
   * {@code floor(in * scale)} computed in float, as ONNX Runtime does. Sizes or scales computed at
   * run time keep the rank, with the resized axes unknown.
   */
  static void resize(InferenceContext c) {
    Shape x = c.requireShape(0);
    int r = x.rank();
    int scalesIndex = c.opset() >= 11 ? 2 : 1;
    long[] axesAttr = c.opset() >= 18 ? c.node().attrLongs("axes") : null;
    int[] axes = new int[axesAttr == null ? r : axesAttr.length];
    for (int i = 0; i < axes.length; i++) {
      axes[i] = axesAttr == null ? i : c.axis(axesAttr[i], r);
    }
    List<Dim> sizes = c.opset() >= 11 && c.has(3) ? c.data(3) : null;
    List<Dim> out = ShapeMath.dims(x, 0, r);
    boolean runtimeSizes = c.opset() >= 11 && c.has(3) && sizes == null;
    boolean runtimeScales = !runtimeSizes && (sizes == null || sizes.isEmpty()) && c.has(scalesIndex)
        && ConstantData.constantTensor(c.node().input(scalesIndex)) == null;
    if (runtimeSizes || runtimeScales) {
      // computed at run time (e.g. from the input image's size): the rank stays, the sizes are unknown
      for (int a : axes) {
        out.set(a, Dim.unknown());
      }
      c.set(0, c.elemType(0), Shape.of(out));
      return;
    }
    if (sizes != null && !sizes.isEmpty()) {
      if (sizes.size() != axes.length) {
        throw c.fail("sizes " + sizes + " needs " + axes.length + " values");
      }
      String policy = c.opset() >= 18 ? c.node().attrString("keep_aspect_ratio_policy", "stretch") : "stretch";
      if (policy.equals("stretch")) {
        for (int i = 0; i < axes.length; i++) {
          out.set(axes[i], ShapeMath.plain(sizes.get(i)));
        }
      } else {
        List<Dim> resized = new java.util.ArrayList<>();
        for (int a : axes) {
          resized.add(x.dim(a));
        }
        long[] in = ShapeMath.known(c, Shape.of(resized), "keep_aspect_ratio_policy " + policy + " on axes");
        long[] want = ShapeMath.known(c, Shape.of(sizes), "keep_aspect_ratio_policy " + policy);
        float scale = policy.equals("not_larger") ? Float.MAX_VALUE : 0f;
        for (int i = 0; i < axes.length; i++) {
          float s = (float) want[i] / in[i];
          scale = policy.equals("not_larger") ? Math.min(scale, s) : Math.max(scale, s);
        }
        for (int i = 0; i < axes.length; i++) {
          out.set(axes[i], Dim.of(Math.round(scale * in[i])));
        }
      }
    } else {
      float[] scales = c.floats(scalesIndex);
      if (scales == null || scales.length == 0) {
        throw c.fail("neither scales nor sizes is given");
      }
      scaleDims(c, x, axes, scales, out);
    }
    c.set(0, c.elemType(0), Shape.of(out));
  }

  /** Upsample: {@code scales} from input 1 (opset 9) or the attribute (opset 7-8); floor(in * scale). */
  static void upsample(InferenceContext c) {
    Shape x = c.requireShape(0);
    float[] scales = c.has(1) ? c.floats(1) : c.node().attribute("scales") == null ? null
        : c.node().attribute("scales").asFloats();
    if (scales == null) {
      throw c.fail("scales are required");
    }
    int[] axes = new int[x.rank()];
    for (int i = 0; i < axes.length; i++) {
      axes[i] = i;
    }
    List<Dim> out = ShapeMath.dims(x, 0, x.rank());
    scaleDims(c, x, axes, scales, out);
    c.set(0, c.elemType(0), Shape.of(out));
  }

  private static void scaleDims(InferenceContext c, Shape x, int[] axes, float[] scales, List<Dim> out) {
    if (scales.length != axes.length) {
      throw c.fail("scales " + Arrays.toString(scales) + " needs " + axes.length + " values");
    }
    for (int i = 0; i < axes.length; i++) {
      Dim in = x.dim(axes[i]);
      if (scales[i] == 1f) {
        continue;
      }
      out.set(axes[i], in.isKnown() ? Dim.of((long) (scales[i] * (float) in.get())) : Dim.unknown());
    }
  }
}
