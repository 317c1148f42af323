package dev.onnxprune.surgery;

import dev.onnxprune.errors.InvalidOptionException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

class MagnitudeMaskingTest {

  @Test
  void zeroSmallestRemovesExactlyKByMagnitudeThenPosition() {
    float[] f = {0.5f, -0.1f, 0.3f, 0.1f, -2f, 0f};
    MagnitudeMasking.zeroSmallest(f, 3);
    assertArrayEquals(new float[] {0.5f, 0f, 0.3f, 0f, -2f, 0f}, f);
  }

  @Test
  void perLayerReachesTheSparsityInEveryLayer() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    MagnitudeMasking.Result r = MagnitudeMasking.magnitude(0.8, false).run(m);
    assertTrue(r.layers().size() >= 20);
    for (MagnitudeMasking.Layer l : r.layers()) {
      assertEquals(Math.floor(0.8 * l.elements()) / l.elements(), l.sparsity(), 1.0 / l.elements(), l.toString());
    }
  }

  @Test
  void globalReachesTheTotalSparsityWithUnevenLayers() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    MagnitudeMasking.Result r = MagnitudeMasking.magnitude(0.7, true).run(m);
    assertEquals(0.7, r.sparsity(), 1e-3);
    double min = r.layers().stream().mapToDouble(MagnitudeMasking.Layer::sparsity).min().orElseThrow();
    double max = r.layers().stream().mapToDouble(MagnitudeMasking.Layer::sparsity).max().orElseThrow();
    assertTrue(max - min > 0.05, "a global threshold spreads sparsity unevenly: " + min + ".." + max);
  }

  @Test
  void twoFourKeepsTwoOfEveryFourAlongTheInputAxis() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    MagnitudeMasking.Result r = MagnitudeMasking.nm(2, 4).run(m);
    for (MagnitudeMasking.Layer l : r.layers()) {
      if (l.note().isEmpty()) {
        assertEquals(0.5, l.sparsity(), 1e-9, l.toString());
      } else {
        assertTrue(l.note().startsWith("dense: input axis of"), l.note());
      }
    }
    // Every run of 4 along Conv input channels has at most 2 non-zeros.
    Value w = MagnitudeMasking.weights(m.graph()).keySet().stream().filter(v -> v.initializer().rank() == 4
        && v.initializer().dim(1) % 4 == 0).findFirst().orElseThrow();
    long[] d = w.initializer().dims();
    float[] f = w.initializer().toFloatArray();
    long inner = d[2] * d[3];
    for (int o = 0; o < d[0]; o++) {
      for (int start = 0; start < d[1]; start += 4) {
        for (int r2 = 0; r2 < inner; r2++) {
          int nz = 0;
          for (int j = 0; j < 4; j++) {
            if (f[(int) ((o * d[1] + start + j) * inner + r2)] != 0f) {
              nz++;
            }
          }
          assertTrue(nz <= 2);
        }
      }
    }
  }

  @Test
  void badOptionsAreRefused() {
    InvalidOptionException sparsity =
        assertThrows(InvalidOptionException.class, () -> MagnitudeMasking.magnitude(1.5, false));
    assertEquals("masking.sparsity", sparsity.key());
    assertEquals("masking.sparsity must be in (0, 1): 1.5", sparsity.getMessage());
    InvalidOptionException nm = assertThrows(InvalidOptionException.class, () -> MagnitudeMasking.nm(4, 2));
    assertEquals("masking.nm", nm.key());
    assertEquals("masking.nm needs 0 < N < M: '4:2'", nm.getMessage());
  }
}
