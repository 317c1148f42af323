package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Runner;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DistillationTest {
  private static final double H = 1e-6;

  /**
   * The loss of {@code d} on inputs {@code s*} (the student's outputs) against {@code t*} (the
   * teacher's), with labels when {@code labelled}; outputs: the loss, then the seed of each student
   * output ({@code <s>_seed}).
   */
  private static Model lossModel(Distillation d, boolean labelled, long[]... shapes) {
    OpModel m = new OpModel(DataType.DOUBLE);
    Map<Value, Value> teacher = new LinkedHashMap<>();
    for (int i = 0; i < shapes.length; i++) {
      teacher.put(m.input("s" + i, shapes[i]), m.input("t" + i, shapes[i]));
    }
    Value labels = labelled ? m.g.addInput("labels", new dev.onnxprune.graph.ValueType.TensorType(DataType.INT64,
        dev.onnxprune.graph.Shape.of(shapes[0][0]))) : null;
    ShapeInference.infer(m.model);
    GradContext ctx = new GradContext(m.model);
    Map<Value, Value> seeds = new IdentityHashMap<>();
    Value s0 = teacher.keySet().iterator().next();
    Value loss = LossBuilder.distillation(ctx, d, s0, labels, 0.1, teacher, seeds);
    Models.exposeAs(ctx, loss, "loss", loss.type());
    for (Value s : teacher.keySet()) {
      Models.exposeAs(ctx, seeds.get(s), s.name() + "_seed", s.type());
    }
    return m.model;
  }

  /** Largest |finite difference - seed| / max magnitude over every coordinate of every student input. */
  private static double check(Model m, long[]... shapes) throws Exception {
    Random r = new Random(7);
    Map<String, Ort.Data> feed = new LinkedHashMap<>();
    for (int i = 0; i < shapes.length; i++) {
      feed.put("s" + i, Ort.Data.of(DataType.DOUBLE, shapes[i], GradCheck.normal(r, (int) GradCheck.count(shapes[i]))));
      double[] t = GradCheck.normal(r, (int) GradCheck.count(shapes[i]));
      for (int j = 0; j < t.length; j++) {
        t[j] *= 3; // a confident teacher
      }
      feed.put("t" + i, Ort.Data.of(DataType.DOUBLE, shapes[i], t));
    }
    if (m.graph().lookup("labels") != null) {
      double[] y = new double[(int) shapes[0][0]];
      for (int j = 0; j < y.length; j++) {
        y[j] = r.nextInt((int) shapes[0][1]);
      }
      feed.put("labels", Ort.Data.of(DataType.INT64, new long[] {y.length}, y));
    }
    double worst = 0;
    try (OrtSession s = Ort.open(m)) {
      Map<String, double[]> at = Ort.run(s, feed);
      assertTrue(at.get("loss")[0] > 0, "a positive loss");
      for (int i = 0; i < shapes.length; i++) {
        String name = "s" + i;
        double[] seed = at.get(name + "_seed");
        Ort.Data x = feed.get(name);
        double num = 0;
        double den = 1e-12;
        for (int c = 0; c < x.values().length; c++) {
          double[] plus = x.values().clone();
          double[] minus = x.values().clone();
          plus[c] += H;
          minus[c] -= H;
          Map<String, Ort.Data> f = new LinkedHashMap<>(feed);
          f.put(name, Ort.Data.of(DataType.DOUBLE, x.shape(), plus));
          double lp = Ort.run(s, f).get("loss")[0];
          f.put(name, Ort.Data.of(DataType.DOUBLE, x.shape(), minus));
          double lm = Ort.run(s, f).get("loss")[0];
          double fd = (lp - lm) / (2 * H);
          num = Math.max(num, Math.abs(fd - seed[c]));
          den = Math.max(den, Math.max(Math.abs(fd), Math.abs(seed[c])));
        }
        worst = Math.max(worst, num / den);
      }
    }
    return worst;
  }

  @Test
  void klAtATemperatureMixedWithCrossEntropyHasTheGradientOfItsLoss() throws Exception {
    long[] shape = {5, 4};
    double e = check(lossModel(Distillation.kl(3, 0.7), true, shape), shape);
    assertTrue(e < GradientCheckTest.TOL_DOUBLE, "relative error " + e);
  }

  @Test
  void klWithoutLabelsHasTheGradientOfItsLoss() throws Exception {
    long[] shape = {3, 6};
    double e = check(lossModel(Distillation.kl(1, 0.5), false, shape), shape);
    assertTrue(e < GradientCheckTest.TOL_DOUBLE, "relative error " + e);
  }

  @Test
  void mseOverSeveralOutputsOfAnyShapeHasTheGradientOfItsLoss() throws Exception {
    long[] a = {2, 3, 2};
    long[] b = {2, 5};
    double e = check(lossModel(Distillation.mse(1), false, a, b), a, b);
    assertTrue(e < GradientCheckTest.TOL_DOUBLE, "relative error " + e);
    long[] c = {4, 3};
    e = check(lossModel(Distillation.mse(0.6), true, c), c);
    assertTrue(e < GradientCheckTest.TOL_DOUBLE, "mixed with cross-entropy: relative error " + e);
  }

  @Test
  void aStudentLearnsItsTeacherWithoutLabelsAndTheTeacherRunsOnceWithoutAugmentation() throws Exception {
    Model teacher = Fixtures.model("vgg_bn.onnx");
    Model student = Scratch.reinitialize(teacher, 3);
    ArrayDataset data = BatchNormInsertionTest.calibration(128);
    TrainingOptions to = TrainingOptions.builder().labels(false).distillation(Distillation.kl(2, 1))
        .optimizer(Optimizer.adam(0)).build();
    TrainingArtifact a = TrainingArtifact.build(student, to);
    assertTrue(a.spec().unlabelled());
    assertEquals(Map.of("logits", "logits.teacher"), a.spec().teacher());
    assertTrue(a.trainStep().graph().inputs().stream().noneMatch(v -> v.name().equals("labels")));

    TrainerOptions opts = TrainerOptions.builder().epochs(3).batchSize(32).learningRate(3e-3).teacher(teacher)
        .build();
    Trainer.Result r = Trainer.train(student, to, data, opts, Ort.SESSIONS);
    assertTrue(r.history().get(2).trainLoss() < 0.8 * r.history().get(0).trainLoss(),
        "the KL to the teacher falls: " + r.history());
    assertEquals(0.0, r.history().get(0).trainAccuracy(), "no labels, no accuracy");

    TrainingData td = TrainingData.of(data, false);
    try (Teacher t = Teacher.open(teacher, a.spec(), Ort.SESSIONS, td.count(), true)) {
      for (int epoch = 0; epoch < 2; epoch++) {
        int[] order = TrainingData.order(td.count(), new java.util.SplittableRandom(epoch));
        for (int from = 0; from < td.count(); from += 32) {
          Batch b = td.batch(order, from, 32);
          Map<String, Runner.Output> got = t.outputs(b, order, from);
          if (epoch == 1 && from == 0) {
            try (Runner direct = Runner.open(Ort.SESSIONS, teacher)) {
              float[] want = direct.run(b);
              float[] cached = got.get("logits").values();
              for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], cached[i], 1e-5f, "cached teacher logits");
              }
            }
          }
        }
      }
      assertEquals(4, t.runs(), "the second epoch comes from the cache");
    }
    // outputs too large to keep (128 samples x 10 logits > 1000 floats): the teacher runs on every batch
    try (Teacher t = Teacher.open(teacher, a.spec(), Ort.SESSIONS, td.count(), true, 1000)) {
      for (int epoch = 0; epoch < 2; epoch++) {
        int[] order = TrainingData.order(td.count(), new java.util.SplittableRandom(epoch));
        for (int from = 0; from < td.count(); from += 32) {
          Map<String, Runner.Output> got = t.outputs(td.batch(order, from, 32), order, from);
          assertEquals(32 * 10, got.get("logits").values().length);
        }
      }
      assertEquals(8, t.runs());
      assertTrue(!t.caches());
    }
  }

  @Test
  void klNeedsAClassifierAndAStepWithoutLabelsNeedsDistillation() {
    assertThrows(IllegalArgumentException.class, () -> TrainingOptions.builder().labels(false).build());
    assertThrows(IllegalArgumentException.class, () -> Distillation.kl(0, 1));
    assertThrows(IllegalArgumentException.class, () -> Distillation.mse(1.5));
  }
}
