package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.RandomInputs;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
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
    // every input in its own type: floats standard normal, token ids within the tables, masks ones
    Map<String, HostTensor> feeds = RandomInputs.of(untouched).draw(new Random(seed));
    List<float[]> masked = run(toMask, feeds);
    List<float[]> pruned = run(toPrune, feeds);
    double relVsOriginal = maxRel(run(untouched, feeds), pruned);
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

  /** Runs {@code m} on float inputs of the given shapes; every output as floats, in output order. */
  static List<float[]> run(Model m, Map<String, float[]> feeds, Map<String, long[]> shapes) throws OrtException {
    Map<String, HostTensor> in = new java.util.HashMap<>();
    feeds.forEach((name, x) -> in.put(name, HostTensor.floats(x, shapes.get(name))));
    return run(m, in);
  }

  /** Runs {@code m} on {@code feeds}; every output as floats, in output order. */
  static List<float[]> run(Model m, Map<String, HostTensor> feeds) throws OrtException {
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setIntraOpNumThreads(1);
      opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
      try (OrtSession s = OrtEnvironment.getEnvironment().createSession(OnnxModels.toBytes(m), opts)) {
        Map<String, HostTensor> out = OrtTensors.run(s, feeds, Set.of());
        List<float[]> values = new ArrayList<>();
        for (Value o : m.graph().outputs()) {
          HostTensor t = out.get(o.name());
          float[] f = new float[t.size()];
          for (int i = 0; i < f.length; i++) {
            f[i] = (float) t.get(i);
          }
          values.add(f);
        }
        return values;
      }
    }
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
