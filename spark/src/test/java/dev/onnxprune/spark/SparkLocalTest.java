package dev.onnxprune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.criteria.DataCriterion;
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.Passes;
import dev.onnxprune.exec.Shard;
import dev.onnxprune.exec.ShardedData;
import dev.onnxprune.exec.TaskJob;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.Sensitivity;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.BnRecalibration;
import java.io.Serializable;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.TaskContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Spark local mode in this JVM ({@code local[2,2]}: two task slots, a failed task tried twice):
 * scores, evaluation and BatchNorm statistics on a bundled fixture equal the in-process results
 * up to the order of float additions.
 */
class SparkLocalTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);
  private static final Normalization FMNIST = new Normalization(new float[] {0.286f}, new float[] {0.353f});
  private static ExecutionBackend spark;
  private static Model resnet;

  @BeforeAll
  static void start() throws Exception {
    spark = ExecutionBackend.open("local[2,2]"); // through the ServiceLoader, as the CLI finds it
    resnet = OnnxModels.read(TestModels.model("resnet20.onnx"));
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.close();
    }
  }

  /** The calibration images as files a worker reads ({@link Dataset#source()}). */
  private static Dataset calibration(int limit) throws Exception {
    return Datasets.open(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), DatasetOptions.defaults().withNormalization(FMNIST)
            .withLimit(limit));
  }

  @Test
  void theServiceLoaderFindsTheSparkBackend() {
    assertInstanceOf(SparkBackend.class, spark);
    assertEquals(2, spark.parallelism());
    assertTrue(spark.describe().startsWith("spark local[2,2]"), spark.describe());
  }

  @Test
  void taylorOracleAndMeanScoresEqualInProcess() throws Exception {
    Dataset data = calibration(24); // 3 batches of 8: shards of 1 and 2 batches
    assertNotNull(data.source());
    ChannelAnalysis a = ChannelAnalysis.analyze(resnet);
    for (String name : List.of("taylor", "oracle", "mean", "apoz")) {
      DataCriteria.Options o = new DataCriteria.Options().batchSize(8).runSamples(32);
      DataCriterion inProcess = DataCriteria.byName(name, data, CPU, o);
      double[][] local = inProcess.score(a);
      DataCriterion onSpark = DataCriteria.byName(name, data, CPU, o.copy().backend(spark));
      double[][] sharded = onSpark.score(a);
      assertClose(local, sharded, name);
      // the same runs, cut into shards
      assertEquals(inProcess.lastStats().sessionRuns(), onSpark.lastStats().sessionRuns(), name);
      assertEquals(inProcess.lastStats().sampleForwards(), onSpark.lastStats().sampleForwards(), name);
    }
  }

  @Test
  void oracleRescoringOnUnlabelledDataEqualsInProcess() throws Exception {
    // no labels: round 0 fixes them from the model's predictions, shipped back for round 1
    Dataset data = Datasets.open(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"), null,
        DatasetOptions.defaults().withNormalization(FMNIST).withLimit(16));
    assertEquals(0, data.numClasses());
    ChannelAnalysis a = ChannelAnalysis.analyze(resnet);
    DataCriteria.Options o = new DataCriteria.Options().batchSize(8).runSamples(32).rescore(1, 0.25);
    assertClose(DataCriteria.oracle(data, CPU, o).score(a), DataCriteria.oracle(data, CPU, o.copy().backend(spark))
        .score(a), "oracle rescored");
  }

  @Test
  void dataWithoutFilesTravelsFromTheDriver() throws Exception {
    Dataset held = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), FMNIST, 24);
    assertNull(held.source());
    ChannelAnalysis a = ChannelAnalysis.analyze(resnet);
    DataCriteria.Options o = new DataCriteria.Options().batchSize(8);
    assertClose(DataCriteria.taylor(held, CPU, o).score(a), DataCriteria.taylor(held, CPU, o.copy().backend(spark))
        .score(a), "taylor");
  }

  @Test
  void evaluationEqualsInProcess() throws Exception {
    Dataset test = Datasets.open(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), DatasetOptions.defaults().withNormalization(FMNIST)
            .withLimit(300));
    Evaluation local = Passes.evaluate(ExecutionBackend.inProcess(), CPU, resnet, test, 64);
    Evaluation sharded = Passes.evaluate(spark, CPU, resnet, test, 64);
    assertEquals(300, sharded.samples());
    assertEquals(local.top1(), sharded.top1());
    assertEquals(local.top5(), sharded.top5());
    assertEquals(local.loss(), sharded.loss(), 1e-12 * Math.abs(local.loss()));
    assertTrue(local.top1() > 0.8, "the fixture classifies: " + local);
  }

  @Test
  void batchNormStatisticsEqualInProcess() throws Exception {
    Dataset data = calibration(200);
    BnRecalibration.Result local = Passes.recalibrateBn(ExecutionBackend.inProcess(), CPU, resnet, data, 32, 0);
    BnRecalibration.Result sharded = Passes.recalibrateBn(spark, CPU, resnet, data, 32, 5);
    BnRecalibration.Result five = Passes.recalibrateBn(ExecutionBackend.inProcess(), CPU, resnet, data, 32, 5);
    assertEquals(21, sharded.batchNorms());
    assertEquals(5, sharded.batches());
    assertEquals(160, sharded.samples());
    assertStatisticsClose(five.model(), sharded.model());
    // all 7 batches (the last of 8 samples) on Spark too
    assertStatisticsClose(local.model(), Passes.recalibrateBn(spark, CPU, resnet, data, 32, 0).model());
  }

  @Test
  void aPipelineOnSparkGivesTheInProcessResult() throws Exception {
    // the README's example: taylor scores, BatchNorm recalibration and every stage's evaluation on Spark
    Dataset calib = calibration(64);
    Dataset test = Datasets.open(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), DatasetOptions.defaults().withNormalization(FMNIST)
            .withLimit(256));
    List<PipelineResult> results = new java.util.ArrayList<>();
    for (ExecutionBackend backend : List.of(ExecutionBackend.inProcess(), spark)) {
      results.add(PruningPipeline.builder().model(resnet).target(Target.flops(0.3)).criterion("taylor")
          .calibration(calib).trainingData(calib).evaluation(test).recovery(Recovery.bnRecalibration())
          .sessions(CPU).backend(backend).build().run());
    }
    List<PipelineResult.Stage> local = results.get(0).stages();
    List<PipelineResult.Stage> sharded = results.get(1).stages();
    assertEquals(List.of("original", "pruned", "recalibrated"), sharded.stream().map(PipelineResult.Stage::name)
        .toList());
    for (int i = 0; i < local.size(); i++) {
      assertEquals(local.get(i).flops(), sharded.get(i).flops(), "the same channels removed");
      assertEquals(local.get(i).accuracy().top1(), sharded.get(i).accuracy().top1(), local.get(i).name());
      assertEquals(local.get(i).accuracy().loss(), sharded.get(i).accuracy().loss(), 1e-6, local.get(i).name());
    }
  }

  @Test
  void sensitivityTasksOnSparkEqualInProcess() throws Exception {
    Dataset test = Datasets.open(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), DatasetOptions.defaults().withNormalization(FMNIST));
    List<Sensitivity.Result> results = new java.util.ArrayList<>();
    for (ExecutionBackend backend : List.of(ExecutionBackend.inProcess(), spark)) {
      results.add(Sensitivity.builder().criterion(Criteria.l1()).evaluation(test).limit(100).batchSize(50)
          .ratios(0.25, 0.5).sessions(CPU).backend(backend).build().run(resnet));
    }
    Sensitivity.Result local = results.get(0);
    Sensitivity.Result sharded = results.get(1);
    assertEquals(local.baseline().top1(), sharded.baseline().top1());
    assertEquals(local.curves().size(), sharded.curves().size());
    assertTrue(sharded.curves().size() >= 10, "groups measured: " + sharded.curves().size());
    assertEquals(2, sharded.workers());
    for (int c = 0; c < local.curves().size(); c++) {
      for (int i = 0; i < 2; i++) {
        Sensitivity.Point e = local.curves().get(c).points().get(i);
        Sensitivity.Point a = sharded.curves().get(c).points().get(i);
        assertEquals(e.removed(), a.removed());
        assertEquals(e.top1(), a.top1(), "group " + local.curves().get(c).group());
        assertEquals(e.loss(), a.loss(), 1e-12 * Math.abs(e.loss()));
      }
    }
  }

  /** Counts the first attempts a test job killed (local mode: the executor is this JVM). */
  static final AtomicInteger KILLED = new AtomicInteger();

  /** A job that fails the first attempt of its first shard, then does what {@code job} does. */
  record FailOnce<P extends Serializable>(DataJob<P> job) implements DataJob<P> {
    @Override
    public P run(Shard shard) throws Exception {
      TaskContext tc = TaskContext.get();
      if (tc.partitionId() == 0 && tc.attemptNumber() == 0) {
        KILLED.incrementAndGet();
        throw new IllegalStateException("test: task killed on its first attempt");
      }
      return job.run(shard);
    }

    @Override
    public P merge(P earlier, P later) {
      return job.merge(earlier, later);
    }

    @Override
    public boolean rereads() {
      return job.rereads();
    }
  }

  /** The Spark backend with every job failing once (the library's jobs, wrapped). */
  private static ExecutionBackend failingOnce() {
    return new ExecutionBackend() {
      @Override
      public String describe() {
        return spark.describe() + ", first tasks killed";
      }

      @Override
      public int parallelism() {
        return spark.parallelism();
      }

      @Override
      public boolean isInProcess() {
        return false;
      }

      @Override
      public <P extends Serializable> P sum(String what, DataJob<P> job, JobModels models, ShardedData data,
          Sessions sessions) {
        return spark.sum(what, new FailOnce<>(job), models, data, sessions);
      }

      @Override
      public <T extends Serializable, R extends Serializable> List<R> map(String what, List<T> tasks,
          TaskJob<T, R> job, JobModels models, Sessions sessions) {
        return spark.map(what, tasks, job, models, sessions);
      }

      @Override
      public void close() {}
    };
  }

  @Test
  void aTaskKilledOnceIsRetriedAndTheResultIsUnchanged() throws Exception {
    Dataset data = calibration(32);
    ChannelAnalysis a = ChannelAnalysis.analyze(resnet);
    DataCriteria.Options o = new DataCriteria.Options().batchSize(8);
    double[][] local = DataCriteria.taylor(data, CPU, o).score(a);
    int before = KILLED.get();
    double[][] retried = DataCriteria.taylor(data, CPU, o.copy().backend(failingOnce())).score(a);
    assertEquals(before + 1, KILLED.get(), "the first attempt was killed once");
    assertClose(local, retried, "taylor after a retry");
    Evaluation e = Passes.evaluate(failingOnce(), CPU, resnet, data, 8);
    assertEquals(before + 2, KILLED.get());
    assertEquals(Passes.evaluate(ExecutionBackend.inProcess(), CPU, resnet, data, 8).top1(), e.top1());
  }

  /** Equal up to the order of float additions: relative 1e-9 of the group's largest score. */
  static double assertClose(double[][] expected, double[][] actual, String what) {
    assertEquals(expected.length, actual.length);
    double worst = 0;
    int scored = 0;
    for (int g = 0; g < expected.length; g++) {
      if (expected[g] == null) {
        assertNull(actual[g], what + " group " + g);
        continue;
      }
      scored++;
      double scale = 0;
      for (double v : expected[g]) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int u = 0; u < expected[g].length; u++) {
        double d = Math.abs(expected[g][u] - actual[g][u]);
        worst = Math.max(worst, d);
        assertEquals(expected[g][u], actual[g][u], 1e-9 * scale + 1e-12, what + " group " + g + " unit " + u);
      }
    }
    assertTrue(scored > 10, what + " scores the fixture's groups: " + scored);
    return worst;
  }

  private static void assertStatisticsClose(Model expected, Model actual) {
    int compared = 0;
    for (var n : expected.graph().nodes()) {
      if (!n.is("BatchNormalization")) {
        continue;
      }
      var m = actual.graph().nodes().stream().filter(x -> x.name().equals(n.name())).findFirst().orElseThrow();
      for (int i = 3; i <= 4; i++) {
        float[] e = floats(n.input(i).initializer());
        float[] s = floats(m.input(i).initializer());
        for (int j = 0; j < e.length; j++) {
          assertEquals(e[j], s[j], 1e-6f * Math.max(1, Math.abs(e[j])), n.name() + " input " + i + " channel " + j);
        }
        compared++;
      }
    }
    assertEquals(42, compared);
  }

  private static float[] floats(Tensor t) {
    return t.toFloatArray();
  }
}
