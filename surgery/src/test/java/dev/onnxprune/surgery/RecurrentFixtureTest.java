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
  void lstmHiddenUnitsAreAGroupThatNamesTheOp() throws Exception {
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model(LSTM)));
    ChannelGroup hidden = a.groups().stream().filter(g -> g.producers().equals(List.of("/lstm/LSTM"))).findFirst()
        .orElseThrow(() -> new AssertionError(a.groups().toString()));
    assertFalse(hidden.prunable());
    assertEquals(32, hidden.size());
    assertEquals(List.of("'/lstm/LSTM' (LSTM): LSTM hidden units are not pruned (a unit is its gate rows of W, R and B"
        + " and its column of R, fed back at every step)"), hidden.blockReasons());
  }

  @Test
  void embeddingWidthReadByTheLstmPrunesToTheMaskedOriginal() throws Exception {
    Model model = OnnxModels.read(TestModels.model(LSTM));
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    assertEquals(1, a.prunableGroups().size(), a.groups().toString());
    ChannelGroup emb = a.prunableGroups().get(0);
    assertEquals(Kind.HIDDEN, emb.kind());
    assertEquals(List.of("/word/Gather"), emb.producers());
    Oracle.Result r = Oracle.check(model, an -> Oracle.fraction(an, 0.3), 3);
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
    assertTrue(hidden.blockReasons().contains("'gru' (GRU): GRU hidden units are not pruned (a unit is its gate rows of"
        + " W, R and B and its column of R, fed back at every step)"), hidden.blockReasons().toString());
    Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 1), 5);
    Oracle.assertEquivalent(r);
    Node pruned = r.pruned().graph().nodes().stream().filter(n -> n.is("GRU")).findFirst().orElseThrow();
    assertArrayEquals(new long[] {2, 15, 5}, Analyzer.constant(pruned.input(1)).dims(), "W keeps 5 of 8 columns");
  }
}
