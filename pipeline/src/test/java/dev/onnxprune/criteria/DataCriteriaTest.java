package dev.onnxprune.criteria;

import dev.onnxprune.internal.BinaryFilterSearch;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.internal.DamageGraph;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Random;
import dev.onnxprune.errors.TargetUnreachableException;
import org.junit.jupiter.api.Test;

/** The data-driven criteria on a network small enough to score by hand, and on a fixture. */
class DataCriteriaTest {
  private static final Sessions CPU = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  /**
   * x[N,1,2,2] (positive) -> Conv 1x1 with filters 0, 1, 2, 3 (channel c = c * x) -> Relu ->
   * GlobalAveragePool -> Flatten -> Gemm: logit 0 = sum of the channel means, logit 1 = 0.
   * Every label is 0, so ablating channel c lowers logit 0 by c * mean(x): channel 0 (all zeros)
   * changes nothing, channel 3 raises the loss most.
   */
  static Model ladder() {
    Graph g = new Graph("ladder");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(2), Dim.of(2))));
    Value w = g.addInitializer("w", Tensor.ofFloats(new long[] {4, 1, 1, 1}, new float[] {0, 1, 2, 3}));
    Value c = g.addNode("Conv", "conv", List.of(x, w), List.of("c"), Attribute.of("kernel_shape", new long[] {1, 1}))
        .output(0);
    Value r = g.addNode("Relu", "relu", List.of(c), List.of("r")).output(0);
    Value p = g.addNode("GlobalAveragePool", "gap", List.of(r), List.of("p")).output(0);
    Value f = g.addNode("Flatten", "flat", List.of(p), List.of("f")).output(0);
    Value b = g.addInitializer("fc", Tensor.ofFloats(new long[] {2, 4}, new float[] {1, 1, 1, 1, 0, 0, 0, 0}));
    Value y = g.addNode("Gemm", "gemm", List.of(f, b), List.of("y"), Attribute.of("transB", 1L)).output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  /** 64 samples of positive inputs, all labelled 0. */
  static ArrayDataset ladderData() {
    Random r = new Random(5);
    float[] x = new float[64 * 4];
    for (int i = 0; i < x.length; i++) {
      x[i] = 0.1f + r.nextFloat();
    }
    return new ArrayDataset(x, new long[] {1, 2, 2}, new long[64]);
  }

  private static double[] ladderScores(DataCriterion c) {
    Model m = ladder();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    byte[] before = OnnxModels.toBytes(m);
    double[] s = c.score(a)[a.prunableGroups().get(0).id()];
    assertArrayEquals(before, OnnxModels.toBytes(m), c.name() + " changed the model it scored");
    assertNotNull(c.lastStats());
    return s;
  }

  private static int argmin(double[] s) {
    int best = 0;
    for (int i = 1; i < s.length; i++) {
      if (s[i] < s[best]) {
        best = i;
      }
    }
    return best;
  }

  private static DataCriteria.Options small() {
    return new DataCriteria.Options().batchSize(16);
  }

  /**
   * Issue 16, point 4: Taylor scored with labels outside the model's classes (its loss matched them
   * with no class, silently), and Oracle took 2^32 as class 0 (an int cast).
   */
  @Test
  void taylorAndOracleRefuseLabelsOutsideTheClassesNamingTheSample() {
    for (long label : new long[] {2, 255, 1L << 32, 1L << 40, -1}) {
      ArrayDataset good = ladderData();
      long[] y = new long[64];
      y[17] = label;
      ArrayDataset bad = new ArrayDataset(good.batches(64).next().inputs(), new long[] {1, 2, 2}, y);
      for (DataCriterion c : List.of(DataCriteria.taylor(bad, CPU, small()), DataCriteria.oracle(bad, CPU, small()))) {
        DataMismatchException e = assertThrows(DataMismatchException.class,
            () -> c.score(ChannelAnalysis.analyze(ladder())), c.name() + " " + label);
        assertTrue(e.getMessage().startsWith("label " + label + " of sample 17 is outside the 2 classes of output 'y'"),
            e.getMessage());
      }
    }
  }

  @Test
  void apozScoresOneMinusTheFractionOfZeros() {
    assertArrayEquals(new double[] {0, 1, 1, 1}, ladderScores(DataCriteria.apoz(ladderData(), CPU, small())), 1e-9);
  }

  @Test
  void meanActivationIsProportionalToTheFilter() {
    double[] s = ladderScores(DataCriteria.meanActivation(ladderData(), CPU, small()));
    assertEquals(0, s[0], 1e-9);
    assertEquals(2 * s[1], s[2], 1e-5);
    assertEquals(3 * s[1], s[3], 1e-5);
  }

  @Test
  void oracleRanksTheZeroChannelLowestAndTheLargestLossIncreaseHighest() {
    double[] s = ladderScores(DataCriteria.oracle(ladderData(), CPU, small()));
    assertEquals(0, s[0], 1e-7, "ablating an all-zero channel changes no loss");
    assertTrue(s[1] > 0 && s[1] < s[2] && s[2] < s[3], java.util.Arrays.toString(s));
  }

  @Test
  void oracleLossIncreaseMatchesTheClosedForm() {
    ArrayDataset d = ladderData();
    // one-shot (rescore 0): eq. 5 on the whole model; the default re-scores after removals
    double[] s = ladderScores(DataCriteria.oracle(d, CPU, small().rescore(0, 0.1)));
    // logit0 = k * mean(x) with k = 6 (all channels) or 6 - c; loss = log(1 + exp(-logit0))
    double sum = 0;
    double[] inc = new double[4];
    var it = d.batches(64);
    float[] x = it.next().inputs();
    for (int n = 0; n < 64; n++) {
      double m = (x[4 * n] + x[4 * n + 1] + x[4 * n + 2] + x[4 * n + 3]) / 4.0;
      double base = Math.log1p(Math.exp(-6 * m));
      for (int c = 0; c < 4; c++) {
        inc[c] += Math.log1p(Math.exp(-(6 - c) * m)) - base;
      }
      sum += base;
    }
    for (int c = 0; c < 4; c++) {
      assertEquals(inc[c] / 64, s[c], 1e-5, "channel " + c);
    }
    assertTrue(sum > 0);
  }

  @Test
  void oracleRescoringKeepsTheRemovalOrder() {
    double[] s = ladderScores(DataCriteria.oracle(ladderData(), CPU, small().rescore(2, 0.25)));
    assertEquals(0, argmin(s));
    assertTrue(s[0] < s[1] && s[1] < s[2] && s[2] < s[3], java.util.Arrays.toString(s));
  }

  @Test
  void oracleSaysItsCostBeforeScoringAndASpentTimeBudgetStopsReScoringAfterTheFirstRound() {
    List<String> notes = new java.util.ArrayList<>();
    dev.onnxprune.runtime.Progress.Sink sink = new dev.onnxprune.runtime.Progress.Sink() {
      @Override
      public void progress(double fraction, String detail) {}

      @Override
      public void note(String message) {
        notes.add(message);
      }
    };
    double[] oneShot = ladderScores(DataCriteria.oracle(ladderData(), CPU, small().rescore(0, 0.25)));
    double[] s;
    try (var scope = dev.onnxprune.runtime.Progress.open(sink)) {
      // a nanosecond is spent by the end of the first round, whatever the machine
      s = ladderScores(DataCriteria.oracle(ladderData(), CPU, small().rescore(2, 0.25)
          .timeBudget(java.time.Duration.ofNanos(1))));
    }
    assertArrayEquals(oneShot, s, 1e-12, "the first round's scores, nothing removed");
    assertEquals(2, notes.size(), notes.toString());
    assertTrue(notes.get(0).matches("oracle: 4 channels in 1 groups, 1 \\+ 2 re-scoring rounds of 0\\.25 \\(oracle\\.rescore;"
        + " 0 is one-shot, about \\d\\.\\dx faster\\): about \\d+ forward passes over 64 samples, \\d+ s at the measured"
        + " \\d+ samples/s; criterion.maxSeconds 0.000000001 stops re-scoring when spent"), notes.get(0));
    assertEquals("oracle: time budget (criterion.maxSeconds) spent after 0 of 2 re-scoring rounds; the rest keep their"
        + " last scores", notes.get(1));
  }

  @Test
  void aofpPrunesTheZeroChannelFirst() {
    DataCriterion c = DataCriteria.aofp(ladderData(), CPU, small().theta(0.1).phi(64));
    // theta and phi given: the expected search below is for these values
    double[] s = ladderScores(c);
    assertTrue(s[0] < s[1] && s[1] < s[2] && s[2] < s[3], java.util.Arrays.toString(s));
    BinaryFilterSearch.Layer layer = ((AofpCriterion) c).lastSearch().layers().get(0);
    // move 0 refines {0,1,2,3} -> {0,1} -> prunes {0}; move 1 prunes {1} from {1,2,3}; then {2,3} stops
    assertEquals(0, layer.move[0]);
    assertEquals(1, layer.move[1]);
    assertEquals(-1, layer.move[2]);
    assertEquals(List.of(4, 2, 3, 2), layer.searchSpaceSizes);
  }

  @Test
  void aofpOwnPlanStoppedByThetaFailsOrWithKeepPartialKeepsWhatItPruned() throws Exception {
    // the search prunes {0} and {1}, then {2, 3} stop (above): a target of 3 of the 4 channels is out of reach
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class, () -> Pruner.builder()
        .criterion(DataCriteria.aofp(ladderData(), CPU, small().theta(0.1).phi(64).ownPlan(true)))
        .target(Target.ratio(0.75)).sessions(CPU).build().prune(ladder()));
    assertTrue(e.getMessage().contains("stopped before reaching"), e.getMessage());
    PruneResult r = Pruner.builder().criterion(DataCriteria.aofp(ladderData(), CPU, small().theta(0.1).phi(64)
        .ownPlan(true))).target(Target.ratio(0.75)).keepPartial(true).verify(true).sessions(CPU).build()
        .prune(ladder());
    assertTrue(r.report().shortOfTarget().contains("its threshold (aofp.theta)"), r.report().shortOfTarget());
    assertTrue(r.report().verify().passed());
    PruneReport.Group g = r.report().groups().stream().filter(PruneReport.Group::prunable).findFirst().orElseThrow();
    assertArrayEquals(new int[] {0, 1}, g.removed());
  }

  @Test
  void aofpExhaustiveScoresAreEquationSixPerChannel() {
    // logit1 = 0 and logit0 = 6m, so ablating channel c alone gives t = (c / 6)^2 on every sample
    double[] s = ladderScores(DataCriteria.aofp(ladderData(), CPU, small().binarySearch(false)));
    for (int c = 0; c < 4; c++) {
      assertEquals((c / 6.0) * (c / 6.0), s[c], 1e-6, "channel " + c);
    }
  }

  @Test
  void aofpIsolatedDamageIsTheRelativeChangeOfTheNextLayer() {
    // With channel 3 alone pruned nothing else: t({3}) = (3/6)^2; check through the damage graph.
    Model m = ladder();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    DamageGraph dg = new DamageGraph(a, a.prunableGroups());
    assertEquals(1, dg.damageOutputs.size());
    try (var session = CPU.open(dg.model)) {
      java.util.Map<String, Ort.Tensor> feeds = new java.util.HashMap<>();
      feeds.put(dg.input, Ort.Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 2, 2));
      int gid = a.prunableGroups().get(0).id();
      feeds.put(dg.baseMasks.get(gid), Ort.Tensor.of(new float[] {1, 1, 1, 1}, 1, 4));
      feeds.put(dg.ablateInputs.get(gid), Ort.Tensor.of(new float[] {1, 1, 1, 0}, 1, 4));
      float[] t = Ort.run(session, feeds, java.util.Set.of(dg.damageOutputs.get(gid))).values().iterator().next().data();
      assertEquals(0.25, t[0], 1e-6);
      // with channel 1 already pruned (base mask), ablating 3 changes logit0 from 5m to 2m: (3/5)^2
      feeds.put(dg.baseMasks.get(gid), Ort.Tensor.of(new float[] {1, 0, 1, 1}, 1, 4));
      t = Ort.run(session, feeds, java.util.Set.of(dg.damageOutputs.get(gid))).values().iterator().next().data();
      assertEquals(0.36, t[0], 1e-6);
    } catch (ai.onnxruntime.OrtException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void oraclePackedAndSuffixRunsGiveTheUnpackedScores() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    ArrayDataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), 32);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    DataCriterion plain = DataCriteria.oracle(calib, CPU, new DataCriteria.Options().batchSize(16).runSamples(16)
        .suffix(false));
    DataCriterion packed = DataCriteria.oracle(calib, CPU, new DataCriteria.Options().batchSize(16).runSamples(256));
    double[][] p = plain.score(a);
    double[][] q = packed.score(a);
    for (int g = 0; g < p.length; g++) {
      if (p[g] != null) {
        assertArrayEquals(p[g], q[g], 1e-4, "group " + g);
      }
    }
    assertTrue(packed.lastStats().sessionRuns() < plain.lastStats().sessionRuns() / 4,
        packed.lastStats() + " vs " + plain.lastStats());
    assertTrue(packed.lastStats().forwardEquivalents() < plain.lastStats().forwardEquivalents(),
        packed.lastStats() + " vs " + plain.lastStats());
  }
}
