package dev.onnxprune.training;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;

/** Test helper: fixture models and the first calibration images, normalised as the fixtures were trained. */
final class Fixtures {
  static final Normalization NORM = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});

  private Fixtures() {}

  static Model model(String file) throws IOException {
    return OnnxModels.read(TestModels.model(file));
  }

  /** The first {@code n} calibration images and labels as one batch. */
  static Batch calibration(int n) throws IOException {
    ArrayDataset d = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), NORM, n);
    return d.batches(n).next();
  }
}
