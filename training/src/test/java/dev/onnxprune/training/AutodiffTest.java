package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PrunePlan;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The gradient API on real fixtures: masks (from surgery's MaskInsertion), activations, errors. */
class AutodiffTest {
  /** resnet20 with channels 0 and 3 of its first prunable group masked; returns the mask's name. */
  private static String masked(Model m) {
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    ChannelGroup group = a.prunableGroups().get(0);
    new MaskInsertion(PrunePlan.builder(a).remove(group, 0, 3).build()).run(a.model());
    for (Value v : m.graph().initializers()) {
      if (v.name().endsWith("_mask")) {
        return v.name();
      }
    }
    throw new AssertionError("no mask inserted");
  }

  /** Turns initializer {@code name} into a graph input of the same name (so it can be fed). */
  private static void toInput(Model m, String name) {
    Graph g = m.graph();
    Value init = g.lookup(name);
    Value in = g.addInput(name + "_in", new ValueType.TensorType(DataType.FLOAT, init.initializer().shape()));
    init.replaceAllUsesWith(in);
    g.removeInitializer(init);
    in.rename(name);
  }

  private static Map<String, Ort.Data> feed(Batch b, String mask, double[] maskValues, long[] maskShape) {
    Map<String, Ort.Data> f = new LinkedHashMap<>();
    double[] x = new double[b.inputs().length];
    for (int i = 0; i < x.length; i++) {
      x[i] = b.inputs()[i];
    }
    double[] y = new double[b.size()];
    for (int i = 0; i < y.length; i++) {
      y[i] = b.labels()[i];
    }
    f.put("input", Ort.Data.of(DataType.FLOAT, b.shape(), x));
    f.put("labels", Ort.Data.of(DataType.INT64, new long[] {b.size()}, y));
    f.put(mask, Ort.Data.of(DataType.FLOAT, maskShape, maskValues));
    return f;
  }

  @Test
  void maskInputGradientMatchesFiniteDifferences() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    String mask = masked(m);
    long[] shape = m.graph().lookup(mask).initializer().dims();
    double[] values = new double[(int) GradCheck.count(shape)];
    java.util.Arrays.fill(values, 1);
    toInput(m, mask); // feed all-ones: the gradient at the unpruned model
    Model grad = Autodiff.gradients(m, Loss.crossEntropy("logits"), List.of(mask));
    GraphVerifier.verify(grad);
    assertEquals(List.of("loss", mask + "_grad", "logits"), grad.graph().outputs().stream().map(Value::name).toList());
    Batch b = Fixtures.calibration(8);
    // float32 (ORT's Conv has no double kernel); the ReLUs' kinks limit how small h can usefully be
    double h = 1e-3;
    double num = 0;
    double den = 0;
    try (OrtSession s = Ort.open(grad)) {
      double[] g = Ort.run(s, feed(b, mask, values, shape)).get(mask + "_grad");
      assertEquals(values.length, g.length);
      for (int c = 0; c < values.length; c++) {
        double[] p = values.clone();
        double[] q = values.clone();
        p[c] += h;
        q[c] -= h;
        double fd = (Ort.run(s, feed(b, mask, p, shape)).get("loss")[0]
            - Ort.run(s, feed(b, mask, q, shape)).get("loss")[0]) / (2 * h);
        num = Math.max(num, Math.abs(fd - g[c]));
        den = Math.max(den, Math.abs(fd));
      }
    }
    System.out.printf("dL/dmask of resnet20 (%d channels) vs finite differences (float32, h=1e-3): max rel %.1e%n",
        values.length, num / den);
    assertTrue(num / den < 3e-2, "dL/dmask error " + num / den);
  }

  @Test
  void maskedChannelsGetNoGradientInTheirConsumers() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    String mask = masked(m);
    Node mul = m.graph().lookup(mask).consumers().get(0);
    Node conv = mul.output(0).consumers().stream().filter(n -> n.is("Conv")).findFirst().orElseThrow();
    String weight = conv.input(1).name();
    Model grad = Autodiff.gradients(m, Loss.crossEntropy("logits"), List.of(weight), BatchNormMode.TRAINING);
    Batch b = Fixtures.calibration(8);
    try (OrtSession s = Ort.open(grad)) {
      Map<String, Ort.Data> f = feed(b, "unused", new double[0], new long[] {0});
      double[] g = Ort.run(s, f).get(weight + "_grad");
      long[] wd = conv.input(1).initializer().dims();
      int perIn = (int) (wd[2] * wd[3]);
      int in = (int) wd[1];
      boolean other = false;
      for (int o = 0; o < wd[0]; o++) {
        for (int c = 0; c < in; c++) {
          for (int k = 0; k < perIn; k++) {
            double v = g[(o * in + c) * perIn + k];
            if (c == 0 || c == 3) {
              assertEquals(0.0, v, "weight [" + o + "," + c + "] reads a pruned channel");
            } else {
              other |= v != 0;
            }
          }
        }
      }
      assertTrue(other, "the other input channels have gradients");
    }
  }

  @Test
  void activationGradientTimesActivationSumsToTheMaskGradient() throws Exception {
    // dL/dm_c = sum_{n,h,w} a * dL/d(a m) at m = 1: the Taylor score of a channel two ways.
    Model m = Fixtures.model("resnet20.onnx");
    String mask = masked(m);
    Node mul = m.graph().lookup(mask).consumers().get(0);
    String act = mul.input(0).name();
    String maskedAct = mul.output(0).name();
    m.graph().lookup(mask).setInitializer(Tensor.ofFloats(m.graph().lookup(mask).initializer().dims(),
        ones((int) m.graph().lookup(mask).initializer().elementCount())));
    Model grad = Autodiff.gradients(m, Loss.crossEntropy("logits"), List.of(mask, maskedAct));
    // expose the activation too
    grad.graph().addOutput(grad.graph().lookup(act));
    Batch b = Fixtures.calibration(4);
    try (OrtSession s = Ort.open(grad)) {
      Map<String, double[]> out = Ort.run(s, feed(b, "unused", new double[0], new long[] {0}));
      double[] gm = out.get(mask + "_grad");
      double[] ga = out.get(maskedAct + "_grad");
      double[] a = out.get(act);
      int c = gm.length;
      int plane = a.length / (4 * c);
      for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int n = 0; n < 4; n++) {
          for (int p = 0; p < plane; p++) {
            int i = (n * c + ch) * plane + p;
            sum += a[i] * ga[i];
          }
        }
        assertEquals(sum, gm[ch], 1e-5 + 1e-3 * Math.abs(sum), "channel " + ch);
      }
    }
  }

  private static float[] ones(int n) {
    float[] f = new float[n];
    java.util.Arrays.fill(f, 1f);
    return f;
  }

  @Test
  void opWithoutRuleIsNamedInTheError() {
    OpModel m = new OpModel(DataType.FLOAT);
    Value x = m.input("x", 2, 3);
    Value e = m.op("Sin", List.of(x));
    m.output(m.op("Relu", List.of(e)));
    GradientException ex = assertThrows(GradientException.class,
        () -> Autodiff.gradients(m.model, Loss.dot("y1"), List.of("x")));
    assertTrue(ex.getMessage().startsWith("cannot differentiate node 'sin' (Sin): no gradient rule for Sin"),
        ex.getMessage());
    GradientException unknown = assertThrows(GradientException.class,
        () -> Autodiff.gradients(m.model, Loss.dot("y1"), List.of("nope")));
    assertTrue(unknown.getMessage().startsWith("value to differentiate 'nope' is not in the model; known: x"),
        unknown.getMessage());
  }
}
