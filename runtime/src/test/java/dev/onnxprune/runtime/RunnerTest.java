package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.testmodels.TestModels;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

class RunnerTest {
  private static final long[] IMAGE = {1, 28, 28};

  @Test
  void batchesOfChangingSizeMatchOneFreshRunEach() throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model("resnet20.onnx"));
        OrtSession plain = Sessions.cpu().open(TestModels.model("resnet20.onnx"))) {
      // 5, 5 (pinned outputs), 9 (larger: new input buffer), 5 (pinned again), 2
      for (int n : new int[] {5, 5, 9, 5, 2}) {
        Batch b = randomBatch(n, n);
        float[] got = runner.run(b);
        float[] want;
        try (OnnxTensor t = OnnxTensor.createTensor(Sessions.environment(), FloatBuffer.wrap(b.inputs()), b.shape());
            OrtSession.Result r = plain.run(Map.of(runner.dataInput(), t))) {
          want = ((OnnxTensor) r.get(0)).getFloatBuffer().array();
        }
        assertArrayEquals(want, got, 1e-5f, "batch of " + n);
      }
    }
  }

  @Test
  void runIntoWritesTheCallersArrayAndReturnsTheShape() throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model("vgg_bn.onnx"))) {
      Batch b = randomBatch(3, 1);
      float[] into = new float[40];
      String out = runner.outputNames().get(0);
      long[] shape = runner.run(b, out, into);
      assertArrayEquals(new long[] {3, 10}, shape);
      assertArrayEquals(runner.run(b), java.util.Arrays.copyOf(into, 30));
      IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
          () -> runner.run(b, out, new float[29]));
      assertEquals("output '" + out + "' [3, 10] has 30 values; the array holds 29", small.getMessage());
    }
  }

  @Test
  void extraInputIsFedToEveryRunUntilSetAgain() throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), timesMask(Dim.symbolic("N")))) {
      assertEquals("x", runner.dataInput());
      Batch b = new Batch(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, new long[] {2, 4}, null);

      IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> runner.run(b));
      assertEquals("model input 'mask' has no value; set it with setInput", none.getMessage());

      runner.setInput("mask", new float[] {1, 0, 1, 0}, new long[] {4});
      assertArrayEquals(new float[] {1, 0, 3, 0, 5, 0, 7, 0}, runner.run(b));
      assertArrayEquals(new float[] {1, 0, 3, 0, 5, 0, 7, 0}, runner.run(b));
      runner.setInput("mask", new float[] {0, 2, 0, 2}, new long[] {4});
      assertArrayEquals(new float[] {0, 4, 0, 8, 0, 12, 0, 16}, runner.run(b));
    }
  }

  @Test
  void fixedBatchSizeIsRefusedWithTheReason() throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), timesMask(Dim.of(1)))) {
      runner.setInput("mask", new float[] {1, 1, 1, 1}, new long[] {4});
      DataMismatchException e = assertThrows(DataMismatchException.class,
          () -> runner.run(new Batch(new float[8], new long[] {2, 4}, null)));
      assertEquals("model input 'x' is [1, 4] (its batch size is fixed at 1); the batch is [2, 4]", e.getMessage());
    }
  }

  @Test
  void unknownNamesAreRefusedWithTheChoices() throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), timesMask(Dim.symbolic("N")))) {
      IllegalArgumentException in = assertThrows(IllegalArgumentException.class,
          () -> runner.setInput("mask2", new float[4], new long[] {4}));
      assertTrue(in.getMessage().startsWith("the model has no input 'mask2'; inputs: "), in.getMessage());
      IllegalArgumentException out = assertThrows(IllegalArgumentException.class,
          () -> runner.run(new Batch(new float[4], new long[] {1, 4}, null), List.of("z")));
      assertEquals("the model has no output 'z'; outputs: [y]", out.getMessage());
      IllegalArgumentException data = assertThrows(IllegalArgumentException.class,
          () -> runner.setInput("x", new float[4], new long[] {1, 4}));
      assertEquals("'x' is the data input; batches feed it", data.getMessage());
    }
  }

  @Test
  void tokenBatchesFeedEachInputInItsOwnType() throws Exception {
    Dataset data = Datasets.open(TestModels.file(TestModels.BERT_CALIBRATION), null, DatasetOptions.defaults());
    try (Runner runner = Runner.open(Sessions.cpu(), TestModels.model(TestModels.BERT))) {
      Evaluation e = new Evaluator(runner).evaluate(data, 64);
      assertEquals(256, e.samples());
      assertTrue(e.top1() > 0.8, "the fixture learned its synthetic task: " + e);
      Batch b = data.batches(5).next();
      float[] logits = runner.run(b);
      assertEquals(15, logits.length);
      // without the mask the model has no value for it; a name the model lacks is refused
      Batch ids = new Batch(Map.of("input_ids", b.features().get("input_ids")), null);
      assertEquals("model input 'attention_mask' has no value; set it with setInput or give the data an array of"
          + " that name (it holds input_ids INT64[5, 12])", assertThrows(DataMismatchException.class,
              () -> runner.run(ids)).getMessage());
      Batch typo = new Batch(Map.of("input_ids", b.features().get("input_ids"), "mask",
          b.features().get("attention_mask")), null);
      assertEquals("the data has an array 'mask' but the model has no input of that name; inputs: [input_ids,"
          + " attention_mask]", assertThrows(DataMismatchException.class, () -> runner.run(typo)).getMessage());
    }
  }

  /**
   * Forward throughput at batch 256, with and without pinned outputs, runs interleaved so that
   * load from elsewhere hits both alike (-Donnxprune.bench=true [-Donnxprune.threads=T]); the
   * "+features" rows also fetch the first Conv's output (a large one).
   */
  @Test
  @EnabledIfSystemProperty(named = "onnxprune.bench", matches = "true")
  void forwardThroughput() throws Exception {
    Sessions sessions = new Sessions(Device.CPU, 0, Integer.getInteger("onnxprune.threads", 0));
    for (String file : List.of("resnet20.onnx", "vgg_bn.onnx", "mobilenetv2.onnx")) {
      for (boolean features : new boolean[] {false, true}) {
        Model m = OnnxModels.read(TestModels.model(file));
        List<String> outs = new java.util.ArrayList<>(List.of(m.graph().outputs().get(0).name()));
        if (features) {
          Value act = m.graph().nodes().stream().filter(n -> n.opType().equals("Conv")).findFirst().orElseThrow()
              .output(0);
          m.graph().addOutput(act);
          outs.add(act.name());
        }
        try (Runner pinned = Runner.open(sessions, m); Runner plain = Runner.open(sessions, m)) {
          plain.pinOutputs(false);
          Batch b = randomBatch(256, 7);
          long[] nanos = new long[2];
          int reps = 15;
          for (int i = 0; i < reps + 2; i++) {
            for (int k = 0; k < 2; k++) {
              long t0 = System.nanoTime();
              (k == 0 ? pinned : plain).run(b, outs);
              if (i >= 2) {
                nanos[k] += System.nanoTime() - t0;
              }
            }
          }
          System.out.printf(Locale.ROOT, "%-17s%-10s pinned %6.0f images/s, not pinned %6.0f images/s%n", file,
              features ? "+features" : "", reps * 256 / (nanos[0] / 1e9), reps * 256 / (nanos[1] / 1e9));
        }
      }
    }
  }

  static Batch randomBatch(int n, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n * 28 * 28];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return new Batch(x, new long[] {n, IMAGE[0], IMAGE[1], IMAGE[2]}, null);
  }

  /** y = x * mask, x [batch, 4], mask [4]. */
  static Model timesMask(Dim batch) {
    Graph g = new Graph("times-mask");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(batch, Dim.of(4))));
    Value mask = g.addInput("mask", new ValueType.TensorType(DataType.FLOAT, Shape.of(4)));
    Value y = g.addNode("Mul", "mul", List.of(x, mask), List.of("y")).output(0);
    y.setType(new ValueType.TensorType(DataType.FLOAT, Shape.of(batch, Dim.of(4))));
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }
}
