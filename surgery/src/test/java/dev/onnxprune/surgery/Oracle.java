package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/** The equivalence oracle: a pruned model equals the original with removed channels masked. */
final class Oracle {
  private Oracle() {}

  /** Differences pruned vs masked, and pruned vs the unmasked original (which must not be ~0). */
  record Result(double maxAbs, double maxRel, int removed, Model pruned, double relVsOriginal) {}

  static Model copy(Model m) throws IOException {
    return OnnxModels.read(OnnxModels.toBytes(m), null);
  }

  /**
   * Prunes a copy of {@code model} with the plan {@code planner} makes, masks another copy with
   * the same plan, runs both in ONNX Runtime on the same random batch, and returns the largest
   * differences of all outputs.
   */
  static Result check(Model model, Function<ChannelAnalysis, PrunePlan> planner, long seed)
      throws IOException, OrtException {
    Model toPrune = copy(model);
    Model toMask = copy(model);
    Model untouched = copy(model);
    ChannelAnalysis a = ChannelAnalysis.analyze(toPrune);
    PrunePlan plan = planner.apply(a);
    ChannelAnalysis b = ChannelAnalysis.analyze(toMask);
    new MaskInsertion(plan.rebind(b)).run(b.model());
    int removed = new ChannelPruningPass(plan).run(plan.analysis().model()).units();
    Map<String, float[]> feeds = new HashMap<>();
    Map<String, long[]> shapes = new HashMap<>();
    Random r = new Random(seed);
    for (Value in : toMask.graph().runtimeInputs()) {
      Shape s = in.shape();
      long[] dims = new long[s.rank()];
      for (int i = 0; i < dims.length; i++) {
        Dim d = s.dim(i);
        dims[i] = d.isKnown() ? d.get() : 2;
      }
      int n = 1;
      for (long d : dims) {
        n *= (int) d;
      }
      float[] x = new float[n];
      for (int i = 0; i < n; i++) {
        x[i] = (float) r.nextGaussian();
      }
      feeds.put(in.name(), x);
      shapes.put(in.name(), dims);
    }
    List<float[]> masked = run(toMask, feeds, shapes);
    List<float[]> pruned = run(toPrune, feeds, shapes);
    double relVsOriginal = maxRel(run(untouched, feeds, shapes), pruned);
    assertEquals(masked.size(), pruned.size());
    double maxAbs = 0;
    double maxRel = 0;
    for (int o = 0; o < masked.size(); o++) {
      float[] x = masked.get(o);
      float[] y = pruned.get(o);
      assertEquals(x.length, y.length, "output " + o + " length");
      double scale = 0;
      for (float v : x) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int i = 0; i < x.length; i++) {
        double d = Math.abs(x[i] - y[i]);
        maxAbs = Math.max(maxAbs, d);
        maxRel = Math.max(maxRel, d / Math.max(scale, 1e-12));
      }
    }
    return new Result(maxAbs, maxRel, removed, toPrune, relVsOriginal);
  }

  private static double maxRel(List<float[]> a, List<float[]> b) {
    double worst = 0;
    for (int o = 0; o < a.size(); o++) {
      double scale = 0;
      double d = 0;
      for (int i = 0; i < a.get(o).length; i++) {
        scale = Math.max(scale, Math.abs(a.get(o)[i]));
        d = Math.max(d, Math.abs(a.get(o)[i] - b.get(o)[i]));
      }
      worst = Math.max(worst, d / Math.max(scale, 1e-12));
    }
    return worst;
  }

  static void assertEquivalent(Result r) {
    assertTrue(r.removed() > 0, "the plan removed nothing");
    assertTrue(r.maxRel() < 1e-4, "pruned differs from masked: max abs " + r.maxAbs() + ", max rel " + r.maxRel());
    assertTrue(r.relVsOriginal() > 1e-4, "pruning changed nothing: the removed channels mattered in no output ("
        + r.relVsOriginal() + ")");
  }

  static List<float[]> run(Model m, Map<String, float[]> feeds, Map<String, long[]> shapes)
      throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setIntraOpNumThreads(1);
      opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
      try (OrtSession s = env.createSession(OnnxModels.toBytes(m), opts)) {
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
          for (Map.Entry<String, float[]> e : feeds.entrySet()) {
            ByteBuffer bb = ByteBuffer.allocateDirect(e.getValue().length * 4).order(ByteOrder.nativeOrder());
            FloatBuffer fb = bb.asFloatBuffer();
            fb.put(e.getValue());
            fb.rewind();
            in.put(e.getKey(), OnnxTensor.createTensor(env, fb, shapes.get(e.getKey())));
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
  }

  /** Removes every {@code k}-th unit (from index {@code offset}) of every prunable group, keeping at least one. */
  static PrunePlan everyKth(ChannelAnalysis a, int k, int offset) {
    PrunePlan.Builder b = PrunePlan.builder(a);
    for (ChannelGroup g : a.prunableGroups()) {
      List<Integer> units = new ArrayList<>();
      for (int i = offset; i < g.size(); i += k) {
        units.add(i);
      }
      if (units.size() >= g.size()) {
        units.remove(units.size() - 1);
      }
      b.remove(g, units.stream().mapToInt(Integer::intValue).toArray());
    }
    return b.build();
  }

  /** Removes the first {@code fraction} of units of every prunable group (rounded down, at least one kept). */
  static PrunePlan fraction(ChannelAnalysis a, double fraction) {
    PrunePlan.Builder b = PrunePlan.builder(a);
    for (ChannelGroup g : a.prunableGroups()) {
      int n = Math.min(g.size() - 1, (int) Math.floor(g.size() * fraction));
      int[] units = new int[n];
      for (int i = 0; i < n; i++) {
        units[i] = (i * 7 + 3) % g.size();
      }
      units = java.util.Arrays.stream(units).distinct().toArray();
      b.remove(g, units);
    }
    return b.build();
  }
}
