package dev.onnxprune.methods;

import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.LatencyModel;
import dev.onnxprune.prune.LatencyModelTest;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.testmodels.TestModels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** PruneNet: the proximal step, the costs per objective, coupled groups, the fixed phase, resnet20 end to end. */
class PruneNetTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);

  @Test
  void proximalStepSoftThresholdsByEachChannelsCostAndKeepsSigns() {
    // lr * lambda = 0.25; weights 1 except the last (4): thresholds 0.25, ..., 1.0 (all exact in binary)
    float[] x = {0.75f, -0.75f, 0.25f, -0.25f, 0.125f, -0.125f, 0f, 1.5f};
    double[] w = {1, 1, 1, 1, 1, 1, 1, 4};
    float[] y = PruneNet.proximal(x, 0.5, 0.5, w);
    assertArrayEquals(new float[] {0.5f, -0.5f, 0f, 0f, 0f, 0f, 0f, 0.5f}, y, 0f,
        "above the threshold: shrunk toward 0 keeping the sign; at or below it: 0");
    assertEquals(-0.5f, PruneNet.proximal(-1.5f, 1.0), 0f);
    assertEquals(0f, PruneNet.proximal(1.5f, 1.5), 0f);
    assertEquals(0.75f, PruneNet.proximal(0.75f, 0), 0f, "a zero threshold changes nothing");
  }

  @Test
  void optionsRefuseBadValuesNamingThem() {
    assertEquals(PruneNet.Objective.LATENCY, PruneNet.Objective.byName("Latency"));
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> PruneNet.Objective.byName("macs"));
    assertEquals("prunenet.objective must be flops, params or latency: 'macs'", e.getMessage());
    e = assertThrows(InvalidOptionException.class, () -> new PruneNet.Options().stepFraction(1));
    assertEquals("prunenet.stepFraction must be in (0, 1): 1.0", e.getMessage());
    assertThrows(InvalidOptionException.class, () -> new PruneNet.Options().lambda(-1));
    assertThrows(InvalidOptionException.class, () -> new PruneNet.Options().regularisedLr(0));
    assertThrows(InvalidOptionException.class, () -> new PruneNet.Options().maxSteps(-1));
  }

  /**
   * x[N,1,4,4] -> Conv1 (2 filters 3x3, pad 1) -> BN1 -> Relu -> Conv2 (2 -> 3, 3x3, stride 2,
   * pad 1) -> BN2 -> Relu -> GlobalAveragePool -> Flatten -> Gemm (3 -> 2, no bias) -> y. Conv2's
   * weights are all 1; the Gemm's rows are [1, 2], [3, 4], [0, 0].
   */
  static Model costNet() {
    Graph g = new Graph("cost");
    Random r = new Random(3);
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(4), Dim.of(4))));
    Value c1 = g.addNode("Conv", "conv1", List.of(x, g.addInitializer("w1", randomTensor(r, 2, 1, 3, 3))), List.of("c1"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value r1 = g.addNode("Relu", "relu1", List.of(bn(g, "bn1", c1, 2, r)), List.of("r1")).output(0);
    float[] ones = new float[3 * 2 * 9];
    java.util.Arrays.fill(ones, 1f);
    Value c2 = g.addNode("Conv", "conv2", List.of(r1, g.addInitializer("w2", Tensor.ofFloats(new long[] {3, 2, 3, 3},
        ones))), List.of("c2"), Attribute.of("kernel_shape", new long[] {3, 3}),
        Attribute.of("strides", new long[] {2, 2}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value r2 = g.addNode("Relu", "relu2", List.of(bn(g, "bn2", c2, 3, r)), List.of("r2")).output(0);
    Value p = g.addNode("GlobalAveragePool", "gap", List.of(r2), List.of("p")).output(0);
    Value f = g.addNode("Flatten", "flat", List.of(p), List.of("f")).output(0);
    Value y = g.addNode("Gemm", "fc", List.of(f, g.addInitializer("fc_w", Tensor.ofFloats(new long[] {3, 2},
        new float[] {1, 2, 3, 4, 0, 0}))), List.of("y")).output(0);
    g.addOutput(y);
    return model(g);
  }

  /**
   * A residual block: x[N,1,6,6] -> ConvA (4, 3x3) -> BNa -> Relu -> ConvB (4 -> 4, 3x3) -> BNb;
   * x -> ConvS (4, 1x1) -> BNs; Add -> Relu -> GlobalAveragePool -> Flatten -> Gemm (4 -> 3).
   * ConvB and ConvS's channels are one group through the Add, with two BNs.
   */
  static Model residualNet() {
    Graph g = new Graph("residual");
    Random r = new Random(5);
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(6), Dim.of(6))));
    Attribute k3 = Attribute.of("kernel_shape", new long[] {3, 3});
    Attribute pad = Attribute.of("pads", new long[] {1, 1, 1, 1});
    Value ca = g.addNode("Conv", "convA", List.of(x, g.addInitializer("wa", randomTensor(r, 4, 1, 3, 3))),
        List.of("ca"), k3, pad).output(0);
    Value ra = g.addNode("Relu", "reluA", List.of(bn(g, "bnA", ca, 4, r)), List.of("ra")).output(0);
    Value cb = g.addNode("Conv", "convB", List.of(ra, g.addInitializer("wb", randomTensor(r, 4, 4, 3, 3))),
        List.of("cb"), k3, pad).output(0);
    Value cs = g.addNode("Conv", "convS", List.of(x, g.addInitializer("ws", randomTensor(r, 4, 1, 1, 1))),
        List.of("cs"), Attribute.of("kernel_shape", new long[] {1, 1})).output(0);
    Value sum = g.addNode("Add", "add", List.of(bn(g, "bnB", cb, 4, r), bn(g, "bnS", cs, 4, r)), List.of("sum"))
        .output(0);
    Value rs = g.addNode("Relu", "reluOut", List.of(sum), List.of("rs")).output(0);
    Value p = g.addNode("GlobalAveragePool", "gap", List.of(rs), List.of("p")).output(0);
    Value f = g.addNode("Flatten", "flat", List.of(p), List.of("f")).output(0);
    Value y = g.addNode("Gemm", "fc", List.of(f, g.addInitializer("fc_w", randomTensor(r, 4, 3)),
        g.addInitializer("fc_b", Tensor.ofFloats(new long[] {3}, new float[3]))), List.of("y")).output(0);
    g.addOutput(y);
    return model(g);
  }

  private static Value bn(Graph g, String name, Value in, int c, Random r) {
    float[] gamma = new float[c];
    float[] beta = new float[c];
    float[] mean = new float[c];
    float[] var = new float[c];
    for (int i = 0; i < c; i++) {
      gamma[i] = 0.5f + r.nextFloat();
      beta[i] = 0.1f * (float) r.nextGaussian();
      mean[i] = 0.1f * (float) r.nextGaussian();
      var[i] = 0.5f + r.nextFloat();
    }
    long[] d = {c};
    return g.addNode("BatchNormalization", name, List.of(in, g.addInitializer(name + ".weight", Tensor.ofFloats(d, gamma)),
        g.addInitializer(name + ".bias", Tensor.ofFloats(d, beta)),
        g.addInitializer(name + ".running_mean", Tensor.ofFloats(d, mean)),
        g.addInitializer(name + ".running_var", Tensor.ofFloats(d, var))), List.of(name + "_out")).output(0);
  }

  private static Tensor randomTensor(Random r, long... dims) {
    int n = 1;
    for (long d : dims) {
      n *= (int) d;
    }
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = 0.5f * (float) r.nextGaussian();
    }
    return Tensor.ofFloats(dims, v);
  }

  private static Model model(Graph g) {
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  /** {@code n} random images of {@code side}^2 with random labels in [0, classes). */
  private static ArrayDataset randomData(int n, int side, int classes, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n * side * side];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    long[] y = new long[n];
    for (int i = 0; i < n; i++) {
      y[i] = r.nextInt(classes);
    }
    return new ArrayDataset(x, new long[] {1, side, side}, y);
  }

  @Test
  void channelCostsPerObjectiveAreWhatOneChannelSaves() throws Exception {
    ChannelAnalysis a = ChannelAnalysis.analyze(costNet());
    List<ChannelGroup> gs = a.prunableGroups();
    assertEquals(2, gs.size());
    int g0 = gs.get(0).id();
    int g1 = gs.get(1).id();
    PlanCost cost = PlanCost.of(a);
    // one conv1 channel: conv1 16 * 9 MACs (288 FLOPs) + BN 2 * 16 + Relu 16 + conv2's input: 3 * 4 * 9 MACs (216)
    // one conv2 channel: conv2 4 * 2 * 9 MACs (144) + BN 2 * 4 + Relu 4 + pool 4 + Gemm 2 MACs (4)
    double[] flops = PruneNet.channelCosts(a, cost, PruneNet.Objective.FLOPS, null, Map.of());
    assertEquals(552, flops[g0], 0);
    assertEquals(164, flops[g1], 0);
    // parameters: conv1 9 + BN 4 + conv2 3 * 9 = 40; conv2 2 * 9 + BN 4 + Gemm 2 = 24
    double[] params = PruneNet.channelCosts(a, cost, PruneNet.Objective.PARAMS, null, Map.of());
    assertEquals(40, params[g0], 0);
    assertEquals(24, params[g1], 0);
    // marginal: with one conv2 channel gone, a conv1 channel feeds 2 outputs of conv2: 288 + 32 + 16 + 2 * 4 * 9 * 2
    double[] after = PruneNet.channelCosts(a, cost, PruneNet.Objective.FLOPS, null, Map.of(g1, new int[] {2}));
    assertEquals(480, after[g0], 0);
    // latency: the fitted seconds per channel ((group id + 1) * 10 us with this timer)
    LatencyModel lm = LatencyModel.measure(a, LatencyModelTest.LINEAR);
    double[] lat = PruneNet.channelCosts(a, cost, PruneNet.Objective.LATENCY, lm, Map.of());
    assertEquals((g0 + 1) * 1e-5, lat[g0], 1e-12);
    assertEquals((g1 + 1) * 1e-5, lat[g1], 1e-12);
    // ||W_out,c||: conv2's weights are all 1 (3 outputs x 9 taps per input channel); the Gemm's rows
    List<PruneNet.GroupState> states = new ArrayList<>();
    List<PruneNet.WeightSlice> slices = new ArrayList<>();
    PruneNet.describe(a, states, slices);
    double[][] s = PruneNet.outgoingNorms(a, slices, states);
    assertArrayEquals(new double[] {Math.sqrt(27), Math.sqrt(27)}, s[g0], 1e-9);
    assertArrayEquals(new double[] {Math.sqrt(5), 5, 0}, s[g1], 1e-9);
    assertEquals(PruneNet.Kind.GAMMA, states.get(0).kind);
    assertEquals(PruneNet.Kind.GAMMA, states.get(1).kind);
  }

  @Test
  void residualGroupsAreRegularisedThroughOneSharedMask() throws Exception {
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model("resnet20.onnx")));
    List<PruneNet.GroupState> states = new ArrayList<>();
    PruneNet.describe(a, states, new ArrayList<>());
    assertEquals(12, states.size());
    for (PruneNet.GroupState s : states) {
      boolean residual = s.id() == 0 || s.id() == 5 || s.id() == 9;
      assertEquals(residual ? PruneNet.Kind.MASK : PruneNet.Kind.GAMMA, s.kind, "group " + s.id());
      assertEquals(residual ? 4 : 1, s.bns.size(), "BNs of group " + s.id());
    }
  }

  @Test
  void residualChannelsArePrunedTogetherAndTheFixedPhaseKeepsStatisticsAndConvolutions() throws Exception {
    Model m = residualNet();
    Map<String, float[]> fixed = constants(m);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    int residual = a.prunableGroups().stream().filter(g -> g.producers().size() == 2).findFirst().orElseThrow().id();
    List<String> problems = new ArrayList<>();
    List<String> checked = new ArrayList<>();
    List<TrajectoryPoint> heard = new ArrayList<>();
    PruneNet[] running = new PruneNet[1]; // the listener reads the copy the method trains
    MethodSetup setup = new MethodSetup(randomData(32, 6, 3, 1), randomData(16, 6, 3, 2), CPU).batchSize(8)
        .listener(p -> {
          Model w = running[0].working;
          heard.add(p);
          if (p.event().equals("prune") && heard.stream().filter(q -> q.event().equals("prune")).count() == 1) {
            // right after the first regularised phase (the recovery has not run yet)
            checked.add("prune");
            constants(w).forEach((name, v) -> {
              if (!java.util.Arrays.equals(v, fixed.get(name))) {
                problems.add(name + " changed in the regularised phase");
              }
            });
          }
          if (p.event().equals("end")) {
            // both BNs of the residual group have gamma 0 at the same channels, as many as were removed
            checked.add("end");
            float[] b = gamma(w, "bnB");
            float[] s = gamma(w, "bnS");
            int removed = 4 - p.widths().get(residual);
            int zeros = 0;
            for (int c = 0; c < 4; c++) {
              if ((b[c] == 0f) != (s[c] == 0f)) {
                problems.add("channel " + c + ": bnB gamma " + b[c] + ", bnS gamma " + s[c]);
              }
              zeros += b[c] == 0f ? 1 : 0;
            }
            if (zeros != removed || removed == 0) {
              problems.add(zeros + " zero gammas for " + removed + " removed residual channels");
            }
          }
        });
    PruneNet pn = PruneNet.create(setup, new PruneNet.Options().lambda(1).regularisedLr(0.05).regularisedSteps(3)
        .recoverySteps(2).stepFraction(0.3));
    running[0] = pn;
    // 0.6 of the FLOPs cannot come from convA's channels alone: the residual group must lose some
    PruneResult r = Pruner.builder().method(pn).target(Target.flops(0.6)).verify(true).sessions(CPU).build()
        .prune(m);
    assertEquals(List.of("prune", "end"), checked);
    assertTrue(problems.isEmpty(), problems.toString());
    assertTrue(r.report().achieved() >= 0.6, "achieved " + r.report().achieved());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    PruneReport.Group g = r.report().groups().get(residual);
    assertEquals(g.kept(), gamma(r.model(), "bnB").length);
    assertEquals(g.kept(), gamma(r.model(), "bnS").length);
    assertTrue(g.kept() < 4);
  }

  @Test
  void regularisedPhaseZeroesGammasButNotStatisticsOrConvolutions() throws Exception {
    Model m = costNet();
    Map<String, float[]> fixed = constants(m);
    float[] gamma1 = gamma(m, "bn1");
    List<String> problems = new ArrayList<>();
    List<String> checked = new ArrayList<>();
    PruneNet[] running = new PruneNet[1]; // the listener reads the copy the method trains
    MethodSetup setup = new MethodSetup(randomData(32, 4, 2, 3), null, CPU).batchSize(8).listener(p -> {
      Model w = running[0].working;
      if (p.event().equals("prune") && p.step() == 4) {
        checked.add("after the regularised phase");
        constants(w).forEach((name, v) -> {
          if (!java.util.Arrays.equals(v, fixed.get(name))) {
            problems.add(name + " changed in the regularised phase");
          }
        });
        if (java.util.Arrays.equals(gamma(w, "bn1"), gamma1)) {
          problems.add("the regularised phase left BN1's gammas as they were");
        }
      }
    });
    // lambda so large that one proximal step zeroes every gamma: the ranking then goes by cost
    PruneNet pn = PruneNet.create(setup, new PruneNet.Options().lambda(1000).regularisedSteps(4).recoverySteps(1));
    running[0] = pn;
    PruneResult r = Pruner.builder().method(pn).target(Target.flops(0.1)).verify(true).sessions(CPU).build()
        .prune(m);
    assertEquals(List.of("after the regularised phase"), checked);
    assertTrue(problems.isEmpty(), problems.toString());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    // every importance reached 0: the step removes all it may (each group keeps one channel) up to the
    // target, costliest first: one conv1 channel (552 of 1164 FLOPs) meets 0.1
    assertEquals(1, r.report().groups().get(0).kept());
    assertEquals(3, r.report().groups().get(1).kept());
    assertNull(r.report().trajectory().get(0).accuracy());
  }

  @ParameterizedTest
  @EnumSource(PruneNet.Objective.class)
  void everyObjectiveReachesATargetInItsOwnMeasureAndVerifies(PruneNet.Objective objective) throws Exception {
    Model m = costNet();
    // (group id + 1) * 10 us per channel and nothing else: a third of the time can go
    LatencyModel.Timer timer = model -> {
      double t = 0;
      for (ChannelGroup g : ChannelAnalysis.analyze(model).prunableGroups()) {
        t += (g.id() + 1) * 1e-5 * g.size();
      }
      return t;
    };
    LatencyModel lm = LatencyModel.measure(ChannelAnalysis.analyze(m), timer);
    Target target = switch (objective) {
      case FLOPS -> Target.flops(0.3);
      case PARAMS -> Target.params(0.3);
      case LATENCY -> Target.latency(0.3);
    };
    PruneNet pn = PruneNet.create(new MethodSetup(randomData(32, 4, 2, 4), null, CPU).batchSize(8),
        new PruneNet.Options().objective(objective).latency(lm).regularisedSteps(2).recoverySteps(2));
    PruneResult r = Pruner.builder().method(pn).target(target).latency(lm).verify(true).sessions(CPU).build()
        .prune(m);
    assertTrue(r.report().achieved() >= 0.3, objective + " achieved " + r.report().achieved());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
  }

  /** Conv weights and BN running statistics, by name. */
  private static Map<String, float[]> constants(Model m) {
    Map<String, float[]> out = new HashMap<>();
    for (Node n : m.graph().nodes()) {
      if (n.is("Conv")) {
        out.put(n.name() + ".w", PruneNet.root(n.input(1)).initializer().toFloatArray());
      } else if (n.is("BatchNormalization")) {
        out.put(n.name() + ".mean", PruneNet.root(n.input(3)).initializer().toFloatArray());
        out.put(n.name() + ".var", PruneNet.root(n.input(4)).initializer().toFloatArray());
      }
    }
    return out;
  }

  private static float[] gamma(Model m, String bn) {
    for (Node n : m.graph().nodes()) {
      if (n.name().equals(bn)) {
        return PruneNet.root(n.input(1)).initializer().toFloatArray();
      }
    }
    throw new AssertionError("no node " + bn);
  }

  @Test
  void aSpentTimeBudgetGoesStraightToTheTargetByTheCurrentImportance() throws Exception {
    List<TrajectoryPoint> heard = new java.util.ArrayList<>();
    // one millisecond is spent before the first phase's first step, whatever the machine
    PruneNet pn = PruneNet.create(new MethodSetup(randomData(16, 4, 2, 5), null, CPU).batchSize(8).listener(heard::add),
        new PruneNet.Options().regularisedSteps(50).recoverySteps(50).timeBudget(java.time.Duration.ofMillis(1)));
    PruneResult r = Pruner.builder().method(pn).target(Target.flops(0.3)).sessions(CPU).build().prune(costNet());
    assertTrue(r.report().achieved() >= 0.3, "achieved " + r.report().achieved());
    assertEquals(0, heard.get(heard.size() - 1).step(), "no optimizer step once the time is spent: " + heard);
  }

  @Test
  void unreachableTargetSaysEveryGroupIsDownToOneChannel() throws Exception {
    PruneNet pn = PruneNet.create(new MethodSetup(randomData(16, 4, 2, 5), null, CPU).batchSize(8),
        new PruneNet.Options().regularisedSteps(1).recoverySteps(1));
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class,
        () -> Pruner.builder().method(pn).target(Target.flops(0.99)).sessions(CPU).build().prune(costNet()));
    assertTrue(e.getMessage().startsWith("prunenet cannot reach the target: every group is down to one channel"),
        e.getMessage());
  }

  @Test
  void modelWithoutBatchNormIsRefusedNamingTheLack() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20_folded.onnx"));
    PruneNet pn = PruneNet.create(new MethodSetup(randomData(8, 28, 10, 1), null, CPU), new PruneNet.Options());
    OnnxPruneException e = assertThrows(OnnxPruneException.class,
        () -> Pruner.builder().method(pn).target(Target.flops(0.5)).build().prune(m));
    assertTrue(e.getMessage().contains("no BatchNormalization over any prunable channel group"), e.getMessage());
    PruneNet unaimed = PruneNet.create(new MethodSetup(randomData(8, 28, 10, 1), null, CPU), new PruneNet.Options());
    IllegalStateException s = assertThrows(IllegalStateException.class,
        () -> unaimed.run(OnnxModels.read(TestModels.model("resnet20.onnx")), null));
    assertTrue(s.getMessage().contains("the Pruner does"), s.getMessage());
  }

  @Test
  void resnet20ReachesHalfTheFlopsVerifiesAndRecordsItsTrajectory() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    Normalization norm = new Normalization(new float[] {0.286f}, new float[] {0.353f});
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 1000);
    ArrayDataset val = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), norm, 200);
    List<TrajectoryPoint> heard = new ArrayList<>();
    MethodSetup setup = new MethodSetup(train, val, CPU).batchSize(32).validationLimit(200).listener(heard::add);
    PruneNet pn = PruneNet.create(setup, new PruneNet.Options().regularisedSteps(8).recoverySteps(8)
        .stepFraction(0.3).maxSteps(40));
    PruneResult r = Pruner.builder().method(pn).target(Target.flops(0.5)).verify(true).sessions(CPU).build()
        .prune(m);
    assertTrue(r.report().achieved() >= 0.5 && r.report().achieved() < 0.52, "achieved " + r.report().achieved());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    assertEquals("prunenet", r.report().allocation());
    List<TrajectoryPoint> t = r.report().trajectory();
    assertEquals(heard, t, "the listener hears every point");
    assertEquals("start", t.get(0).event());
    assertEquals("end", t.get(t.size() - 1).event());
    for (String event : List.of("regularise", "prune", "recover")) {
      assertTrue(t.stream().anyMatch(p -> p.event().equals(event)), event + " in " + t);
    }
    assertEquals(1.0, t.get(0).flopsKept(), 0);
    assertTrue(t.get(t.size() - 1).flopsKept() <= 0.5);
    assertTrue(t.get(t.size() - 1).step() <= 40, "the step budget holds");
    for (TrajectoryPoint p : t) {
      assertNotNull(p.accuracy(), p.toString());
    }
    assertTrue(t.get(0).accuracy() > 0.85, "the fixture's own accuracy: " + t.get(0).accuracy());
    assertTrue(t.get(t.size() - 1).accuracy() > 0.4, "after recovery: " + t.get(t.size() - 1).accuracy());
  }
}
