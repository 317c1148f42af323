package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.surgery.BatchNormFolding;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

class BatchNormInsertionTest {
  static ArrayDataset calibration(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), Fixtures.NORM, n);
  }

  static float[] logits(Model m, Batch b) throws Exception {
    try (Runner r = Runner.open(Ort.SESSIONS, m)) {
      return r.run(b);
    }
  }

  static void assertClose(float[] want, float[] got, double tol) {
    assertEquals(want.length, got.length);
    double max = 0;
    for (int i = 0; i < want.length; i++) {
      max = Math.max(max, Math.abs(want[i] - got[i]) / (1 + Math.abs(want[i])));
    }
    assertTrue(max < tol, "max relative difference " + max);
  }

  @Test
  void aFoldedResNetGetsABatchNormAfterEveryConvAndComputesTheSameFunction() throws Exception {
    Model folded = Fixtures.model("resnet20_folded.onnx");
    int convs = (int) folded.graph().nodes().stream().filter(n -> n.is("Conv")).count();
    assertEquals(convs, BatchNormInsertion.targets(folded).size());

    BatchNormInsertion.Result r = BatchNormInsertion.run(folded, calibration(256), 64, 0, Ort.SESSIONS);
    assertEquals(convs, r.inserted().size());
    assertEquals(256, r.samples());
    GraphVerifier.verify(r.model());
    for (Node n : r.model().graph().nodes()) {
      if (n.is("Conv")) {
        assertEquals(1, n.output(0).uses().size());
        assertTrue(n.output(0).uses().get(0).node().is("BatchNormalization"), n.describe());
      }
    }
    assertEquals(0, BatchNormInsertion.targets(r.model()).size(), "nothing left to insert");

    Batch test = calibration(320).batches(320).next().firstRows(320);
    float[] want = logits(folded, test);
    assertClose(want, logits(r.model(), test), 1e-4);

    Model back = r.model().copy();
    BatchNormFolding.Result f = BatchNormFolding.marked(BatchNormInsertion.MARK).run(back);
    assertEquals(convs, f.folded());
    assertEquals(folded.graph().nodes().size(), back.graph().nodes().size());
    assertClose(want, logits(back, test), 1e-4);
  }

  @Test
  void theInsertedStatisticsAreTheConvolutionOutputsOnTheCalibrationData() throws Exception {
    Model folded = Fixtures.model("resnet20_folded.onnx");
    ArrayDataset data = calibration(128);
    BatchNormInsertion.Result r = BatchNormInsertion.run(folded, data, 32, 0, Ort.SESSIONS);
    // recalibrating the first BatchNorm (right after the stem conv, whose input is the data) on the same
    // samples in one batch must find the statistics it already has
    BnRecalibration.Result again = BnRecalibration.run(r.model(), data, 128, 1, Ort.SESSIONS);
    Node first = r.model().graph().nodes().stream().filter(n -> n.is("BatchNormalization")).findFirst().orElseThrow();
    Node recal = again.model().graph().nodes().stream().filter(n -> n.is("BatchNormalization")).findFirst()
        .orElseThrow();
    for (int slot = 3; slot <= 4; slot++) {
      float[] had = value(first.input(slot));
      float[] found = value(recal.input(slot));
      for (int c = 0; c < had.length; c++) {
        assertEquals(found[c], had[c], 1e-3 * (1 + Math.abs(found[c])), "slot " + slot + " channel " + c);
      }
    }
  }

  @Test
  void aModelWithBatchNormKeptHasNothingToInsert() throws Exception {
    Model bn = Fixtures.model("resnet20.onnx");
    assertEquals(0, BatchNormInsertion.targets(bn).size());
    BatchNormInsertion.Result r = BatchNormInsertion.run(bn, calibration(64), 32, 0, Ort.SESSIONS);
    assertTrue(r.inserted().isEmpty());
    assertEquals(bn.graph().nodes().size(), r.model().graph().nodes().size());
  }

  private static float[] value(Value v) {
    return v.initializer().toFloatArray();
  }
}
