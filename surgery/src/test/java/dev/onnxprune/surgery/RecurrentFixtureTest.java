package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelGroup.Kind;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The LSTM classifier fixture (testmodels/export_transformers.py lstm_tiny): the embedding width
 * the LSTM reads is pruned through the columns of W; the LSTM's hidden units are a group that
 * names the op and why it stays.
 */
class RecurrentFixtureTest {
  private static final String LSTM = "lstm_tiny.onnx";

  @Test
  void lstmHiddenUnitsPruneToTheExactReference() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    ChannelGroup hidden = a.groups().stream().filter(g -> g.producers().equals(List.of("/lstm/LSTM"))).findFirst()
        .orElseThrow(() -> new AssertionError(a.groups().toString()));
    assertTrue(hidden.prunable(), hidden.blockReasons().toString());
    assertEquals(32, hidden.size());
    assertEquals(2, a.prunableGroups().size(), a.groups().toString());
    Oracle.Result r = Oracle.check(model, an -> Oracle.everyKth(an, 3, 1), 3);
    System.out.printf("%s hidden + embedding: removed %d units, max abs diff %.3g (vs unmasked original %.3g)%n", LSTM,
        r.removed(), r.maxAbs(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    Node lstm = r.pruned().graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
    assertEquals(21, lstm.attrLong("hidden_size", -1), "11 of 32 units removed");
    assertArrayEquals(new long[] {1, 4 * 21, 21}, Analyzer.constant(lstm.input(2)).dims(), "R: gate rows and columns");
    assertArrayEquals(new long[] {1, 8 * 21}, Analyzer.constant(lstm.input(3)).dims(), "B: Wb and Rb halves");
    assertTrue(r.relVsOriginal() > 1e-3, "removing the units changed the output, so the check compared something");
  }

  @Test
  void embeddingWidthReadByTheLstmPrunesToTheMaskedOriginal() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    ChannelGroup emb = a.prunableGroups().get(0);
    assertEquals(Kind.HIDDEN, emb.kind());
    assertEquals(List.of("/word/Gather"), emb.producers());
    // the embedding alone: 9 of its 32 channels
    Oracle.Result r = Oracle.check(model, an -> PrunePlan.builder(an).remove(an.prunableGroups().get(0),
        java.util.stream.IntStream.range(0, 9).map(i -> (i * 7 + 3) % 32).toArray()).build(), 3);
    System.out.printf("%s: removed %d units, max abs diff %.3g (vs unmasked original %.3g)%n", LSTM, r.removed(),
        r.maxAbs(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    assertEquals(9, r.removed());
    Node lstm = r.pruned().graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
    assertEquals(23, Analyzer.constant(lstm.input(1)).dim(2), "W keeps the columns of the kept embedding channels");
    assertTrue(r.relVsOriginal() > 1e-3, "removing the channels changed the output, so the check compared something");
  }

  @Test
  void bidirectionalGruReadsPrunedFeaturesThroughItsWeightColumns() throws Exception {
    // x [N, 4, 6] -> MatMul to 8 features -> [4, N, 8] -> bidirectional GRU (5 hidden) -> Y_h -> output
    Net net = new Net();
    Value x = net.input(4, 6);
    Value h = net.op("Transpose", List.of(net.op("MatMul", List.of(x, net.weight(6, 8)))),
        Attribute.of("perm", new long[] {1, 0, 2}));
    Node gru = net.g.addNode("GRU", "gru", List.of(h, net.weight(2, 15, 8), net.weight(2, 15, 5), net.weight(2, 30)),
        List.of("gru_y", "gru_y_h"), Attribute.of("hidden_size", 5L), Attribute.of("direction", "bidirectional"));
    net.output(net.op("Transpose", List.of(gru.output(1)), Attribute.of("perm", new long[] {1, 0, 2})));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(1, a.prunableGroups().size(), a.groups().toString());
    ChannelGroup hidden = a.groups().stream().filter(g -> g.producers().equals(List.of("gru"))).findFirst()
        .orElseThrow(() -> new AssertionError(a.groups().toString()));
    assertFalse(hidden.prunable());
    assertTrue(hidden.blockReasons().stream().anyMatch(r -> r.endsWith("is a graph output and keeps its channels")),
        hidden.blockReasons().toString());
    Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 1), 5);
    Oracle.assertEquivalent(r);
    Node pruned = r.pruned().graph().nodes().stream().filter(n -> n.is("GRU")).findFirst().orElseThrow();
    assertArrayEquals(new long[] {2, 15, 5}, Analyzer.constant(pruned.input(1)).dims(), "W keeps 5 of 8 columns");
  }

  /**
   * x [N, 4, 6] -> seq first -> op (hidden 5, constant weights, LSTM with peepholes) -> Y and Y_h
   * each read by a MatMul [5, 3]: the hidden units prune to the exact reference (W, R, B rows and
   * R's column zeroed), forward and bidirectional, GRU with and without linear_before_reset.
   */
  private static Net recurrentNet(String op, String direction, long linearBeforeReset) {
    Net net = new Net();
    int d = direction.equals("bidirectional") ? 2 : 1;
    int gates = op.equals("LSTM") ? 4 : op.equals("GRU") ? 3 : 1;
    Value x = net.op("Transpose", List.of(net.input(4, 6)), Attribute.of("perm", new long[] {1, 0, 2}));
    List<Value> inputs = new java.util.ArrayList<>(List.of(x, net.weight(d, gates * 5, 6), net.weight(d, gates * 5, 5),
        net.weight(d, 2 * gates * 5)));
    if (op.equals("LSTM")) {
      inputs.addAll(java.util.Arrays.asList(null, null, null, net.weight(d, 15)));
    }
    List<Attribute> attrs = new java.util.ArrayList<>(List.of(Attribute.of("hidden_size", 5L),
        Attribute.of("direction", direction)));
    if (op.equals("GRU")) {
      attrs.add(Attribute.of("linear_before_reset", linearBeforeReset));
    }
    Node rnn = net.g.addNode(op, "rnn", inputs, List.of("rnn_y", "rnn_y_h"), attrs.toArray(new Attribute[0]));
    net.output(net.op("MatMul", List.of(rnn.output(0), net.weight(5, 3))));
    net.output(net.op("MatMul", List.of(rnn.output(1), net.weight(5, 3))));
    return net;
  }

  @Test
  void rnnGruLstmHiddenUnitsPruneToTheExactReference() throws Exception {
    for (String op : List.of("RNN", "GRU", "LSTM")) {
      for (String direction : List.of("forward", "bidirectional")) {
        for (long lbr : op.equals("GRU") ? new long[] {0, 1} : new long[] {0}) {
          String what = op + " " + direction + (op.equals("GRU") ? " linear_before_reset " + lbr : "");
          Net net = recurrentNet(op, direction, lbr);
          ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
          assertEquals(1, a.prunableGroups().size(), what + ": " + a.groups());
          Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 2, 1), 7);
          System.out.printf("%s: removed %d of 5 units, max abs diff %.3g (vs unmasked original %.3g)%n", what,
              r.removed(), r.maxAbs(), r.relVsOriginal());
          Oracle.assertEquivalent(r);
          assertEquals(2, r.removed(), what);
          assertTrue(r.relVsOriginal() > 1e-3, what + ": the units mattered");
          Node pruned = r.pruned().graph().nodes().stream().filter(n -> n.is(op)).findFirst().orElseThrow();
          int d = direction.equals("bidirectional") ? 2 : 1;
          int gates = op.equals("LSTM") ? 4 : op.equals("GRU") ? 3 : 1;
          assertEquals(3, pruned.attrLong("hidden_size", -1), what);
          assertArrayEquals(new long[] {d, gates * 3, 6}, Analyzer.constant(pruned.input(1)).dims(), what);
          assertArrayEquals(new long[] {d, gates * 3, 3}, Analyzer.constant(pruned.input(2)).dims(), what);
          assertArrayEquals(new long[] {d, 2 * gates * 3}, Analyzer.constant(pruned.input(3)).dims(), what);
          if (op.equals("LSTM")) {
            assertArrayEquals(new long[] {d, 9}, Analyzer.constant(pruned.input(7)).dims(), what + ": peepholes");
          }
        }
      }
    }
  }

  @Test
  void aZeroedUnitStaysZeroFromZeroInitialState() throws Exception {
    // The reference zeroes a unit's W, R, B rows and R column: its own state then stays exactly 0
    // (LSTM c = f*c + i*tanh(0), h = o*tanh(c); GRU n = tanh(0), h = (1-z)*n + z*h; RNN tanh(0)).
    for (String op : List.of("RNN", "GRU", "LSTM")) {
      for (long lbr : op.equals("GRU") ? new long[] {0, 1} : new long[] {0}) {
        Net net = recurrentNet(op, "bidirectional", lbr);
        ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
        new MaskInsertion(Oracle.everyKth(a, 2, 1)).run(a.model());
        Node rnn = a.model().graph().nodes().stream().filter(n -> n.is(op)).findFirst().orElseThrow();
        a.model().graph().addOutput(rnn.output(0));
        java.util.Map<String, dev.onnxprune.runtime.HostTensor> feeds =
            dev.onnxprune.runtime.RandomInputs.of(a.model()).draw(new java.util.Random(5));
        List<float[]> outs = Oracle.run(a.model(), feeds);
        float[] y = outs.get(outs.size() - 1); // [seq, 2, N, 5]
        double removedMax = 0;
        double keptMax = 0;
        for (int i = 0; i < y.length; i++) {
          int unit = i % 5;
          if (unit == 1 || unit == 3) {
            removedMax = Math.max(removedMax, Math.abs(y[i]));
          } else {
            keptMax = Math.max(keptMax, Math.abs(y[i]));
          }
        }
        assertEquals(0.0, removedMax, op + " lbr " + lbr + ": removed units' outputs");
        assertTrue(keptMax > 1e-2, op + ": kept units are not 0");
      }
    }
  }

  @Test
  void lstmCostCountsTheGateProductsAndPlanCostPredictsThePrunedOne() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    // no position table bounds the sequence: its length is given (12, the fixture's calibration length)
    dev.onnxprune.graph.cost.CostReport before = dev.onnxprune.graph.cost.CostModel.analyze(model, 12);
    Node lstm = model.graph().nodes().stream().filter(n -> n.is("LSTM")).findFirst().orElseThrow();
    dev.onnxprune.graph.cost.NodeCost c = before.nodes().stream().filter(x -> x.node() == lstm).findFirst()
        .orElseThrow();
    System.out.println(c + "; model " + before.totalMacs() + " MACs");
    assertTrue(c.known(), c.toString());
    long[] x = Analyzer.constant(lstm.input(1)).dims(); // [1, 4 * 32, 32]
    assertEquals(12L * x[0] * x[1] * (x[2] + 32), c.macs(), "seq 12 x batch 1 x 1 x 4 x 32 x (32 + 32)");
    assertEquals(2 * c.macs(), c.flops());
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    PrunePlan plan = Oracle.everyKth(a, 3, 1);
    PlanCost.Costs predicted = PlanCost.of(a, 12).evaluate(plan.removals());
    new ChannelPruningPass(plan).run(model);
    dev.onnxprune.graph.cost.CostReport after = dev.onnxprune.graph.cost.CostModel.analyze(model, 12);
    System.out.printf("%s every 3rd unit: params %d -> %d, MACs %d -> %d%n", LSTM, before.totalParams(),
        after.totalParams(), before.totalMacs(), after.totalMacs());
    assertEquals(after.totalParams(), predicted.params());
    assertEquals(after.totalMacs(), predicted.macs());
    assertEquals(after.totalFlops(), predicted.flops());
    assertTrue(after.totalMacs() < before.totalMacs() * 0.6, "21 of 32 units and 21 of 32 inputs: about (21/32)^2");
  }

  /**
   * gru_tiny (testmodels/export_transformers.py): a bidirectional GRU (PyTorch's, so
   * linear_before_reset 1) whose head reads h[0] + h[1]: the two directions' unit j meet in that
   * Add, so they are one unit of one group and go together.
   */
  @Test
  void bidirectionalGruFixturePrunesToTheExactReference() throws Exception {
    Model model = OnnxModels.read(TestModels.model("gru_tiny.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    Node gru = model.graph().nodes().stream().filter(n -> n.is("GRU")).findFirst().orElseThrow();
    assertEquals(1, gru.attrLong("linear_before_reset", 0));
    ChannelGroup hidden = a.groups().stream().filter(g -> g.producers().contains(ChannelAnalysis.name(gru)))
        .findFirst().orElseThrow(() -> new AssertionError(a.groups().toString()));
    assertTrue(hidden.prunable(), hidden.blockReasons().toString());
    assertEquals(16, hidden.size());
    assertEquals(2, a.prunableGroups().size(), a.groups().toString());
    Oracle.Result r = Oracle.check(model, an -> Oracle.fraction(an, 0.3), 3);
    System.out.printf("gru_tiny.onnx: removed %d units, max abs diff %.3g (vs unmasked original %.3g)%n", r.removed(),
        r.maxAbs(), r.relVsOriginal());
    Oracle.assertEquivalent(r);
    assertTrue(r.relVsOriginal() > 1e-3, "the units mattered");
    Node pruned = r.pruned().graph().nodes().stream().filter(n -> n.is("GRU")).findFirst().orElseThrow();
    assertEquals(12, pruned.attrLong("hidden_size", -1), "4 of 16 units in both directions");
    assertArrayEquals(new long[] {2, 36, 17}, Analyzer.constant(pruned.input(1)).dims(), "W: 7 of 24 inputs go too");
    assertArrayEquals(new long[] {2, 36, 12}, Analyzer.constant(pruned.input(2)).dims());
    assertArrayEquals(new long[] {2, 72}, Analyzer.constant(pruned.input(3)).dims());
  }
}
