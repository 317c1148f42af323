package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.MaskInsertion;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Extra graph inputs (channel masks) fed to a training session, gradients with respect to them,
 * probes that change nothing, and state tensors read and replaced between steps: what the
 * training-time pruning methods (Taylor, adversarial PGD on masks, PruneNet's proximal steps) use.
 */
class MaskFeedTest {
  @Test
  void maskGradientsMatchFiniteDifferencesAndProbesChangeNothing() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    MaskInsertion mi = MaskInsertion.inputs(a).rows(1);
    mi.run(a.model());
    Map<Integer, String> masks = mi.maskInputs();
    String first = masks.values().iterator().next();
    TrainingOptions o = TrainingOptions.builder().gradientOutputs(masks.values()).build();
    TrainingArtifact art = TrainingArtifact.build(m, o);
    assertEquals(masks.size(), art.spec().feeds().size());
    assertEquals("onnxprune_mask_" + masks.keySet().iterator().next() + "_grad", art.spec().gradients().get(first));
    Batch b = Fixtures.calibration(16);
    try (TrainingSession s = TrainingSession.open(art, Sessions.cpu())) {
      assertThrows(IllegalStateException.class, () -> s.probe(b), "an unfed mask must be refused");
      Map<String, Integer> sizes = new java.util.HashMap<>();
      for (Map.Entry<Integer, String> e : masks.entrySet()) {
        int c = a.groups().get(e.getKey()).size();
        sizes.put(e.getValue(), c);
        float[] ones = new float[c];
        Arrays.fill(ones, 1f);
        s.feed(e.getValue(), ones, 1, c);
      }
      String weight = art.spec().state(ArtifactSpec.PARAMETER).get(0).name();
      float[] w0 = s.get(weight);
      TrainingSession.StepResult base = s.probe(b);
      float[] g = s.gradient(first);
      assertEquals(sizes.get(first), g.length);
      assertArrayEquals(w0, s.get(weight), "a probe must not update parameters");
      assertEquals(0, s.steps());
      // central differences of the probe loss in one mask entry, for the three largest gradients
      int c = sizes.get(first);
      Integer[] order = new Integer[c];
      for (int i = 0; i < c; i++) {
        order[i] = i;
      }
      Arrays.sort(order, (x, y) -> Float.compare(Math.abs(g[y]), Math.abs(g[x])));
      double h = 0.05;
      for (int k = 0; k < 3; k++) {
        int ch = order[k];
        double[] loss = new double[2];
        for (int sgn = 0; sgn < 2; sgn++) {
          float[] mask = new float[c];
          Arrays.fill(mask, 1f);
          mask[ch] += (float) (sgn == 0 ? h : -h);
          s.feed(first, mask, 1, c);
          loss[sgn] = s.probe(b).loss();
        }
        double fd = (loss[0] - loss[1]) / (2 * h);
        assertEquals(fd, g[ch], 2e-3 + 0.02 * Math.abs(fd), "dL/dmask[" + ch + "] against central differences");
      }
      float[] ones = new float[c];
      Arrays.fill(ones, 1f);
      s.feed(first, ones, 1, c);
      assertEquals(base.loss(), s.probe(b).loss(), 1e-6, "the same feeds give the same loss");
      // a step moves the weights; set() puts them back and the loss returns with them
      s.step(b, 0.05);
      assertNotEquals(Arrays.toString(w0), Arrays.toString(s.get(weight)));
      assertTrue(s.evaluate(b).size() == 16);
      s.set(weight, w0);
      assertArrayEquals(w0, s.get(weight));
      assertThrows(IllegalArgumentException.class, () -> s.set(weight, new float[3]));
      assertThrows(IllegalArgumentException.class, () -> s.get("nope"));
      assertThrows(IllegalArgumentException.class, () -> s.feed("nope", ones, 1, c));
      assertThrows(IllegalArgumentException.class, () -> s.feed(first, ones, 2, c));
    }
  }

  @Test
  void unknownGradientOutputIsNamed() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    TrainingOptions o = TrainingOptions.builder().gradientOutputs("no_such_value").build();
    GradientException e = assertThrows(GradientException.class, () -> TrainingArtifact.build(m, o));
    assertTrue(e.getMessage().contains("no_such_value"), e.getMessage());
  }
}
