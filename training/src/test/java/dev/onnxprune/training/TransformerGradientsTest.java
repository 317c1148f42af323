package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every transformer fixture differentiates end to end (token embeddings, position tables, causal
 * masks by Where, GELU by Erf, RMSNorm by Pow/Sqrt/Div, rotary embeddings by Slice/Neg/Concat,
 * grouped-query attention by Expand, fused LayerNormalization): {@code L = <logits, s>} for random
 * seeds s, and the gradient of each weight named below checked against central differences of the
 * forward model at a few coordinates (float32, h = 1e-2, the tolerance of {@link GradientCheckTest}).
 */
class TransformerGradientsTest {
  static Stream<String[]> fixtures() {
    return Stream.of(
        new String[] {"bert_tiny.onnx", "word.weight", "position.weight", "emb_norm.weight"},
        new String[] {"gpt_tiny.onnx", "word.weight", "position.weight", "ln.bias"},
        new String[] {"gpt_tiny17.onnx", "word.weight", "ln.weight", "position.weight"},
        new String[] {"llama_tiny.onnx", "word.weight", "norm.weight", "blocks.0.norm1.weight"});
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void weightGradientsMatchFiniteDifferences(String file, String w1, String w2, String w3) throws Exception {
    Model m = Fixtures.model(file);
    List<String> outs = new ArrayList<>();
    for (Value v : m.graph().outputs()) {
      outs.add(v.name());
    }
    List<String> wrt = List.of(w1, w2, w3);
    Model grad = Autodiff.gradients(m, new Loss.Dot(outs), wrt);
    GraphVerifier.verify(grad);
    Random rnd = new Random(file.hashCode());
    long[] ids = {2, 12};
    Map<String, Ort.Data> feed = new LinkedHashMap<>();
    for (Value in : m.graph().runtimeInputs()) {
      double[] v = new double[24];
      for (int i = 0; i < v.length; i++) {
        v[i] = in.name().equals("attention_mask") ? (i % 12 < 10 ? 1 : 0) : 1 + rnd.nextInt(60);
      }
      feed.put(in.name(), Ort.Data.of(DataType.INT64, ids, v));
    }
    Map<String, Ort.Data> weights = new LinkedHashMap<>();
    for (String w : wrt) {
      var t = m.graph().lookup(w).initializer();
      float[] f = t.toFloatArray();
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        d[i] = f[i];
      }
      weights.put(w, Ort.Data.of(DataType.FLOAT, t.dims(), d));
    }
    Map<String, Ort.Data> seeds = new LinkedHashMap<>();
    Map<String, Ort.Data> gfeed = new LinkedHashMap<>(feed);
    try (OrtSession gs = Ort.open(grad)) {
      Map<String, double[]> probe = Ort.run(gs, withSeeds(gfeed, grad, outs, rnd, seeds));
      // forward model with the weights as inputs, to perturb them
      Model fwd = m.copy();
      for (String w : wrt) {
        Value v = fwd.graph().lookup(w);
        Value in = fwd.graph().addInput(fwd.graph().uniqueName(w + "_in"), v.type() != null ? v.type()
            : new dev.onnxprune.graph.ValueType.TensorType(DataType.FLOAT, v.initializer().shape()));
        v.replaceAllUsesWith(in);
        fwd.graph().removeInitializer(v);
        in.rename(w);
      }
      try (OrtSession fs = Ort.open(fwd)) {
        double h = 1e-2;
        for (String w : wrt) {
          double[] ad = probe.get(Autodiff.gradientName(w));
          Ort.Data x = weights.get(w);
          double num = 0;
          double den = 1e-12;
          for (int k = 0; k < 6; k++) {
            int c = largest(ad, k);
            double[] plus = x.values().clone();
            double[] minus = x.values().clone();
            plus[c] += h;
            minus[c] -= h;
            double fd = (loss(fs, feed, weights, w, Ort.Data.of(DataType.FLOAT, x.shape(), plus), seeds, outs)
                - loss(fs, feed, weights, w, Ort.Data.of(DataType.FLOAT, x.shape(), minus), seeds, outs)) / (2 * h);
            num = Math.max(num, Math.abs(fd - ad[c]));
            den = Math.max(den, Math.max(Math.abs(fd), Math.abs(ad[c])));
          }
          System.out.printf("%s: d/d %s max rel err %.2e (scale %.3g)%n", file, w, num / den, den);
          assertTrue(num / den <= GradientCheckTest.TOL_FLOAT, file + " " + w + ": " + num / den);
        }
      }
    }
  }

  /** The coordinate of the k-th largest |gradient| (where the check means something). */
  private static int largest(double[] g, int k) {
    Integer[] order = new Integer[g.length];
    for (int i = 0; i < g.length; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (a, b) -> Double.compare(Math.abs(g[b]), Math.abs(g[a])));
    return order[k];
  }

  private static Map<String, Ort.Data> withSeeds(Map<String, Ort.Data> feed, Model grad, List<String> outs, Random rnd,
      Map<String, Ort.Data> seeds) {
    for (String o : outs) {
      Value s = grad.graph().lookup(Loss.seedName(o));
      long[] shape = {2, 12, 64};
      if (s.shape() != null && s.shape().dim(s.shape().rank() - 1).isKnown()) {
        long last = s.shape().dim(s.shape().rank() - 1).get();
        shape = s.shape().rank() == 2 ? new long[] {2, last} : new long[] {2, 12, last};
      }
      seeds.put(Loss.seedName(o), Ort.Data.of(DataType.FLOAT, shape, GradCheck.normal(rnd, (int) GradCheck.count(shape))));
    }
    Map<String, Ort.Data> all = new LinkedHashMap<>(feed);
    all.putAll(seeds);
    return all;
  }

  private static double loss(OrtSession fs, Map<String, Ort.Data> feed, Map<String, Ort.Data> weights, String w,
      Ort.Data value, Map<String, Ort.Data> seeds, List<String> outs) throws Exception {
    Map<String, Ort.Data> f = new LinkedHashMap<>(feed);
    f.putAll(weights);
    f.put(w, value);
    Map<String, double[]> y = Ort.run(fs, f);
    double l = 0;
    for (String o : outs) {
      double[] s = seeds.get(Loss.seedName(o)).values();
      double[] v = y.get(o);
      for (int i = 0; i < v.length; i++) {
        l += v[i] * s[i];
      }
    }
    return l;
  }
}
