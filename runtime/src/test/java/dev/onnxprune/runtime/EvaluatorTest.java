package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class EvaluatorTest {
  private static Dataset subset;

  @BeforeAll
  static void readSubset() throws Exception {
    subset = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"),
        new Normalization(new float[] {0.2860f}, new float[] {0.3530f}), 0);
  }

  static Stream<String> fixtures() {
    return TestModels.modelFiles().stream();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void fixtureReproducesManifestSubsetAccuracy(String file) throws Exception {
    double expected = TestModels.entry(file).get("test_subset_accuracy").asDouble();
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model(file))) {
      Evaluation e = new Evaluator(runner).evaluate(subset, 256);

      assertEquals(2000, e.samples());
      assertEquals(expected, e.top1(), 0.001, file);
      assertTrue(e.top5() >= e.top1(), e.toString());
      assertTrue(e.loss() > 0 && Double.isFinite(e.loss()), e.toString());
      assertTrue(e.imagesPerSecond() > 0 && e.seconds() > 0, e.toString());
      System.out.printf(java.util.Locale.ROOT, "%-22s top1 %.4f (manifest %.4f) top5 %.4f loss %.4f %6.0f images/s%n",
          file, e.top1(), expected, e.top5(), e.loss(), e.imagesPerSecond());
    }
  }

  @Test
  void softmaxAndLogSoftmaxEndingsAreDetectedAndNotAppliedTwice() throws Exception {
    Dataset data = ((ArrayDataset) subset).shuffled(1, 300);
    Evaluation logits;
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model("vgg_bn.onnx"))) {
      Evaluator ev = new Evaluator(runner);
      assertEquals(Evaluator.Scores.LOGITS, ev.scores());
      logits = ev.evaluate(data, 64);
    }
    for (String op : List.of("Softmax", "LogSoftmax")) {
      Model m = withFinal(op);
      try (Runner runner = Runner.open(Sessions.cpu(), m)) {
        Evaluator ev = new Evaluator(runner);
        assertEquals(op.equals("Softmax") ? Evaluator.Scores.PROBABILITIES : Evaluator.Scores.LOG_PROBABILITIES,
            ev.scores());
        Evaluation e = ev.evaluate(data, 64);
        assertEquals(logits.top1(), e.top1(), op);
        assertEquals(logits.top5(), e.top5(), op);
        assertEquals(logits.loss(), e.loss(), 1e-4, op);
      }
    }
  }

  @Test
  void labelOutsideTheClassesIsNamed() throws Exception {
    float[] x = new float[2 * 28 * 28];
    Dataset bad = new ArrayDataset(x, new long[] {1, 28, 28}, new long[] {3, 10});
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model("vgg_bn.onnx"))) {
      DataMismatchException e = assertThrows(DataMismatchException.class,
          () -> new Evaluator(runner).evaluate(bad, 8));
      assertTrue(e.getMessage().startsWith("label 10 of sample 1 is outside the 10 classes of output '"),
          e.getMessage());
    }
  }

  @Test
  void rankFollowsArgmaxOrderOnTies() {
    float[] s = {0.1f, 0.5f, 0.5f, 0.2f};
    assertEquals(0, Evaluator.rank(s, 0, 4, 1));
    assertEquals(1, Evaluator.rank(s, 0, 4, 2));
    assertEquals(3, Evaluator.rank(s, 0, 4, 0));
  }

  /** vgg_bn with {@code op} (axis 1) after its logits. */
  private static Model withFinal(String op) throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    Value logits = m.graph().outputs().get(0);
    Value out = m.graph().addNode(op, "final", List.of(logits), List.of("scores"), Attribute.of("axis", 1L)).output(0);
    out.setType(logits.type());
    m.graph().setOutput(0, out);
    return m;
  }
}
