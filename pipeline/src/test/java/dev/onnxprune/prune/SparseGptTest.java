package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.MagnitudeMasking;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** SparseGPT against the OBS update by hand, against magnitude masking, and on trained fixtures. */
class SparseGptTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);

  /**
   * One row, two inputs, half masked. H = [[4, 1], [1, 2]] damped by 1% of its mean diagonal (0.03):
   * [[4.03, 1], [1, 2.03]]. The first weight (0.1) scores lowest and goes; OBS gives the second its
   * optimal compensation {@code w1 + w0 H01 / H11} = 2 + 0.1 / 2.03.
   */
  @Test
  void obsUpdateByHand() {
    double[] q = SparseGpt.unstructured(0.5).prune(new double[] {0.1, 2}, new double[] {4, 1, 1, 2}, 1, 2);
    assertArrayEquals(new double[] {0, 2 + 0.1 / 2.03}, q, 1e-12);
    // 1:2 picks the same, per run of two
    double[] nm = SparseGpt.nm(1, 2).prune(new double[] {0.1, 2}, new double[] {4, 1, 1, 2}, 1, 2);
    assertArrayEquals(q, nm, 1e-12);
  }

  /**
   * x[N,8] -> Gemm (6 outputs, transB) with correlated inputs: at 50% and 2:4 the mask has the
   * asked zeros, and SparseGPT's reconstruction error of the layer's output is below magnitude
   * masking's at the same sparsity (both measured on the same calibration input).
   */
  @Test
  void lowerErrorThanMagnitudeOnASmallLayer() {
    Random r = new Random(9);
    float[] w = new float[6 * 8];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian();
    }
    Graph g = new Graph("fc");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(8))));
    Value y = g.addNode("Gemm", "fc", List.of(x, g.addInitializer("w", Tensor.ofFloats(new long[] {6, 8}, w))),
        List.of("y"), Attribute.of("transB", 1L)).output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    int n = 64;
    float[] xs = new float[n * 8];
    for (int s = 0; s < n; s++) {
      double common = r.nextGaussian();
      for (int i = 0; i < 8; i++) {
        xs[s * 8 + i] = (float) (common * (i % 3) + 0.5 * r.nextGaussian());
      }
    }
    ArrayDataset data = new ArrayDataset(xs, new long[] {8}, null);
    for (SparseGpt sg : List.of(SparseGpt.unstructured(0.5), SparseGpt.nm(2, 4))) {
      SparseGpt.Result res = sg.run(m, data, 16, 0, CPU, null);
      assertEquals(24, res.zeros(), res.layers().toString());
      SparseGpt.Layer l = res.layers().get(0);
      assertTrue(l.error() < l.magnitudeError(), l.toString());
      // the error the layer reports is the output error on the data
      float[] q = res.model().graph().lookup("w").initializer().toFloatArray();
      double num = 0;
      double den = 0;
      for (int s = 0; s < n; s++) {
        for (int o = 0; o < 6; o++) {
          double a = 0;
          double b = 0;
          for (int i = 0; i < 8; i++) {
            a += q[o * 8 + i] * xs[s * 8 + i];
            b += w[o * 8 + i] * xs[s * 8 + i];
          }
          num += (a - b) * (a - b);
          den += b * b;
        }
      }
      assertEquals(num / den, l.error(), 1e-4 * num / den);
    }
    assertArrayEquals(w, m.graph().lookup("w").initializer().toFloatArray(), "the input model changed");
    float[] q = SparseGpt.nm(2, 4).run(m, data, 16, 0, CPU, null).model().graph().lookup("w").initializer()
        .toFloatArray();
    for (int run = 0; run < 6 * 2; run++) { // 2:4: two zeros in every run of 4 inputs
      int z = 0;
      for (int i = 0; i < 4; i++) {
        z += q[run * 4 + i] == 0f ? 1 : 0;
      }
      assertEquals(2, z, "run " + run);
    }
    assertEquals("masking.sparsity", assertThrows(InvalidOptionException.class, () -> SparseGpt.unstructured(1))
        .key());
    assertEquals("masking.nm", assertThrows(InvalidOptionException.class, () -> SparseGpt.nm(4, 4)).key());
  }

  /**
   * ResNet-20 and VGG at 50% and 2:4 (256 calibration images): every layer's reconstruction error
   * is below magnitude masking's, the sparsity is what was asked, and top-1 on 1,000 test images
   * is above magnitude masking's (printed).
   */
  @Test
  void fixturesBeatMagnitudeMasking() throws Exception {
    ArrayDataset calib = LeastSquaresRefitTest.fmnist(256);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), 1000);
    for (String name : List.of("resnet20.onnx", "vgg_bn.onnx")) {
      Model m = OnnxModels.read(TestModels.model(name));
      for (int mode = 0; mode < 2; mode++) {
        SparseGpt sg = mode == 0 ? SparseGpt.unstructured(0.5) : SparseGpt.nm(2, 4);
        SparseGpt.Result res = sg.run(m, calib, 64, 0, CPU, null);
        double worst = 0;
        for (SparseGpt.Layer l : res.layers()) {
          if (l.note().isEmpty()) {
            assertTrue(l.error() <= l.magnitudeError(), l.toString());
            worst = Math.max(worst, l.error() / l.magnitudeError());
          }
        }
        Model mag = m.copy();
        MagnitudeMasking.Result mr = (mode == 0 ? MagnitudeMasking.magnitude(0.5, false) : MagnitudeMasking.nm(2, 4))
            .run(mag);
        assertEquals(0.5, res.sparsity(), 0.01);
        double top1 = top1(res.model(), test);
        double magTop1 = top1(mag, test);
        System.out.printf("%s %s: top-1 %.4f sparsegpt, %.4f magnitude (%.4f / %.4f zeros; worst layer error ratio"
            + " %.3f; %.1f s on %d samples)%n", name, mode == 0 ? "50%" : "2:4", top1, magTop1, res.sparsity(),
            mr.sparsity(), worst, res.seconds(), res.samples());
        assertTrue(top1 >= magTop1, name + ": " + top1 + " against " + magTop1);
      }
    }
  }

  private static double top1(Model m, ArrayDataset test) throws Exception {
    try (Runner runner = Runner.open(CPU, m)) {
      return new Evaluator(runner).evaluate(test, 100).top1();
    }
  }
}
