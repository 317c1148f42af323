package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ScratchTest {
  @Test
  void heNormalWeightsZeroBiasesAndFreshBatchNorm() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    Model r = Scratch.reinitialize(m, 7);
    GraphVerifier.verify(r);
    int convs = 0;
    for (Node n : r.graph().nodes()) {
      if (n.is("Conv")) {
        float[] w = n.input(1).initializer().toFloatArray();
        long[] d = n.input(1).initializer().dims();
        double want = Math.sqrt(2.0 / (d[1] * d[2] * d[3]));
        double[] ms = meanStd(w);
        // the standard error of a sample std is std / sqrt(2n): 4 of them, or 3%, whichever is larger
        double tol = Math.max(0.03, 4 / Math.sqrt(2.0 * w.length));
        assertEquals(want, ms[1], tol * want, n.describe() + " std of " + w.length);
        assertEquals(0, ms[0], 4 * want / Math.sqrt(w.length), n.describe() + " mean");
        convs++;
      }
      if (n.is("BatchNormalization")) {
        assertAll(n.input(1), 1f);
        assertAll(n.input(2), 0f);
        assertAll(n.input(3), 0f);
        assertAll(n.input(4), 1f);
      }
      if (n.is("Gemm")) {
        float[] w = Parameters.source(n.input(1)).toFloatArray();
        assertEquals(Math.sqrt(2.0 / 64), meanStd(w)[1], 0.1 * Math.sqrt(2.0 / 64), "fc weight [10, 64], fan_in 64");
        assertAll(n.input(2), 0f);
      }
    }
    assertEquals(21, convs);
    // the large 3x3 64->64 convs: within 1.5% of sqrt(2 / 576)
    float[] big = r.graph().lookup("layers.8.conv2.weight").initializer().toFloatArray();
    assertEquals(Math.sqrt(2.0 / 576), meanStd(big)[1], 0.015 * Math.sqrt(2.0 / 576));
    // seeded: the same seed gives the same weights, another seed others; the input model is kept
    assertArrayEquals(big, Scratch.reinitialize(m, 7).graph().lookup("layers.8.conv2.weight").initializer()
        .toFloatArray());
    assertFalse(Arrays.equals(big, Scratch.reinitialize(m, 8).graph().lookup("layers.8.conv2.weight")
        .initializer().toFloatArray()));
    assertFalse(Arrays.equals(big, m.graph().lookup("layers.8.conv2.weight").initializer().toFloatArray()));
  }

  @Test
  void fanOutDividesByOutputChannels() throws Exception {
    Model r = Scratch.reinitialize(Fixtures.model("resnet20.onnx"), 3, Scratch.Fan.OUT);
    // layers.3.conv1: 16 -> 32, 3x3: fan_out 32 * 9
    float[] w = r.graph().lookup("layers.3.conv1.weight").initializer().toFloatArray();
    assertEquals(Math.sqrt(2.0 / (32 * 9)), meanStd(w)[1], 0.05 * Math.sqrt(2.0 / (32 * 9)));
  }

  @Test
  void scratchBScalesEpochsByTheFlopsReduction() throws Exception {
    assertEquals(4, Scratch.budgetEpochs(2, 100, 50));
    assertEquals(8, Scratch.budgetEpochs(3, 10, 4)); // 7.5 rounds up
    assertEquals(7, Scratch.budgetEpochs(3, 10, 4.3)); // 6.98
    assertEquals(3, Scratch.budgetEpochs(3, 100, 100));
    assertEquals(3, Scratch.budgetEpochs(3, 90, 100)); // never fewer than the fine-tuning epochs
    assertEquals(160, Scratch.budgetEpochs(80, 2.0e9, 1.0e9));
    assertThrows(IllegalArgumentException.class, () -> Scratch.budgetEpochs(0, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> Scratch.budgetEpochs(1, 1, 0));
    Model m = Fixtures.model("resnet20.onnx");
    long f = Scratch.flops(m);
    assertTrue(f > 50_000_000 && f < 100_000_000, "resnet20 on 28x28: " + f);
    assertEquals(2, Scratch.budgetEpochs(2, m, m));
  }

  private static void assertAll(dev.onnxprune.graph.Value v, float want) {
    Tensor t = Parameters.source(v);
    for (float f : t.toFloatArray()) {
      assertEquals(want, f, v.name());
    }
  }

  static double[] meanStd(float[] w) {
    double s = 0;
    for (float f : w) {
      s += f;
    }
    double mean = s / w.length;
    double q = 0;
    for (float f : w) {
      q += (f - mean) * (f - mean);
    }
    return new double[] {mean, Math.sqrt(q / w.length)};
  }
}
