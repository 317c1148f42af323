package dev.onnxprune.prune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PrunePlan;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The equivalence check of channel surgery, as a user feature: the pruned model must compute
 * what the original computes with the removed channels zeroed where they enter their
 * consumers. Both run in ONNX Runtime on the same inputs (standard normal, batch 2 for
 * symbolic dimensions); the largest absolute and relative (to each output's largest magnitude)
 * differences are reported.
 */
public final class Equivalence {
  /** Relative tolerance under which the check passes (float rounding through deep nets). */
  public static final double TOLERANCE = 1e-4;

  private Equivalence() {}

  /**
   * Compares {@code pruned} with {@code originalBytes} masked by {@code plan} (a plan made on an
   * identical copy of the original).
   */
  public static PruneReport.Verification check(byte[] originalBytes, PrunePlan plan, Model pruned, Sessions sessions,
      int batches, long seed) throws IOException, OrtException {
    Model masked = OnnxModels.read(originalBytes, null);
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    new MaskInsertion(plan.rebind(a)).run();
    double maxAbs = 0;
    double maxRel = 0;
    Random r = new Random(seed);
    try (OrtSession sm = sessions.open(masked); OrtSession sp = sessions.open(pruned)) {
      for (int b = 0; b < batches; b++) {
        Map<String, float[]> feeds = new HashMap<>();
        Map<String, long[]> shapes = new HashMap<>();
        for (Value in : masked.graph().runtimeInputs()) {
          ValueType.TensorType t = in.tensorType();
          Shape s = t == null ? null : t.shape();
          if (s == null) {
            throw new IOException("input '" + in.name() + "' has no known shape; cannot make test inputs");
          }
          long[] dims = new long[s.rank()];
          int n = 1;
          for (int i = 0; i < dims.length; i++) {
            Dim d = s.dim(i);
            dims[i] = d.isKnown() ? d.get() : 2;
            n *= (int) dims[i];
          }
          float[] x = new float[n];
          for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
          }
          feeds.put(in.name(), x);
          shapes.put(in.name(), dims);
        }
        List<float[]> ym = run(sm, feeds, shapes);
        List<float[]> yp = run(sp, feeds, shapes);
        for (int o = 0; o < ym.size(); o++) {
          float[] x = ym.get(o);
          float[] y = yp.get(o);
          if (x.length != y.length) {
            return new PruneReport.Verification(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, b + 1, false);
          }
          double scale = 0;
          for (float v : x) {
            scale = Math.max(scale, Math.abs(v));
          }
          for (int i = 0; i < x.length; i++) {
            double d = Math.abs((double) x[i] - y[i]);
            if (Double.isNaN(d)) {
              d = Double.POSITIVE_INFINITY;
            }
            maxAbs = Math.max(maxAbs, d);
            maxRel = Math.max(maxRel, d / Math.max(scale, 1e-30));
          }
        }
      }
    }
    return new PruneReport.Verification(maxAbs, maxRel, batches, maxRel <= TOLERANCE);
  }

  private static List<float[]> run(OrtSession s, Map<String, float[]> feeds, Map<String, long[]> shapes)
      throws OrtException {
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      for (Map.Entry<String, float[]> e : feeds.entrySet()) {
        FloatBuffer fb = ByteBuffer.allocateDirect(e.getValue().length * 4).order(ByteOrder.nativeOrder())
            .asFloatBuffer();
        fb.put(e.getValue()).rewind();
        in.put(e.getKey(), OnnxTensor.createTensor(Sessions.environment(), fb, shapes.get(e.getKey())));
      }
      List<float[]> out = new ArrayList<>();
      try (OrtSession.Result res = s.run(in)) {
        for (Map.Entry<String, OnnxValue> e : res) {
          FloatBuffer fb = ((OnnxTensor) e.getValue()).getFloatBuffer();
          float[] f = new float[fb.remaining()];
          fb.get(f);
          out.add(f);
        }
      }
      return out;
    } finally {
      for (OnnxTensor t : in.values()) {
        t.close();
      }
    }
  }
}
