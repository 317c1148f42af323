package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Batch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingArtifactTest {
  @TempDir
  Path tmp;

  @Test
  void exportWritesInspectableFilesThatTrain() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    ArtifactSpec spec = TrainingArtifact.export(m, TrainingOptions.defaults(), tmp);
    for (String f : new String[] {"train_step.onnx", "eval.onnx", "checkpoint.onnx", "artifact.json"}) {
      assertTrue(Files.isRegularFile(tmp.resolve(f)), f);
    }
    ArtifactSpec read = ArtifactSpec.read(tmp.resolve(TrainingArtifact.SPEC));
    assertEquals(spec.state(), read.state());
    assertEquals(spec.optimizer(), read.optimizer());
    assertEquals("[batch, 1, 28, 28]", read.inputShape().toString());
    // 21 convs + 21 BNs x 2 + fc weight and bias; the two shortcut biases shared by Identity are un-shared
    assertEquals(21 + 42 + 2, read.state(ArtifactSpec.PARAMETER).size());
    assertEquals(read.state(ArtifactSpec.PARAMETER).size(), read.state(ArtifactSpec.OPTIMIZER).size());
    assertEquals(42, read.state(ArtifactSpec.BUFFER).size());
    assertNull(read.step());

    Model step = OnnxModels.read(tmp.resolve(TrainingArtifact.TRAIN_STEP));
    GraphVerifier.verify(step);
    Set<String> ops = new TreeSet<>();
    for (Node n : step.graph().nodes()) {
      assertTrue(n.domain().isEmpty(), "standard ops only: " + n.describe());
      ops.add(n.opType());
    }
    // BN runs on batch statistics: BatchNormalization nodes remain only as per-channel affine maps
    // (mean and variance 0, epsilon 1), none reads the running statistics
    for (Node n : step.graph().nodes()) {
      if (n.is("BatchNormalization")) {
        assertTrue(n.input(3).isInitializer() && n.input(4).isInitializer() && n.attrFloat("epsilon", 0) == 1f,
            "BN runs on batch statistics: " + n.describe());
      }
    }

    Batch b = Fixtures.calibration(32);
    try (TrainingSession s = TrainingSession.open(tmp, Ort.SESSIONS)) {
      double first = s.step(b, 0.01).loss();
      double later = first;
      for (int i = 0; i < 4; i++) {
        later = s.step(b, 0.01).loss();
      }
      assertTrue(Double.isFinite(first) && later < first, first + " -> " + later);
      TrainingSession.EvalResult e = s.evaluate(b);
      assertEquals(32, e.size());
      assertEquals(32 * 10, e.logits().length);
      Model trained = s.applyTo(m);
      GraphVerifier.verify(trained);
      assertNotNull(trained.graph().lookup("layers.3.shortcut.1.bias").initializer(), "un-shared bias written back");
    }
  }

  @Test
  void frozenParametersAndMaskedWeightsDoNotMove() throws Exception {
    Model m = Fixtures.model("resnet20.onnx");
    // zero half of the first conv's weights, as unstructured masking does
    var w = m.graph().lookup("layers.0.conv1.weight");
    float[] data = w.initializer().toFloatArray();
    for (int i = 0; i < data.length; i += 2) {
      data[i] = 0f;
    }
    w.setInitializer(Tensor.ofFloats(w.initializer().dims(), data));
    TrainingOptions o = TrainingOptions.builder().freeze("fc.weight").maskZeroWeights(true)
        .optimizer(Optimizer.adamW(0.01)).build();
    TrainingArtifact a = TrainingArtifact.build(m, o);
    assertTrue(a.spec().state().stream().noneMatch(s -> s.name().equals("fc.weight")));
    assertEquals("step", a.spec().step());
    Batch b = Fixtures.calibration(16);
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      s.step(b, 0.01);
      s.step(b, 0.01);
      Map<String, Tensor> st = s.state();
      float[] after = st.get("layers.0.conv1.weight").toFloatArray();
      boolean moved = false;
      for (int i = 0; i < after.length; i++) {
        if (i % 2 == 0) {
          assertEquals(0f, after[i], "masked weight " + i);
        } else {
          moved |= after[i] != data[i];
        }
      }
      assertTrue(moved, "unmasked weights train");
      Model trained = s.applyTo(m);
      assertEquals(java.util.Arrays.toString(m.graph().lookup("fc.weight").initializer().toFloatArray()),
          java.util.Arrays.toString(trained.graph().lookup("fc.weight").initializer().toFloatArray()));
    }
  }

  @Test
  void batchStatisticsMatchOnnxRuntimeTrainingModeBatchNorm() throws Exception {
    // logits = BN(x) over 6 "classes": one step at lr 0 leaves the parameters and updates the buffers.
    long n = 5;
    long c = 6;
    Random rnd = new Random(3);
    double[] x = GradCheck.normal(rnd, (int) (n * c));
    double[] scale = {1, 0.5, 2, 1.5, 0.7, 1};
    double[] bias = {0, 0.1, -0.2, 0.3, 0, 0.5};
    double[] mean = {0.1, 0, 0.2, -0.1, 0, 0.3};
    double[] var = {1, 2, 0.5, 1.5, 1, 0.8};
    OpModel m = new OpModel(DataType.FLOAT);
    m.output(m.op("BatchNormalization", List.of(m.input("x", n, c), init(m, "scale", scale), init(m, "bias", bias),
        init(m, "mean", mean), init(m, "var", var)), Attribute.of("momentum", 0.8f)));
    TrainingArtifact a = TrainingArtifact.build(m.model, TrainingOptions.builder()
        .runningVariance(RunningVariance.BIASED).optimizer(Optimizer.sgd(0, 0)).build());
    float[] xf = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      xf[i] = (float) x[i];
    }
    Batch b = new Batch(xf, new long[] {n, c}, new long[] {0, 1, 2, 3, 4});
    Map<String, Tensor> ours;
    float[] ourY;
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      ourY = s.step(b, 0).logits();
      ours = s.state();
    }
    // ONNX Runtime's own BatchNormalization(training_mode=1): Y, running_mean, running_var
    OpModel r = new OpModel(DataType.FLOAT);
    Value[] outs = r.opN("BatchNormalization", List.of(r.input("x", n, c), init(r, "scale", scale),
        init(r, "bias", bias), init(r, "mean", mean), init(r, "var", var)), 3, Attribute.of("momentum", 0.8f),
        Attribute.of("training_mode", 1L));
    r.output(outs);
    try (var s = Ort.open(r.model)) {
      Map<String, double[]> ref = Ort.run(s, Map.of("x", Ort.Data.of(DataType.FLOAT, new long[] {n, c}, x)));
      List<String> names = List.copyOf(ref.keySet());
      assertClose(ref.get(names.get(0)), ourY, "training-mode output");
      assertClose(ref.get(names.get(1)), ours.get("mean").toFloatArray(), "running mean");
      assertClose(ref.get(names.get(2)), ours.get("var").toFloatArray(), "running var (biased)");
    }
  }

  private static Value init(OpModel m, String name, double[] v) {
    return m.g.addInitializer(name, GradContext.tensorOf(DataType.FLOAT, new long[] {v.length}, v));
  }

  private static void assertClose(double[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what);
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), what + " [" + i + "]");
    }
  }

  static java.util.stream.Stream<String> fixtures() {
    return dev.onnxprune.testmodels.TestModels.modelFiles().stream();
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.MethodSource("fixtures")
  void everyFixtureTrainsOnItsCalibrationImages(String file) throws Exception {
    Model m = Fixtures.model(file);
    TrainingArtifact a = TrainingArtifact.build(m, TrainingOptions.defaults());
    GraphVerifier.verify(a.trainStep());
    Batch b = Fixtures.calibration(16);
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      double first = s.step(b, 0.01).loss();
      double last = first;
      for (int i = 0; i < 3; i++) {
        last = s.step(b, 0.01).loss();
      }
      assertTrue(Double.isFinite(first) && last < first, file + ": " + first + " -> " + last);
    }
  }
}
