package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.errors.TrainingDivergedException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
  @TempDir
  Path tmp;

  static ArrayDataset calibration(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), Fixtures.NORM, n);
  }

  @Test
  void lossDecreasesOverEpochsOfASmallSubsetFromScratch() throws Exception {
    Model m = Scratch.reinitialize(Fixtures.model("vgg_bn.onnx"), 1);
    ArrayDataset data = calibration(256);
    List<Trainer.StepProgress> steps = new ArrayList<>();
    TrainerOptions o = TrainerOptions.builder().epochs(3).batchSize(32).learningRate(0.05).seed(3)
        .validation(calibration(64)).listener(new Trainer.Listener() {
          @Override
          public void stepped(Trainer.StepProgress p) {
            steps.add(p);
          }
        }).build();
    Trainer.Result r = Trainer.train(m, TrainingOptions.defaults(), data, o, Ort.SESSIONS);
    assertEquals(3, r.history().size());
    assertEquals(3 * 8, steps.size());
    Trainer.EpochStats first = r.history().get(0);
    Trainer.EpochStats last = r.last();
    assertTrue(last.trainLoss() < first.trainLoss() - 0.2, first.trainLoss() + " -> " + last.trainLoss());
    assertTrue(last.trainAccuracy() > first.trainAccuracy(), first.trainAccuracy() + " -> " + last.trainAccuracy());
    assertEquals(64, last.valSamples());
    assertTrue(Double.isFinite(last.valLoss()) && last.valAccuracy() > 0.3, "val " + last);
    assertEquals(24, last.steps());
    // the returned model holds the trained weights
    assertFalse(java.util.Arrays.equals(floats(m, "features.0.0.weight"), floats(r.model(), "features.0.0.weight")));
  }

  @Test
  void resumingFromACheckpointGivesTheParametersOfAnUnbrokenRun() throws Exception {
    Model m = Fixtures.model("vgg_bn.onnx");
    ArrayDataset data = calibration(70); // 4 steps of 16 and one of 6 per epoch
    TrainingOptions t = TrainingOptions.builder().optimizer(Optimizer.adamW(0.01)).build();
    TrainerOptions.Builder b = TrainerOptions.builder().batchSize(16).seed(11)
        .schedule(Schedules.cosine(0.002, 10, 0), TrainerOptions.ScheduleUnit.STEP)
        .augmentation(Augmentation.cropAndFlip(2, -0.81f));
    Trainer.Result unbroken = Trainer.train(m, t, data, b.epochs(2).build(), Ort.SESSIONS);

    Path dir = tmp.resolve("ck");
    Trainer.Result first = Trainer.train(m, t, data, b.epochs(1).checkpointDir(dir).build(), Ort.SESSIONS);
    assertTrue(Files.isRegularFile(dir.resolve(Trainer.CHECKPOINT)));
    assertEquals(1, first.history().size());
    Trainer.Result resumed = Trainer.train(m, t, data, b.epochs(2).resume(true).build(), Ort.SESSIONS);
    assertEquals(1, resumed.resumedAfter());
    assertEquals(2, resumed.history().size());
    assertEquals(unbroken.last().steps(), resumed.last().steps());
    assertEquals(unbroken.last().trainLoss(), resumed.last().trainLoss());
    int compared = 0;
    for (Value v : unbroken.model().graph().initializers()) {
      assertArrayEquals(v.initializer().toFloatArray(), floats(resumed.model(), v.name()), v.name());
      compared++;
    }
    assertTrue(compared > 10);
    // and the first epoch alone did change them
    assertFalse(java.util.Arrays.equals(floats(first.model(), "features.0.0.weight"),
        floats(unbroken.model(), "features.0.0.weight")));
  }

  @Test
  void resumingWithAnotherBatchSizeIsRefused() throws Exception {
    Model m = Fixtures.model("vgg_bn.onnx");
    ArrayDataset data = calibration(32);
    Path dir = tmp.resolve("ck");
    Trainer.train(m, TrainingOptions.defaults(), data, TrainerOptions.builder().batchSize(16).checkpointDir(dir)
        .build(), Ort.SESSIONS);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Trainer.train(m,
        TrainingOptions.defaults(), data, TrainerOptions.builder().epochs(2).batchSize(8).checkpointDir(dir)
            .resume(true).build(), Ort.SESSIONS));
    assertTrue(e.getMessage().contains("batch size 16, this run has 8"), e.getMessage());
    // another optimizer: the checkpoint lacks its state tensors
    e = assertThrows(IllegalArgumentException.class, () -> Trainer.train(m, TrainingOptions.builder()
        .optimizer(Optimizer.adam(0)).build(), data, TrainerOptions.builder().epochs(2).batchSize(16)
        .checkpointDir(dir).resume(true).build(), Ort.SESSIONS));
    assertTrue(e.getMessage().contains("exp_avg"), e.getMessage());
  }

  /**
   * Issue 16, point 3: a learning rate that sends the weights far out in the last step gave a
   * finite loss in every step and a model that computes NaN; the loss of a step is that of the
   * weights before it, so only the updated weights show it.
   */
  @Test
  void aLastStepThatBreaksTheWeightsStopsTrainingNamingEpochAndStep() throws Exception {
    Model m = Fixtures.model("vgg_bn.onnx");
    TrainerOptions o = TrainerOptions.builder().epochs(1).batchSize(32).learningRate(1e30).seed(3).build();
    TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
        () -> Trainer.train(m, TrainingOptions.defaults(), calibration(32), o, Ort.SESSIONS));
    assertEquals(1, e.step());
    assertTrue(e.getMessage().startsWith("training diverged after epoch 1 (step 1, learning rate 1.0E30): the trained"
        + " model's "), e.getMessage());

  }

  /**
   * x (1e30 per feature) through a 2x2 MatMul of zeros: the logits are 0 and the loss ln 2, the
   * gradient about 1e30, and a step of learning rate 1e20 overflows the weights.
   */
  @Test
  void aStepThatMakesAParameterInfiniteIsNotAppliedAndNamesIt() throws Exception {
    OpModel om = new OpModel(dev.onnxprune.graph.DataType.FLOAT);
    Value x = om.input("x", 2, 2);
    Value w = om.g.addInitializer("fc.weight", dev.onnxprune.graph.Tensor.ofFloats(new long[] {2, 2}, new float[4]));
    om.output(om.op("MatMul", List.of(x, w)));
    ArrayDataset data = new ArrayDataset(new float[] {1e30f, 1e30f, 1e30f, 1e30f}, new long[] {2}, new long[] {0, 0});
    try (TrainingSession s = TrainingSession.open(TrainingArtifact.build(om.model, TrainingOptions.defaults()),
        Ort.SESSIONS)) {
      TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
          () -> s.step(data.batches(2).next(), 1e20));
      assertEquals(1, e.step());
      assertEquals("parameter 'fc.weight' is Infinity at index 0 after the update", e.what());
      assertEquals(0, s.steps());
      assertArrayEquals(new float[4], s.get("fc.weight"));
    }
  }

  @Test
  void aStepWhoseLossIsNotFiniteIsNotAppliedAndNamesTheStep() throws Exception {
    Model m = Fixtures.model("vgg_bn.onnx");
    ArrayDataset good = calibration(4);
    float[] x = good.batches(4).next().inputs().clone();
    x[5] = Float.NaN; // in the first sample
    long[] shape = good.sampleShape();
    ArrayDataset bad = new ArrayDataset(x, shape, good.batches(4).next().labels());
    try (TrainingSession s = TrainingSession.open(TrainingArtifact.build(m, TrainingOptions.defaults()),
        Ort.SESSIONS)) {
      s.step(good.batches(2).next(), 0.01);
      float[] before = s.get("features.0.0.weight");
      TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
          () -> s.step(bad.batches(4).next(), 0.01));
      assertEquals(2, e.step());
      assertEquals("the loss is NaN", e.what());
      assertEquals(1, s.steps());
      assertArrayEquals(before, s.get("features.0.0.weight"));
      assertThrows(IllegalArgumentException.class, () -> s.step(good.batches(2).next(), 1e300));
    }
  }

  /** Issue 16, point 4: labels outside the classes matched no class in the loss, and training went on. */
  @Test
  void labelsOutsideTheClassesAreRefusedNamingTheSample() throws Exception {
    Model m = Fixtures.model("vgg_bn.onnx");
    ArrayDataset good = calibration(8);
    Batch all = good.batches(8).next();
    for (long label : new long[] {10, 255, 1L << 40, -1}) {
      long[] y = all.labels().clone();
      y[5] = label;
      ArrayDataset bad = new ArrayDataset(all.inputs(), good.sampleShape(), y);
      DataMismatchException e = assertThrows(DataMismatchException.class, () -> Trainer.train(m,
          TrainingOptions.defaults(), bad, TrainerOptions.builder().batchSize(4).build(), Ort.SESSIONS));
      assertTrue(e.getMessage().startsWith("label " + label + " of sample 5 is outside the 10 classes of output '"),
          e.getMessage());
      // and in the validation data
      e = assertThrows(DataMismatchException.class, () -> Trainer.train(m, TrainingOptions.defaults(), good,
          TrainerOptions.builder().batchSize(4).validation(bad).evalBatchSize(4).build(), Ort.SESSIONS));
      assertTrue(e.getMessage().startsWith("label " + label + " of sample 5 is outside the 10 classes of output '"),
          e.getMessage());
      assertTrue(e.getMessage().endsWith("(validation data)"), e.getMessage());
    }
  }

  @Test
  void stepsPerEpochDropOnlyALastBatchOfOne() {
    assertEquals(4, Trainer.stepsPerEpoch(64, 16));
    assertEquals(4, Trainer.stepsPerEpoch(65, 16));
    assertEquals(5, Trainer.stepsPerEpoch(66, 16));
    assertEquals(0, Trainer.stepsPerEpoch(1, 16));
  }

  @Test
  void cropShiftsWithFillAndFlipMirrors() {
    // one 1x3x3 image 1..9; offsets drawn as nextInt(2p+1) - p
    float[] x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    Augmentation.crop(1, 0f).apply(x, new long[] {1, 1, 3, 3}, fixed(new int[] {2, 0}, false));
    // dy = +1, dx = -1: output (i, j) = input (i + 1, j - 1)
    assertArrayEquals(new float[] {0, 4, 5, 0, 7, 8, 0, 0, 0}, x);

    float[] y = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    Augmentation.cropAndFlip(1, -1f).apply(y, new long[] {1, 1, 3, 3}, fixed(new int[] {1, 1}, true));
    assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4, 9, 8, 7}, y);

    float[] z = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    Augmentation.cropAndFlip(1, -1f).apply(z, new long[] {1, 1, 3, 3}, fixed(new int[] {0, 1}, true));
    // dy = -1, dx = 0, then mirrored
    assertArrayEquals(new float[] {-1, -1, -1, 3, 2, 1, 6, 5, 4}, z);
    Augmentation.none().apply(z, new long[] {1, 1, 3, 3}, fixed(new int[0], false));
  }

  /** A generator that returns the given ints and one boolean. */
  private static RandomGenerator fixed(int[] ints, boolean bool) {
    return new RandomGenerator() {
      int i;

      @Override
      public long nextLong() {
        throw new UnsupportedOperationException();
      }

      @Override
      public int nextInt(int bound) {
        return ints[i++];
      }

      @Override
      public boolean nextBoolean() {
        return bool;
      }
    };
  }

  static float[] floats(Model m, String name) {
    return m.graph().lookup(name).initializer().toFloatArray();
  }
}
