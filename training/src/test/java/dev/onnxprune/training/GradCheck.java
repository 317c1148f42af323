package dev.onnxprune.training;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * Gradient check: the gradient graph run in ONNX Runtime against central finite differences of
 * the forward graph, also run in ONNX Runtime. The loss is {@code L = sum_i <y_i, s_i>} with
 * random seeds (Loss.Dot), summed in double on the host; for each differentiated input up to
 * {@link #COORDS} random coordinates are perturbed by {@code +-h}.
 *
 * <p>The error of one input is {@code max_i |ad_i - fd_i| / max_i max(|fd_i|, |ad_i|)} over the
 * checked coordinates: relative to the gradient's scale, so that coordinates whose gradient is
 * near zero do not blow it up.
 */
final class GradCheck {
  static final int COORDS = 24;

  /** The outcome of one case. */
  record Result(String rule, String name, DataType type, double error) {}

  private GradCheck() {}

  /**
   * @param build builds the forward model for an element type; its outputs are dotted with seeds
   * @param wrt names of the inputs to differentiate
   * @param inputs generates the value of each input (by name) for an element type
   * @param mode BatchNormalization mode
   */
  static Result run(String rule, String name, Function<DataType, OpModel> build, List<String> wrt,
      Map<String, Function<Random, double[]>> inputs, BatchNormMode mode) throws OrtException {
    try {
      return runIn(DataType.DOUBLE, rule, name, build, wrt, inputs, mode);
    } catch (OrtException e) {
      if (!String.valueOf(e.getMessage()).contains("NOT_IMPLEMENTED")
          && !String.valueOf(e.getMessage()).contains("implementation")) {
        throw e;
      }
      return runIn(DataType.FLOAT, rule, name, build, wrt, inputs, mode);
    }
  }

  private static Result runIn(DataType type, String rule, String name, Function<DataType, OpModel> build,
      List<String> wrt, Map<String, Function<Random, double[]>> gens, BatchNormMode mode) throws OrtException {
    OpModel fm = build.apply(type);
    Model fwd = fm.model;
    ShapeInference.infer(fwd);
    List<String> outs = new ArrayList<>();
    for (Value v : fwd.graph().outputs()) {
      outs.add(v.name());
    }
    Model grad = Autodiff.gradients(fwd, new Loss.Dot(outs), wrt, mode);
    GraphVerifier.verify(grad);
    Random rnd = new Random(name.hashCode());
    Map<String, Ort.Data> feed = new LinkedHashMap<>();
    for (Value in : fwd.graph().runtimeInputs()) {
      long[] shape = in.shape().toArray();
      DataType t = in.tensorType().elemType();
      Function<Random, double[]> gen = gens.get(in.name());
      double[] v = gen != null ? gen.apply(rnd) : normal(rnd, (int) count(shape));
      if (v.length != count(shape)) {
        throw new IllegalArgumentException(name + ": input " + in.name() + " needs " + count(shape) + " values");
      }
      feed.put(in.name(), Ort.Data.of(t, shape, v));
    }
    Map<String, Ort.Data> seeds = new LinkedHashMap<>();
    for (Value o : fwd.graph().outputs()) {
      long[] shape = o.shape().toArray();
      seeds.put(Loss.seedName(o.name()), Ort.Data.of(type, shape, normal(rnd, (int) count(shape))));
    }
    double h = type == DataType.DOUBLE ? 1e-6 : 1e-2;
    double worst = 0;
    // In training mode the forward differs from the inference model (batch statistics): difference
    // the forward outputs of the gradient graph, which are the training-mode forward.
    Model fdModel = mode == BatchNormMode.TRAINING ? forwardOf(grad, outs) : fwd;
    try (OrtSession gs = Ort.open(grad); OrtSession fs = Ort.open(fdModel)) {
      Map<String, Ort.Data> gfeed = new LinkedHashMap<>(feed);
      gfeed.putAll(seeds);
      Map<String, double[]> got = Ort.run(gs, gfeed);
      for (String w : wrt) {
        double[] ad = got.get(Autodiff.gradientName(w));
        Ort.Data x = feed.get(w);
        double num = 0;
        double den = 1e-12;
        int n = x.values().length;
        List<Integer> coords = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          coords.add(i);
        }
        java.util.Collections.shuffle(coords, rnd);
        for (int c : coords.subList(0, Math.min(COORDS, n))) {
          double[] plus = x.values().clone();
          double[] minus = x.values().clone();
          plus[c] += h;
          minus[c] -= h;
          double fd = (loss(fs, feed, w, x, plus, seeds) - loss(fs, feed, w, x, minus, seeds)) / (2 * h);
          num = Math.max(num, Math.abs(fd - ad[c]));
          den = Math.max(den, Math.max(Math.abs(fd), Math.abs(ad[c])));
        }
        worst = Math.max(worst, num / den);
      }
    }
    return new Result(rule, name, type, worst);
  }

  /** {@code grad} with only the outputs {@code outs} (the forward part), seeds unused. */
  private static Model forwardOf(Model grad, List<String> outs) throws OrtException {
    Model m;
    try {
      m = dev.onnxprune.graph.OnnxModels.read(dev.onnxprune.graph.OnnxModels.toBytes(grad), null);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    var g = m.graph();
    for (int i = g.outputs().size() - 1; i >= 0; i--) {
      if (!outs.contains(g.outputs().get(i).name())) {
        g.removeOutput(i);
      }
    }
    g.removeDeadCode();
    for (Value in : new ArrayList<>(g.inputs())) {
      if (in.uses().isEmpty() && !in.isInitializer()) {
        g.removeInput(in);
      }
    }
    return m;
  }

  private static double loss(OrtSession fs, Map<String, Ort.Data> feed, String w, Ort.Data x, double[] values,
      Map<String, Ort.Data> seeds) throws OrtException {
    Map<String, Ort.Data> f = new LinkedHashMap<>(feed);
    f.put(w, Ort.Data.of(x.type(), x.shape(), values));
    Map<String, double[]> out = Ort.run(fs, f);
    double l = 0;
    for (Map.Entry<String, double[]> e : out.entrySet()) {
      double[] s = seeds.get(Loss.seedName(e.getKey())).values();
      double[] y = e.getValue();
      for (int i = 0; i < y.length; i++) {
        l += y[i] * s[i];
      }
    }
    return l;
  }

  static double[] normal(Random rnd, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = rnd.nextGaussian();
    }
    return v;
  }

  /** Distinct values at least {@code gap} apart in random order: no ties, no value within gap/2 of a kink at 0. */
  static double[] spaced(Random rnd, int n, double gap) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = (i - n / 2 + 0.5) * gap;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      double t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
    return v;
  }

  static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }
}
