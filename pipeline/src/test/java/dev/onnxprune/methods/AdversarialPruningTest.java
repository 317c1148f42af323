package dev.onnxprune.methods;

import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingData;
import dev.onnxprune.training.TrainingOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Adversarial structured pruning (Cai et al. 2019): the projection (eq. 4), both clipping cases
 * (eq. 5, 6) and the k rule by hand; the PGD direction on a network whose mask gradient is known;
 * the reversal of a removal that does not recover; and a run through the pruner on the ResNet-20
 * fixture.
 */
class AdversarialPruningTest {
  private static final Sessions CPU = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  @Test
  void projectionClampsEntriesOutsideTheBoxToItsNearestEdge() {
    float[] m = {1.05f, 1.3f, 0.7f, 1f, 0.9f, 1.1f, -2f};
    assertEquals(3, AdversarialPruning.project(m, 0.1, null));
    assertArrayEquals(new float[] {1.05f, 1.1f, 0.9f, 1f, 0.9f, 1.1f, 0.9f}, m);
    float[] inactive = {0f, 1.5f};
    assertEquals(1, AdversarialPruning.project(inactive, 0.1, new boolean[] {false, true}));
    assertArrayEquals(new float[] {0f, 1.1f}, inactive, "a removed channel's 0 stays 0");
    assertTrue(AdversarialPruning.atBoundary(1.1f, 0.1) && AdversarialPruning.atBoundary(0.9f, 0.1));
    assertTrue(!AdversarialPruning.atBoundary(1.05f, 0.1) && !AdversarialPruning.atBoundary(0.95f, 0.1));
  }

  @Test
  void caseOneKeepsTheEntriesAtOrAboveOnePlusTauEpsilon() {
    // eps 0.1, tau 0.9: keep |m| >= 1.09
    float[] m = {1.1f, 1.09f, 1.05f, 0.9f, 1f, 0f, 1.095f};
    boolean[] kept = {true, true, true, true, true, false, true};
    assertArrayEquals(new boolean[] {true, true, false, false, false, false, true},
        AdversarialPruning.clipBoundary(m, kept, 0.1, 0.9));
    // tau 0: everything at or above 1 stays
    assertArrayEquals(new boolean[] {true, true, true, false, true, false, true},
        AdversarialPruning.clipBoundary(m, kept, 0.1, 0));
    // two-sided: |m - 1| >= 0.09 keeps the lower edge 0.9 too
    assertArrayEquals(new boolean[] {true, true, false, true, false, false, true},
        AdversarialPruning.clipBoundary(m, kept, 0.1, 0.9, true));
  }

  @Test
  void caseTwoRemovesTheSPlusKSmallestAndKDoublesOrHalves() {
    float[] m = {1.02f, 0.97f, 0f, 1.05f, 0.99f, 0.97f};
    boolean[] kept = {true, true, false, true, true, true}; // s = 1 already removed
    // k = 2: the s + k = 3 smallest |m| are 0 (removed), 0.97 at 1 and 0.97 at 5 (tie: lower index first)
    assertArrayEquals(new boolean[] {true, false, false, true, true, false},
        AdversarialPruning.clipSmallest(m, kept, 2));
    assertArrayEquals(new boolean[] {true, false, false, true, true, true},
        AdversarialPruning.clipSmallest(m, kept, 1));
    assertArrayEquals(new boolean[] {false, false, false, false, false, false},
        AdversarialPruning.clipSmallest(m, kept, 9));
    // two-sided: the 2 kept entries the attack moved least, |m - 1| = 0.01 (at 4) and 0.02 (at 0)
    assertArrayEquals(new boolean[] {false, true, false, true, false, true},
        AdversarialPruning.clipSmallest(m, kept, 2, true));
    assertEquals(2, AdversarialPruning.nextK(1, false));
    assertEquals(16, AdversarialPruning.nextK(8, false));
    assertEquals(4, AdversarialPruning.nextK(8, true));
    assertEquals(0, AdversarialPruning.nextK(1, true), "k = 1 reversed: the layer cannot be sparsified any more");
  }

  /**
   * x[N,2] -> Gemm (identity) -> h -> Gemm (identity) -> logits; every sample is x = (1, 1) with
   * label 0, so logits = (m0, m1), L = log(1 + exp(m1 - m0)) and at m = 1: dL/dm0 = -1/2, dL/dm1 = 1/2.
   */
  static Model twoUnits() {
    Graph g = new Graph("two-units");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(2))));
    Value w1 = g.addInitializer("w1", Tensor.ofFloats(new long[] {2, 2}, new float[] {1, 0, 0, 1}));
    Value h = g.addNode("Gemm", "fc1", List.of(x, w1), List.of("h"), Attribute.of("transB", 1L)).output(0);
    Value w2 = g.addInitializer("w2", Tensor.ofFloats(new long[] {2, 2}, new float[] {1, 0, 0, 1}));
    Value y = g.addNode("Gemm", "fc2", List.of(h, w2), List.of("y"), Attribute.of("transB", 1L)).output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  static ArrayDataset ones(int n) {
    float[] x = new float[2 * n];
    java.util.Arrays.fill(x, 1f);
    return new ArrayDataset(x, new long[] {2}, new long[n]);
  }

  @Test
  void aPgdStepAscendsTheLoss() {
    Model m = twoUnits();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    assertEquals(1, a.prunableGroups().size(), a.toString());
    int id = a.prunableGroups().get(0).id();
    MethodSetup setup = new MethodSetup(ones(8), ones(8), CPU).batchSize(4);
    try (MaskedTraining mt = new MaskedTraining(a, setup, TrainingOptions.builder().optimizer(Optimizer.adam(0)), true,
        TrainingData.of(setup.train()))) {
      double before = mt.probe(mt.nextBatch()).loss();
      assertEquals(Math.log(2), before, 1e-6);
      float[] g = mt.maskGradient(id);
      assertArrayEquals(new float[] {-0.5f, 0.5f}, g, 1e-6f);
      // one step of eta 0.1 inside a box of eps 0.5: m = 1 + 0.1 * (-1/2, 1/2)
      float[] soft = AdversarialPruning.adversarialPhase(mt, id, new boolean[] {true, true}, 1, 0.1, 0.5);
      assertArrayEquals(new float[] {0.95f, 1.05f}, soft, 1e-6f);
      assertArrayEquals(new float[] {1f, 1f}, mt.mask(id), "the session is left with the binary mask");
      mt.setMask(id, soft);
      double after = mt.probe(mt.nextBatch()).loss();
      assertEquals(Math.log(1 + Math.exp(0.1)), after, 1e-6, "L_adv = -L went down: L went up");
      assertTrue(after > before);
      // three steps of eta 1 in a box of eps 0.2: clamped to the edges after the first
      mt.setMask(id, new float[] {1f, 1f});
      soft = AdversarialPruning.adversarialPhase(mt, id, new boolean[] {true, true}, 3, 1, 0.2);
      assertArrayEquals(new float[] {0.8f, 1.2f}, soft, 1e-6f);
      // a removed unit stays at 0 and the kept one moves alone
      soft = AdversarialPruning.adversarialPhase(mt, id, new boolean[] {false, true}, 1, 0.1, 0.5);
      assertEquals(0f, soft[0]);
      assertTrue(soft[1] > 1f, "m1 = " + soft[1]);
    }
  }

  private static ArrayDataset calibration(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), n);
  }

  @Test
  void aRemovalThatDoesNotRecoverIsReversedWithItsWeights() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    Map<String, float[]> original = initializers(m);
    ArrayDataset data = calibration(64);
    List<TrajectoryPoint> heard = new ArrayList<>();
    MethodSetup setup = new MethodSetup(data, data, CPU).batchSize(16).validationLimit(64).listener(heard::add);
    // Adam at learning rate 1 moves every weight by about 1 in one step: the accuracy cannot recover
    AdversarialPruning method = AdversarialPruning.create(setup, new AdversarialPruning.Options().pgdSteps(1)
        .iterations(1).iterationBatches(1).etaReg(1).maxSteps(4));
    MethodResult res = method.run(m, null);
    AdversarialPruning.Summary s = method.summary();
    assertEquals(2, s.visits(), s.toString());
    assertEquals(2, s.reversals(), s.toString());
    assertEquals(0, s.recovered(), s.toString());
    assertEquals(4, s.steps());
    assertTrue(s.stopReason().contains("method.maxSteps 4"), s.stopReason());
    assertEquals(List.of("start", "prune", "reverse", "prune", "reverse", "end"),
        res.trajectory().stream().map(TrajectoryPoint::event).toList());
    assertEquals(res.trajectory(), heard, "the listener hears every point");
    TrajectoryPoint start = res.trajectory().get(0);
    TrajectoryPoint reverse = res.trajectory().get(2);
    assertTrue(res.trajectory().get(1).flops() < start.flops(), "the removal lowered the FLOPs");
    assertEquals(start.flops(), reverse.flops(), "the reversal restored the mask");
    assertEquals(start.accuracy(), reverse.accuracy());
    assertEquals(Map.of(), res.removals(), "not aimed: it returns what it removed, nothing");
    assertTrue(res.targetMet());
    Map<String, float[]> after = initializers(res.model());
    for (Map.Entry<String, float[]> e : original.entrySet()) {
      assertArrayEquals(e.getValue(), after.get(e.getKey()), e.getKey() + " was not restored");
    }
  }

  @Test
  void withoutValidationDataItRefusesToStart() {
    MethodSetup setup = new MethodSetup(ones(8), null, CPU);
    InvalidOptionException e = assertThrows(InvalidOptionException.class,
        () -> AdversarialPruning.create(setup, new AdversarialPruning.Options()));
    assertEquals("evaluation", e.key());
    assertTrue(e.getMessage().startsWith("evaluation is required by adversarial pruning"), e.getMessage());
    assertEquals("adversarial.epsilon must be in (0, 1): 1.5", assertThrows(InvalidOptionException.class,
        () -> new AdversarialPruning.Options().epsilon(1.5)).getMessage());
    assertNull(AdversarialPruning.create(new MethodSetup(ones(8), ones(8), CPU), new AdversarialPruning.Options())
        .summary());
  }

  @Test
  void prunesTheResnet20FixtureToHalfItsFlopsThroughThePrunerAndVerifies() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    ArrayDataset data = calibration(128);
    // a tiny box (eps 1e-3) and a long PGD step make the attack clamp (case 1), which removes many
    // channels per visit; tolerance 1 accepts every removal, so the run is short and deterministic
    AdversarialPruning method = AdversarialPruning.create(new MethodSetup(data, data, CPU).batchSize(16)
        .validationLimit(64), new AdversarialPruning.Options().epsilon(1e-3).etaAdv(1).pgdSteps(1).iterations(1)
        .iterationBatches(1).tolerance(1).maxSteps(60));
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.5)).verify(true).sessions(CPU).build()
        .prune(m);
    PruneReport rep = r.report();
    AdversarialPruning.Summary s = method.summary();
    assertTrue(s.targetMet(), s.toString());
    assertTrue(s.case1() > 0, "the tiny box makes the attack clamp: " + s);
    assertTrue(rep.achieved() >= 0.5 && rep.achieved() < 0.55, "achieved " + rep.achieved());
    assertTrue(rep.verify().passed(), "verify " + rep.verify());
    assertEquals("adversarial", rep.allocation());
    List<TrajectoryPoint> t = rep.trajectory();
    assertEquals("start", t.get(0).event());
    assertEquals("end", t.get(t.size() - 1).event());
    assertEquals(1.0, t.get(0).flopsKept(), 1e-12);
    assertEquals(1 - rep.achieved(), t.get(t.size() - 1).flopsKept(), 1e-9, "the trajectory ends at the pruned FLOPs");
    assertTrue(t.stream().filter(p -> p.event().equals("prune")).count() == s.visits(), t.toString());
    for (PruneReport.Group g : rep.groups()) {
      if (g.prunable()) {
        assertEquals(g.kept(), (int) t.get(t.size() - 1).widths().get(g.id()), "group " + g.id());
      }
    }
  }

  @Test
  void aRunThatStopsShortOfTheTargetSaysWhyThroughThePruner() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    AdversarialPruning method = twoStepBudget();
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class,
        () -> Pruner.builder().method(method).target(Target.flops(0.5)).build().prune(m));
    assertTrue(e.getMessage().startsWith("adversarial stopped before reaching flops 0.5; the step budget"
        + " (method.maxSteps 2) ran out after 2 steps at 0.9"), e.getMessage());
    assertEquals(1, method.summary().visits());
  }

  @Test
  void withKeepPartialAShortRunKeepsWhatItReachedAndVerifies() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    AdversarialPruning method = twoStepBudget();
    PruneResult r = Pruner.builder().method(method).target(Target.flops(0.5)).keepPartial(true).verify(true)
        .sessions(CPU).build().prune(m);
    assertTrue(r.report().shortOfTarget().startsWith("adversarial stopped before reaching flops 0.5; the step"
        + " budget (method.maxSteps 2)"), r.report().shortOfTarget());
    assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
    assertTrue(r.report().achieved() > 0 && r.report().achieved() < 0.5, "achieved " + r.report().achieved());
    TrajectoryPoint end = r.report().trajectory().get(r.report().trajectory().size() - 1);
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable() && end.widths().containsKey(g.id())) {
        assertEquals((int) end.widths().get(g.id()), g.kept(), "what it reached is applied: group " + g.id());
      }
    }
  }

  @Test
  void aSpentTimeBudgetEndsTheRunBeforeTheNextVisitAndNamesItsKey() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    ArrayDataset data = calibration(32);
    // one millisecond is spent before the first visit, whatever the machine
    AdversarialPruning method = AdversarialPruning.create(new MethodSetup(data, data, CPU).batchSize(16)
        .validationLimit(32), new AdversarialPruning.Options().pgdSteps(1).iterations(1).iterationBatches(1)
        .timeBudget(java.time.Duration.ofMillis(1)));
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class,
        () -> Pruner.builder().method(method).target(Target.flops(0.5)).sessions(CPU).build().prune(m));
    assertTrue(e.getMessage().startsWith("adversarial stopped before reaching flops 0.5; the time budget"
        + " (method.maxSeconds 0.001) ran out after 0 steps at 1.000 of the FLOPs; raise method.maxSeconds"),
        e.getMessage());
    assertEquals(0, method.summary().visits());
  }

  /** Adversarial pruning with a budget of 2 steps: it stops after its first layer visit, far from -50%. */
  private static AdversarialPruning twoStepBudget() throws Exception {
    ArrayDataset data = calibration(32);
    return AdversarialPruning.create(new MethodSetup(data, data, CPU).batchSize(16).validationLimit(32),
        new AdversarialPruning.Options().pgdSteps(1).iterations(1).iterationBatches(1).tolerance(1).maxSteps(2));
  }

  private static Map<String, float[]> initializers(Model m) {
    Map<String, float[]> out = new java.util.LinkedHashMap<>();
    for (Value v : m.graph().initializers()) {
      if (v.initializer().dataType() == DataType.FLOAT) {
        out.put(v.name(), v.initializer().toFloatArray());
      }
    }
    return out;
  }
}
