package dev.onnxprune.methods;

import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.internal.BinaryFilterSearch;
import dev.onnxprune.internal.DamageGraph;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * AOFP training-time multi-path pruning: Binary Filter Search on fixed damage values (search
 * spaces, moves, stops, restarts, the FLOPs target), the two-path training step on a network small
 * enough to compute by hand (eq. 7 against plain Java, no gradient to pruned channels), and the
 * whole method through the pruner on the ResNet-20 fixture.
 */
class AofpTrainingTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 2);

  // ---- Binary Filter Search (Algorithm 1) on fixed damage values

  @Test
  void searchRefinesOnThePickedHalfPrunesItWhenCheapAndStopsOnASingleCostlyFilter() {
    BinaryFilterSearch.Layer layer = new BinaryFilterSearch.Layer(4);
    assertArrayEquals(new int[] {0, 1, 2, 3}, layer.space, "a move searches every unpruned filter");
    // T-hat: 0 -> (0.004 + 0.2) / 2 = 0.102, 1 -> (0.004 + 0.3) / 2 = 0.152, 2 -> 0.35, 3 -> 0.4
    layer.record(new int[] {0, 1}, 0.004);
    layer.record(new int[] {2, 3}, 0.5);
    layer.record(new int[] {0, 2}, 0.2);
    layer.record(new int[] {1, 3}, 0.3);
    BinaryFilterSearch.Decision d = layer.decide(0, 0.01);
    assertEquals(BinaryFilterSearch.Outcome.REFINE, d.outcome(), "p = 0.152 >= theta and |B| = 2");
    assertArrayEquals(new int[] {0, 1}, d.picked());
    assertEquals(0.152, d.p(), 1e-12);
    assertEquals(0.4, layer.lastT[3], 1e-12);
    layer.refine(d.picked());
    assertArrayEquals(new int[] {0, 1}, layer.space);
    assertEquals(0, layer.collected, "refining abandons the samples");
    layer.record(new int[] {0}, 0.002);
    layer.record(new int[] {1}, 0.05);
    d = layer.decide(0, 0.01);
    assertEquals(BinaryFilterSearch.Outcome.PRUNE, d.outcome(), "p = 0.002 < theta");
    assertArrayEquals(new int[] {0}, d.picked());
    layer.prune(d.picked());
    assertTrue(layer.pruned[0]);
    assertEquals(0, layer.move[0]);
    assertArrayEquals(new int[] {1, 2, 3}, layer.space, "the next move searches the remaining filters");
    layer.record(new int[] {1}, 0.05);
    layer.record(new int[] {2}, 0.2);
    layer.record(new int[] {3}, 0.3);
    d = layer.decide(0, 0.01);
    assertEquals(BinaryFilterSearch.Outcome.STOP, d.outcome(), "|B| = 1 and p = 0.05 >= theta");
    assertArrayEquals(new int[] {1}, d.picked());
    assertEquals(0.05, d.p(), 1e-12);
    layer.stop(false);
    assertTrue(layer.stopped);
    assertEquals(List.of(4, 2, 3), layer.searchSpaceSizes);
  }

  /** t = the ablated filters' fixed damages summed (each sample ablates one filter when |A| <= 3: exact). */
  private static BinaryFilterSearch.Damage fixed(double[][] d, int samples) {
    return new BinaryFilterSearch.Damage() {
      @Override
      public int samples() {
        return samples;
      }

      @Override
      public double[][] measure(boolean[][] pruned, int[][][] ablated) {
        double[][] t = new double[d.length][];
        for (int l = 0; l < d.length; l++) {
          if (ablated[l] == null) {
            continue;
          }
          t[l] = new double[samples];
          for (int s = 0; s < samples; s++) {
            for (int u : ablated[l][s]) {
              assertFalse(pruned[l][u], "a pruned filter was ablated");
              t[l][s] += d[l][u];
            }
          }
        }
        return t;
      }
    };
  }

  @Test
  void searchOnFixedDamagesWalksTheExpectedSearchSpaces() {
    // 3 filters: |H| = 1, so T-hat = the filter's own damage. Move 0 prunes 0 (0.002 < 0.01);
    // move 1 on {1, 2}: B = {1}, p = 0.03 >= 0.01 and |B| = 1: the layer stops.
    List<BinaryFilterSearch.Step> steps = new ArrayList<>();
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {3}, fixed(new double[][] {{0.002, 0.03, 0.5}}, 8),
        new BinaryFilterSearch.Settings(0.01, 16, 100, false, false), null, (s, p) -> steps.add(s), new Random(1));
    assertEquals(2, steps.size());
    assertEquals(BinaryFilterSearch.Outcome.PRUNE, steps.get(0).outcome());
    assertArrayEquals(new int[] {0, 1, 2}, steps.get(0).space());
    assertArrayEquals(new int[] {0}, steps.get(0).picked());
    assertEquals(0.002, steps.get(0).p(), 1e-12);
    assertEquals(2, steps.get(0).call(), "phi = 16 samples = 2 calls of 8");
    assertEquals(BinaryFilterSearch.Outcome.STOP, steps.get(1).outcome());
    assertArrayEquals(new int[] {1, 2}, steps.get(1).space());
    assertEquals(0.03, steps.get(1).p(), 1e-12);
    assertEquals(4, r.steps());
    assertTrue(r.layers().get(0).stopped);
    // with restarts (Section 4.2) the layer begins a new move on {1, 2} after every stop, until the budget
    steps.clear();
    r = BinaryFilterSearch.run(new int[] {3}, fixed(new double[][] {{0.002, 0.03, 0.5}}, 8),
        new BinaryFilterSearch.Settings(0.01, 16, 10, true, false), null, (s, p) -> steps.add(s), new Random(1));
    assertEquals(10, r.steps());
    assertEquals(5, steps.size());
    for (int i = 1; i < 5; i++) {
      assertEquals(BinaryFilterSearch.Outcome.STOP, steps.get(i).outcome());
      assertArrayEquals(new int[] {1, 2}, steps.get(i).space());
    }
    assertFalse(r.layers().get(0).stopped);
  }

  @Test
  void withRestartsASearchWhoseEveryLayerKeepsFailingEndsAsStalled() {
    // as above: move 0 prunes filter 0 (calls 1-2), then every move on {1, 2} ends with nothing
    // pruned (2 calls each). Patience 2: stalled after the second failed move, at call 6, not at
    // the budget of 100 calls
    List<BinaryFilterSearch.Step> steps = new ArrayList<>();
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {3, 2}, fixed(new double[][] {{0.002, 0.03, 0.5},
        {0.2, 0.3}}, 8), new BinaryFilterSearch.Settings(0.01, 16, 100, true, false, 2), null, (s, p) -> steps.add(s),
        new Random(1));
    assertTrue(r.stalled());
    assertFalse(r.stoppedByTarget());
    assertEquals(6, r.steps());
    assertEquals(2, r.layers().get(0).failedMoves);
    assertTrue(r.layers().get(1).failedMoves >= 2, "layer 1 never prunes: " + r.layers().get(1).failedMoves);
    // a prune resets the count: without patience the same search runs to its budget
    r = BinaryFilterSearch.run(new int[] {3, 2}, fixed(new double[][] {{0.002, 0.03, 0.5}, {0.2, 0.3}}, 8),
        new BinaryFilterSearch.Settings(0.01, 16, 100, true, false), null, null, new Random(1));
    assertFalse(r.stalled());
    assertEquals(100, r.steps());
  }

  @Test
  void movesOfOneBatchAreMadeLeastDamagingFirstAndTheSearchEndsAtTheTarget() {
    // three layers finish their first step on the same batch, each picking filter 0:
    // p = 0.002, 0.001, 0.003. The target (2 filters pruned in all) is met after two moves.
    double[][] d = {{0.002, 0.5, 0.6}, {0.001, 0.9}, {0.003, 0.8}};
    List<BinaryFilterSearch.Step> steps = new ArrayList<>();
    BinaryFilterSearch.Stop twoPruned = pruned -> Arrays.stream(pruned)
        .mapToLong(p -> java.util.stream.IntStream.range(0, p.length).filter(u -> p[u]).count()).sum() >= 2;
    BinaryFilterSearch.Result r = BinaryFilterSearch.run(new int[] {3, 2, 2}, fixed(d, 8),
        new BinaryFilterSearch.Settings(0.01, 16, 100, true, false), twoPruned, (s, p) -> steps.add(s),
        new Random(2));
    assertTrue(r.stoppedByTarget());
    assertEquals(2, r.steps());
    assertEquals(List.of(1, 0), steps.stream().map(BinaryFilterSearch.Step::layer).toList(),
        "layer 1 (p = 0.001) moves before layer 0 (p = 0.002); layer 2's move is not made");
    assertTrue(r.layers().get(0).pruned[0] && r.layers().get(1).pruned[0]);
    assertFalse(r.layers().get(2).pruned[0]);
  }

  @Test
  void theMoveThatMeetsTheTargetIsTrimmedToItsCheapestFilters() {
    // 8 filters, 4 nearly free: the first move (theta 2) prunes the cheaper half; the target needs
    // 2 filters, so only the 2 lowest T-hat of B are pruned, the other 2 stay.
    double[] w = {1, 0.001, 1, 0.002, 1, 0.003, 1, 0.004};
    BinaryFilterSearch.Stop two = pruned -> java.util.stream.IntStream.range(0, 8).filter(u -> pruned[0][u]).count() >= 2;
    List<BinaryFilterSearch.Step> steps = new ArrayList<>();
    BinaryFilterSearch.Result whole = BinaryFilterSearch.run(new int[] {8}, fixed(new double[][] {w}, 64),
        new BinaryFilterSearch.Settings(2, 512, 100, true, false), two, null, new Random(3));
    BinaryFilterSearch.Result trimmed = BinaryFilterSearch.run(new int[] {8}, fixed(new double[][] {w}, 64),
        new BinaryFilterSearch.Settings(2, 512, 100, true, true), two, (s, p) -> steps.add(s), new Random(3));
    boolean[] pw = whole.layers().get(0).pruned;
    boolean[] pt = trimmed.layers().get(0).pruned;
    for (int u = 0; u < 8; u++) {
      assertEquals(w[u] < 0.01, pw[u], "the whole move prunes B = the 4 free filters; filter " + u);
    }
    assertEquals(2, steps.get(0).picked().length);
    BinaryFilterSearch.Layer layer = trimmed.layers().get(0);
    for (int u : steps.get(0).picked()) {
      assertTrue(pt[u] && w[u] < 0.01);
      assertEquals(0, layer.move[u]);
    }
    assertEquals(2, java.util.stream.IntStream.range(0, 8).filter(u -> pt[u]).count());
    // the kept two of B rank above the pruned two by their T-hat
    double maxPruned = java.util.stream.IntStream.range(0, 8).filter(u -> pt[u]).mapToDouble(u -> layer.lastT[u])
        .max().orElseThrow();
    for (int u = 0; u < 8; u++) {
      if (pw[u] && !pt[u]) {
        assertEquals(-1, layer.move[u]);
        assertTrue(layer.lastT[u] >= maxPruned);
      }
    }
  }

  // ---- the two-path training step on a tiny network

  /**
   * x[N,1,4,4] -> Conv 3x3 pad 1 (4 filters) -> BN -> Relu -> Conv 1x1 (3 filters) -> BN -> Relu
   * -> GlobalAveragePool -> Flatten -> Gemm (2 classes). Groups: conv1's 4 channels (read by
   * conv2), conv2's 3 channels (read by the Gemm).
   */
  static Model tiny() {
    Random r = new Random(11);
    Graph g = new Graph("tiny");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(4), Dim.of(4))));
    Value w1 = g.addInitializer("w1", Tensor.ofFloats(new long[] {4, 1, 3, 3}, randoms(r, 36, 0.5f)));
    Value c1 = g.addNode("Conv", "conv1", List.of(x, w1), List.of("c1"), Attribute.of("kernel_shape", new long[] {3, 3}),
        Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value b1 = bn(g, "bn1", c1, 4, r);
    Value r1 = g.addNode("Relu", "relu1", List.of(b1), List.of("r1")).output(0);
    Value w2 = g.addInitializer("w2", Tensor.ofFloats(new long[] {3, 4, 1, 1}, randoms(r, 12, 0.8f)));
    Value c2 = g.addNode("Conv", "conv2", List.of(r1, w2), List.of("c2"), Attribute.of("kernel_shape", new long[] {1, 1}))
        .output(0);
    Value b2 = bn(g, "bn2", c2, 3, r);
    Value r2 = g.addNode("Relu", "relu2", List.of(b2), List.of("r2")).output(0);
    Value p = g.addNode("GlobalAveragePool", "gap", List.of(r2), List.of("p")).output(0);
    Value f = g.addNode("Flatten", "flat", List.of(p), List.of("f")).output(0);
    Value wf = g.addInitializer("wf", Tensor.ofFloats(new long[] {2, 3}, randoms(r, 6, 1f)));
    Value bf = g.addInitializer("bf", Tensor.ofFloats(new long[] {2}, new float[] {0.1f, -0.1f}));
    Value y = g.addNode("Gemm", "fc", List.of(f, wf, bf), List.of("y"), Attribute.of("transB", 1L)).output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static Value bn(Graph g, String name, Value x, int c, Random r) {
    float[] gamma = new float[c];
    float[] beta = new float[c];
    float[] mean = new float[c];
    float[] var = new float[c];
    for (int i = 0; i < c; i++) {
      gamma[i] = 0.5f + r.nextFloat();
      beta[i] = 0.3f * (r.nextFloat() - 0.3f);
      mean[i] = 0.1f * r.nextFloat();
      var[i] = 0.5f + r.nextFloat();
    }
    long[] s = {c};
    return g.addNode("BatchNormalization", name, List.of(x, g.addInitializer(name + ".weight", Tensor.ofFloats(s, gamma)),
        g.addInitializer(name + ".bias", Tensor.ofFloats(s, beta)), g.addInitializer(name + ".running_mean",
            Tensor.ofFloats(s, mean)), g.addInitializer(name + ".running_var", Tensor.ofFloats(s, var))),
        List.of(name + "_out")).output(0);
  }

  private static float[] randoms(Random r, int n, float scale) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = scale * (float) r.nextGaussian();
    }
    return out;
  }

  static ArrayDataset tinyData(int n) {
    Random r = new Random(7);
    float[] x = new float[n * 16];
    long[] y = new long[n];
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < 16; k++) {
        x[i * 16 + k] = (float) r.nextGaussian();
      }
      y[i] = r.nextInt(2);
    }
    return new ArrayDataset(x, new long[] {1, 4, 4}, y);
  }

  /** The two-path session of {@link #tiny()} with everything it needs fed; the groups in {@code ids}. */
  private static MaskedTraining tinySession(ChannelAnalysis a, AofpTraining.Options o, int batch, DamageGraph[] dg,
      int[] ids) throws Exception {
    MethodSetup setup = new MethodSetup(tinyData(64), null, CPU).batchSize(batch);
    MaskedTraining mt = AofpTraining.open(a, setup, o, TrainingData.of(setup.train()), dg);
    List<ChannelGroup> groups = a.prunableGroups();
    assertEquals(2, groups.size());
    assertEquals(2, dg[0].damageOutputs.size());
    ids[0] = groups.stream().filter(g -> g.size() == 4).findFirst().orElseThrow().id();
    ids[1] = groups.stream().filter(g -> g.size() == 3).findFirst().orElseThrow().id();
    for (int id : ids) {
      int c = a.groups().get(id).size();
      float[] ones = new float[c];
      Arrays.fill(ones, 1f);
      mt.session().feed(dg[0].ablateInputs.get(id), ones, 1, c);
    }
    return mt;
  }

  @Test
  void isolatedDamageOfTheTrainingStepIsEquationSevenWithTheBasePathsBatchStatistics() throws Exception {
    Model m = tiny();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    DamageGraph[] dg = new DamageGraph[1];
    int[] ids = new int[2];
    int n = 4;
    try (MaskedTraining mt = tinySession(a, new AofpTraining.Options(), n, dg, ids)) {
      TrainingSession s = mt.session();
      float[] u1 = {1, 1, 0, 1}; // conv1's filter 2 already pruned (base mask)
      mt.setMask(ids[0], u1);
      // per-sample ablations v = u with H zeroed: conv1 group {0,1}, {3}, {1}, {} ; conv2 group {0}, {1,2}, {}, {2}
      float[] h1 = {0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1};
      float[] h2 = {0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0};
      s.feed(dg[0].ablateInputs.get(ids[0]), h1, n, 4);
      s.feed(dg[0].ablateInputs.get(ids[1]), h2, n, 3);
      Batch b = TrainingData.of(tinyData(64)).batch(new int[] {0, 1, 2, 3}, 0, n);
      s.probe(b);
      float[] t1 = s.output(dg[0].damageOutputs.get(ids[0]));
      float[] t2 = s.output(dg[0].damageOutputs.get(ids[1]));
      double[][] want = TinyForward.damage(m, b.inputs(), n, u1, h1, h2);
      for (int i = 0; i < n; i++) {
        assertEquals(want[0][i], t1[i], 1e-5 + 1e-4 * want[0][i], "conv1 group, sample " + i);
        assertEquals(want[1][i], t2[i], 1e-5 + 1e-4 * want[1][i], "conv2 group, sample " + i);
      }
      assertEquals(0, t1[3], 1e-7, "nothing ablated: no damage");
      assertTrue(t1[0] > 0.01 && t2[1] > 0.01, Arrays.toString(t1) + " " + Arrays.toString(t2));
    }
  }

  @Test
  void prunedChannelsGetNoGradientThroughTheMaskedPathAndTheirMaskStaysZero() throws Exception {
    Model m = tiny();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    DamageGraph[] dg = new DamageGraph[1];
    int[] ids = new int[2];
    AofpTraining.Options o = new AofpTraining.Options().momentum(0).weightDecay(0);
    try (MaskedTraining mt = tinySession(a, o, 8, dg, ids)) {
      TrainingSession s = mt.session();
      mt.setMask(ids[0], new float[] {1, 0, 1, 1});
      // the scoring path ablates filter 1's neighbours on every sample: it must not leak gradient either
      float[] h = new float[8 * 4];
      Arrays.fill(h, 1f);
      for (int i = 0; i < 8; i++) {
        h[i * 4 + (i % 2 == 0 ? 0 : 3)] = 0;
      }
      s.feed(dg[0].ablateInputs.get(ids[0]), h, 8, 4);
      float[] w1 = s.get("w1");
      float[] w2 = s.get("w2");
      float[] gamma = s.get("bn1.weight");
      float[] beta = s.get("bn1.bias");
      for (int k = 0; k < 3; k++) {
        mt.step(0.5);
      }
      float[] w1b = s.get("w1");
      float[] w2b = s.get("w2");
      for (int f = 0; f < 4; f++) {
        float[] before = Arrays.copyOfRange(w1, f * 9, f * 9 + 9);
        float[] after = Arrays.copyOfRange(w1b, f * 9, f * 9 + 9);
        if (f == 1) {
          assertArrayEquals(before, after, 0f, "conv1's pruned filter 1 received a gradient");
        } else {
          assertNotEquals(Arrays.toString(before), Arrays.toString(after), "conv1 filter " + f + " did not train");
        }
      }
      assertEquals(gamma[1], s.get("bn1.weight")[1], 0f);
      assertEquals(beta[1], s.get("bn1.bias")[1], 0f);
      assertNotEquals(gamma[0], s.get("bn1.weight")[0]);
      for (int out = 0; out < 3; out++) {
        for (int in = 0; in < 4; in++) {
          int i = out * 4 + in;
          if (in == 1) {
            assertEquals(w2[i], w2b[i], 0f, "conv2 weight [" + out + ", 1] reads the pruned channel");
          } else {
            assertNotEquals(w2[i], w2b[i], "conv2 weight [" + out + ", " + in + "]");
          }
        }
      }
      assertArrayEquals(new float[] {1, 0, 1, 1}, mt.mask(ids[0]));
    }
  }

  @Test
  void tinyRunMeetsItsTargetWithMasksThatOnlyNarrow() throws Exception {
    Model m = tiny();
    long before = CostModel.analyze(m).totalFlops();
    List<TrajectoryPoint> heard = new ArrayList<>();
    MethodSetup setup = new MethodSetup(tinyData(64), tinyData(32), CPU).batchSize(16).listener(heard::add);
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().theta(2).phi(2).maxSteps(200)
        .validateEvery(1));
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.3)).verify(true).sessions(CPU).build()
        .prune(m);
    assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
    assertTrue(r.report().achieved() >= 0.3, "achieved " + r.report().achieved());
    assertTrue(CostModel.analyze(r.model()).totalFlops() <= 0.7 * before);
    List<TrajectoryPoint> tr = r.report().trajectory();
    assertEquals(tr, heard, "the listener hears every point");
    assertEquals("start", tr.get(0).event());
    assertEquals("end", tr.get(tr.size() - 1).event());
    assertNotNull(tr.get(0).accuracy());
    assertNotNull(tr.get(tr.size() - 1).accuracy());
    for (int i = 1; i < tr.size(); i++) {
      for (Map.Entry<Integer, Integer> e : tr.get(i).widths().entrySet()) {
        assertTrue(e.getValue() <= tr.get(i - 1).widths().get(e.getKey()), "a pruned channel came back: " + tr);
      }
      assertTrue(tr.get(i).step() >= tr.get(i - 1).step());
    }
    TrajectoryPoint end = tr.get(tr.size() - 1);
    assertTrue(end.flopsKept() <= 0.7, "end " + end);
    // the method stops at the first move that meets the target: every earlier move left more than 70%
    List<TrajectoryPoint> prunes = tr.stream().filter(p -> p.event().equals("prune")).toList();
    TrajectoryPoint last = prunes.get(prunes.size() - 1);
    assertEquals(end.step(), last.step());
    assertEquals(end.flops(), last.flops());
    prunes.subList(0, prunes.size() - 1).forEach(p -> assertTrue(p.flopsKept() > 0.7, "continued past the target: "
        + p));
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable() && end.widths().containsKey(g.id())) {
        assertEquals((int) end.widths().get(g.id()), g.kept(), "the method's choice is what was applied: group " + g.id());
      }
    }
  }

  @Test
  void aRunThatStopsShortFailsOrWithKeepPartialKeepsWhatItReached() throws Exception {
    MethodSetup setup = new MethodSetup(tinyData(64), tinyData(32), CPU).batchSize(16);
    // a target beyond what 4 steps of moves can reach (failEarly off: the projection would end it at step 3)
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().theta(2).phi(2).maxSteps(4)
        .failEarly(false));
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class,
        () -> Pruner.builder().method(method).target(Target.flops(0.9)).sessions(CPU).build().prune(tiny()));
    assertTrue(e.getMessage().startsWith("aofp-train stopped before reaching flops 0.9; it ended at its budget"
        + " (method.maxSteps 4) after 4 steps"), e.getMessage());
    assertTrue(e.getMessage().endsWith("raise method.maxSteps, raise aofp.theta (larger moves) or lower aofp.phi (faster"
        + " steps)"), e.getMessage());
    Model m = tiny();
    long before = CostModel.analyze(m).totalFlops();
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.9)).keepPartial(true).verify(true)
        .sessions(CPU).build().prune(m);
    assertTrue(r.report().shortOfTarget().startsWith("aofp-train stopped before reaching flops 0.9; it ended at its"
        + " budget"), r.report().shortOfTarget());
    assertTrue(r.report().verify().passed(), "the kept prune verifies against the trained, masked model: "
        + r.report().verify());
    assertTrue(r.report().achieved() < 0.9, "achieved " + r.report().achieved());
    TrajectoryPoint end = r.report().trajectory().get(r.report().trajectory().size() - 1);
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable() && end.widths().containsKey(g.id())) {
        assertEquals((int) end.widths().get(g.id()), g.kept(), "what it reached is applied: group " + g.id());
      }
    }
    assertEquals((double) CostModel.analyze(r.model()).totalFlops() / before, end.flopsKept(), 1e-9);
  }

  // ---- the ResNet-20 fixture, end to end

  @Test
  void onResnet20AThetaNoMoveCanMeetEndsEarlyWithTheReasonOrKeepsNothingPrunedWithKeepPartial() throws Exception {
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 0);
    MethodSetup setup = new MethodSetup(train, null, CPU).batchSize(16);
    // theta 1e-9: only channels that do no damage at all (dead ones) can be pruned, so moves soon end
    // with nothing pruned and restart; patience 2 ends the run once every layer has failed two moves
    // in a row (2 x log2(64) = 12 steps after its last prune) instead of at the budget of 5000 steps
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().theta(1e-9).phi(1).maxSteps(5000)
        .patience(2));
    long t0 = System.nanoTime();
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class, () -> Pruner.builder()
        .method(method).target(Target.flops(0.5)).sessions(CPU).build().prune(OnnxModels.read(TestModels.model(
            "resnet20.onnx"))));
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertTrue(e.getMessage().startsWith("aofp-train stopped before reaching flops 0.5; it ended early, every layer's"
        + " last 2 moves having pruned nothing"), e.getMessage());
    assertTrue(e.getMessage().endsWith("raise aofp.theta (more damage allowed per move)"), e.getMessage());
    assertTrue(method.lastSearch().stalled());
    assertTrue(method.lastSearch().steps() < 500, "steps " + method.lastSearch().steps());
    System.out.printf("resnet20 aofp-train stalled: %d steps of a 5000 budget, %d moves, %.1f s%n",
        method.lastSearch().steps(), method.moves(), seconds);
  }

  @Test
  void onVggBnARunWhosePaceCannotMeetTheTargetEndsAtAFifthOfItsBudgetWithTheProjection() throws Exception {
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 0);
    MethodSetup setup = new MethodSetup(train, null, CPU).batchSize(16);
    // theta 1e-9 prunes little or nothing, and patience 0 keeps the stall rule out of it: only the
    // projection can end the run before its 100 steps
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().theta(1e-9).phi(1).maxSteps(100)
        .patience(0));
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class, () -> Pruner.builder()
        .method(method).target(Target.flops(0.5)).sessions(CPU).build().prune(OnnxModels.read(TestModels.model(
            "vgg_bn.onnx"))));
    assertTrue(e.getMessage().startsWith("aofp-train stopped before reaching flops 0.5; it ended early after 20 steps"
        + " ("), e.getMessage());
    assertTrue(e.getMessage().contains(" of the original, the target out of reach within its budget (method.maxSteps"
        + " 100): at 20% of its budget it had gone "), e.getMessage());
    assertTrue(e.getMessage().endsWith("raise method.maxSteps, raise aofp.theta (larger moves) or lower aofp.phi"
        + " (faster steps)"), e.getMessage());
    assertEquals(20, method.lastSearch().steps());
    // off, the same run trains on to its budget
    AofpTraining on = AofpTraining.create(setup, new AofpTraining.Options().theta(1e-9).phi(1).maxSteps(30)
        .patience(0).failEarly(false));
    TargetUnreachableException full = assertThrows(TargetUnreachableException.class, () -> Pruner.builder()
        .method(on).target(Target.flops(0.5)).sessions(CPU).build().prune(OnnxModels.read(TestModels.model(
            "vgg_bn.onnx"))));
    assertTrue(full.getMessage().contains("it ended at its budget (method.maxSteps 30) after 30 steps"),
        full.getMessage());
  }

  @Test
  void onVggBnATimeBudgetEndsTheRunAndNamesItsKey() throws Exception {
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 0);
    MethodSetup setup = new MethodSetup(train, null, CPU).batchSize(16);
    // a budget of one millisecond is spent by the end of the first step, whatever the machine
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().timeBudget(
        java.time.Duration.ofMillis(1)));
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.5)).keepPartial(true).sessions(CPU).build()
        .prune(m);
    assertTrue(r.report().shortOfTarget().startsWith("aofp-train stopped before reaching flops 0.5; it ended at its"
        + " time budget (method.maxSeconds 0.001) after 1 steps"), r.report().shortOfTarget());
    assertTrue(r.report().shortOfTarget().endsWith("raise method.maxSeconds, raise aofp.theta (larger moves) or lower"
        + " aofp.phi (faster steps)"), r.report().shortOfTarget());
    assertEquals(1, method.lastSearch().steps());
    assertThrows(dev.onnxprune.errors.InvalidOptionException.class,
        () -> new AofpTraining.Options().timeBudget(java.time.Duration.ZERO));
  }

  @Test
  void resnet20ReachesHalfTheFlopsVerifiesAndRecordsItsTrajectory() throws Exception {
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 0);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), norm, 256);
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    long before = CostModel.analyze(m).totalFlops();
    MethodSetup setup = new MethodSetup(train, test, CPU).batchSize(32).validationLimit(256);
    AofpTraining method = AofpTraining.create(setup, new AofpTraining.Options().theta(0.5).phi(1).maxSteps(40)
        .validateEvery(1000));
    long t0 = System.nanoTime();
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.5)).verify(true).sessions(CPU).build()
        .prune(m);
    double seconds = (System.nanoTime() - t0) / 1e9;
    double achieved = 1 - (double) CostModel.analyze(r.model()).totalFlops() / before;
    assertTrue(achieved >= 0.5 && achieved < 0.6, "achieved " + achieved);
    assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
    List<TrajectoryPoint> tr = r.report().trajectory();
    assertTrue(tr.size() >= 3, "trajectory " + tr);
    assertEquals("aofp-train", r.report().criterion());
    assertEquals("aofp-train", r.report().allocation());
    TrajectoryPoint start = tr.get(0);
    TrajectoryPoint end = tr.get(tr.size() - 1);
    assertEquals(1.0, start.flopsKept(), 1e-12);
    assertTrue(start.accuracy() > 0.85, "the fixture starts accurate: " + start);
    assertTrue(end.flopsKept() <= 0.5, "end " + end);
    assertTrue(tr.stream().anyMatch(p -> p.event().equals("prune")));
    System.out.printf("resnet20 aofp-train: %.1f s, %d steps, %d moves, achieved %.3f, start %s, end %s%n", seconds,
        method.lastSearch().steps(), method.moves(), achieved, start, end);
  }

  /** {@link #tiny()}'s training-mode forward in plain Java, and eq. 7 for both groups. */
  static final class TinyForward {
    private TinyForward() {}

    private static float[] init(Model m, String name) {
      return m.graph().lookup(name).initializer().toFloatArray();
    }

    /**
     * t per sample: [0] conv1's group (ablation h1 [n, 4] on top of base mask u1, measured at
     * relu2), [1] conv2's group (h2 [n, 3], measured at the logits).
     */
    static double[][] damage(Model m, float[] x, int n, float[] u1, float[] h1, float[] h2) {
      float[] w1 = init(m, "w1");
      float[] w2 = init(m, "w2");
      float[] wf = init(m, "wf");
      float[] bf = init(m, "bf");
      double[][][][] c1 = new double[n][4][4][4];
      for (int s = 0; s < n; s++) {
        for (int f = 0; f < 4; f++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              double acc = 0;
              for (int di = 0; di < 3; di++) {
                for (int dj = 0; dj < 3; dj++) {
                  int ii = i + di - 1;
                  int jj = j + dj - 1;
                  if (ii >= 0 && ii < 4 && jj >= 0 && jj < 4) {
                    acc += x[s * 16 + ii * 4 + jj] * w1[f * 9 + di * 3 + dj];
                  }
                }
              }
              c1[s][f][i][j] = acc;
            }
          }
        }
      }
      double[][][][] r1 = relu(batchNorm(c1, null, init(m, "bn1.weight"), init(m, "bn1.bias")));
      double[][][][] in2 = new double[n][4][4][4];
      double[][][][] in2h = new double[n][4][4][4];
      for (int s = 0; s < n; s++) {
        for (int f = 0; f < 4; f++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              in2[s][f][i][j] = r1[s][f][i][j] * u1[f];
              in2h[s][f][i][j] = in2[s][f][i][j] * h1[s * 4 + f];
            }
          }
        }
      }
      double[][][][] c2 = conv1x1(in2, w2);
      double[][][][] c2h = conv1x1(in2h, w2);
      float[] g2 = init(m, "bn2.weight");
      float[] b2 = init(m, "bn2.bias");
      double[][][][] mM = relu(batchNorm(c2, null, g2, b2));
      double[][][][] mH = relu(batchNorm(c2h, c2, g2, b2)); // the base path's statistics
      double[][] t = new double[2][n];
      for (int s = 0; s < n; s++) {
        double num = 0;
        double den = 0;
        for (int o = 0; o < 3; o++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              double d = mM[s][o][i][j] - mH[s][o][i][j];
              num += d * d;
              den += mM[s][o][i][j] * mM[s][o][i][j];
            }
          }
        }
        t[0][s] = num / (den + 1e-12);
        double[] p = new double[3];
        for (int o = 0; o < 3; o++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              p[o] += mM[s][o][i][j] / 16;
            }
          }
        }
        double numL = 0;
        double denL = 0;
        for (int k = 0; k < 2; k++) {
          double y = bf[k];
          double yh = bf[k];
          for (int o = 0; o < 3; o++) {
            y += p[o] * wf[k * 3 + o];
            yh += p[o] * h2[s * 3 + o] * wf[k * 3 + o];
          }
          numL += (y - yh) * (y - yh);
          denL += y * y;
        }
        t[1][s] = numL / (denL + 1e-12);
      }
      return t;
    }

    private static double[][][][] conv1x1(double[][][][] in, float[] w) {
      int n = in.length;
      int cin = in[0].length;
      int cout = w.length / cin;
      double[][][][] out = new double[n][cout][4][4];
      for (int s = 0; s < n; s++) {
        for (int o = 0; o < cout; o++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              double acc = 0;
              for (int f = 0; f < cin; f++) {
                acc += in[s][f][i][j] * w[o * cin + f];
              }
              out[s][o][i][j] = acc;
            }
          }
        }
      }
      return out;
    }

    /** BatchNormalization with the batch statistics (biased variance, eps 1e-5) of {@code stats}, or of x when null. */
    private static double[][][][] batchNorm(double[][][][] x, double[][][][] stats, float[] gamma, float[] beta) {
      double[][][][] st = stats == null ? x : stats;
      int n = x.length;
      int c = x[0].length;
      double[][][][] out = new double[n][c][4][4];
      for (int f = 0; f < c; f++) {
        double mean = 0;
        for (int s = 0; s < n; s++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              mean += st[s][f][i][j];
            }
          }
        }
        mean /= n * 16;
        double var = 0;
        for (int s = 0; s < n; s++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              var += (st[s][f][i][j] - mean) * (st[s][f][i][j] - mean);
            }
          }
        }
        var /= n * 16;
        double a = gamma[f] / Math.sqrt(var + 1e-5);
        for (int s = 0; s < n; s++) {
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
              out[s][f][i][j] = (x[s][f][i][j] - mean) * a + beta[f];
            }
          }
        }
      }
      return out;
    }

    private static double[][][][] relu(double[][][][] x) {
      for (double[][][] a : x) {
        for (double[][] b : a) {
          for (double[] c : b) {
            for (int i = 0; i < c.length; i++) {
              c[i] = Math.max(0, c[i]);
            }
          }
        }
      }
      return x;
    }
  }
}
