package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One before/after case per channel rule, each checked by the masking oracle in ONNX Runtime. */
class ChannelRulesTest {

  private static Node producerOf(Model m, String valueName) {
    return m.graph().value(valueName).producer();
  }

  private static long[] dimsOf(Model m, Node n, int input) {
    return Analyzer.constant(m.graph().lookup(n.input(input).name())).dims();
  }

  private static ChannelGroup groupProducedBy(ChannelAnalysis a, String nodeName) {
    return a.groups().stream().filter(g -> g.producers().contains(nodeName)).findFirst().orElseThrow();
  }

  @Test
  void convChainRemovesFiltersBnParametersAndNextInputSlice() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 8, 8);
    Value c1 = net.conv(x, 3, 8, 3);
    Value h = net.relu(net.bn(c1, 8));
    Value c2 = net.output(net.conv(h, 8, 4, 3));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(2, a.groups().size());
    ChannelGroup g = groupProducedBy(a, producerOf(net.model, c1.name()).name());
    assertTrue(g.prunable());
    assertEquals(8, g.size());
    assertFalse(groupProducedBy(a, producerOf(net.model, c2.name()).name()).prunable());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1, 5).build(), 1);
    Oracle.assertEquivalent(r);
    Node conv1 = r.pruned().graph().nodes().get(0);
    assertArrayEquals(new long[] {6, 3, 3, 3}, dimsOf(r.pruned(), conv1, 1));
    assertArrayEquals(new long[] {6}, dimsOf(r.pruned(), conv1, 2));
    Node bn = r.pruned().graph().nodes().get(1);
    for (int i = 1; i <= 4; i++) {
      assertArrayEquals(new long[] {6}, dimsOf(r.pruned(), bn, i));
    }
    Node conv2 = r.pruned().graph().nodes().get(3);
    assertArrayEquals(new long[] {4, 6, 3, 3}, dimsOf(r.pruned(), conv2, 1));
  }

  @Test
  void residualAddCouplesBothBranchesIntoOneGroup() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 6, 6);
    Value a1 = net.relu(net.conv(x, 3, 8, 3));
    Value b1 = net.conv(a1, 8, 8, 3);
    Value sum = net.relu(net.op("Add", List.of(a1, b1)));
    net.output(net.conv(sum, 8, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup g = a.groups().get(0);
    assertEquals(2, g.producers().size());
    assertEquals(8, g.size());
    assertTrue(g.members().stream().anyMatch(m -> m.role() == GroupMember.Role.MERGE));
    Oracle.assertEquivalent(Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 0), 2));
  }

  @Test
  void concatInputPrunedShiftsLaterOffsets() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value p = net.conv(x, 3, 4, 1);
    Value q = net.conv(x, 3, 6, 3);
    Value cat = net.op("Concat", List.of(p, q), Attribute.of("axis", 1L));
    Value r = net.output(net.conv(cat, 10, 4, 1));
    Model original = Oracle.copy(net.model);
    Oracle.Result res = Oracle.check(net.model, an -> PrunePlan.builder(an)
        .remove(groupProducedBy(an, producerOf(an.model(), p.name()).name()), 1)
        .remove(groupProducedBy(an, producerOf(an.model(), q.name()).name()), 2).build(), 3);
    Oracle.assertEquivalent(res);
    Node rNode = producerOf(res.pruned(), r.name());
    Tensor w = Analyzer.constant(rNode.input(1));
    assertArrayEquals(new long[] {4, 8, 1, 1}, w.dims());
    // Input columns 1 (p's unit 1) and 4 + 2 = 6 (q's unit 2) are gone; the others keep their weights.
    float[] before = Analyzer.constant(producerOf(original, r.name()).input(1)).toFloatArray();
    float[] after = w.toFloatArray();
    int[] keptColumns = {0, 2, 3, 4, 5, 7, 8, 9};
    for (int o = 0; o < 4; o++) {
      for (int k = 0; k < keptColumns.length; k++) {
        assertEquals(before[o * 10 + keptColumns[k]], after[o * 8 + k]);
      }
    }
  }

  @Test
  void cascadedConcatsAsInDenseNetStayEquivalent() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 6, 6);
    Value c0 = net.relu(net.bn(net.conv(x, 3, 4, 3), 4));
    Value c1 = net.conv(net.relu(net.bn(c0, 4)), 4, 3, 3);
    Value cat1 = net.op("Concat", List.of(c0, c1), Attribute.of("axis", 1L));
    Value c2 = net.conv(net.relu(net.bn(cat1, 7)), 7, 3, 3);
    Value cat2 = net.op("Concat", List.of(cat1, c2), Attribute.of("axis", 1L));
    net.output(net.conv(net.relu(net.bn(cat2, 10)), 10, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(3, a.prunableGroups().size());
    Oracle.assertEquivalent(Oracle.check(net.model, an -> Oracle.everyKth(an, 2, 1), 4));
  }

  @Test
  void splitOnChannelsRewritesItsSizes() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.conv(x, 3, 8, 3);
    Value sizes = net.g.addInitializer("sizes", Tensor.vector(3, 5));
    Node split = net.g.addNode("Split", "split", List.of(c, sizes), List.of("s0", "s1"), Attribute.of("axis", 1L));
    Value o1 = net.conv(split.output(0), 3, 2, 1);
    Value o2 = net.conv(split.output(1), 5, 2, 1);
    net.output(net.op("Add", List.of(o1, o2)));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 0, 4, 6).build(), 5);
    Oracle.assertEquivalent(r);
    Node s = r.pruned().graph().value("s0").producer();
    assertArrayEquals(new long[] {2, 3}, Analyzer.constant(s.input(1)).toLongArray());
  }

  @Test
  void splitThatWouldEmptyAnOutputIsRefused() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.conv(x, 3, 4, 3);
    Node split = net.g.addNode("Split", "split", List.of(c, net.g.addInitializer("sz", Tensor.vector(1, 3))),
        List.of("s0", "s1"), Attribute.of("axis", 1L));
    Value o1 = net.conv(split.output(0), 1, 2, 1);
    Value o2 = net.conv(split.output(1), 3, 2, 1);
    net.output(net.op("Add", List.of(o1, o2)));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    PrunePlan plan = PrunePlan.builder(a).remove(a.groups().get(0), 0).build();
    Exception e = assertThrows(dev.onnxprune.graph.GraphException.class, () -> new ChannelPruningPass(plan).run(net.model));
    assertEquals("'split' (Split): output 0 would lose all 1 channels", e.getMessage());
  }

  @Test
  void sliceOnChannelsRewritesItsBounds() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.conv(x, 3, 8, 3);
    Value sl = net.op("Slice", List.of(c, net.g.addInitializer("st", Tensor.vector(2)),
        net.g.addInitializer("en", Tensor.vector(7)), net.g.addInitializer("ax", Tensor.vector(1))));
    net.output(net.conv(sl, 5, 2, 1));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 0, 3, 7).build(), 6);
    Oracle.assertEquivalent(r);
    Node slice = r.pruned().graph().nodes().get(1);
    assertArrayEquals(new long[] {1}, Analyzer.constant(slice.input(1)).toLongArray());
    assertArrayEquals(new long[] {5}, Analyzer.constant(slice.input(2)).toLongArray());
  }

  @Test
  void depthwiseConvCarriesChannelsAndRewritesGroup() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 6, 6);
    Value c = net.relu(net.conv(x, 3, 8, 1));
    Value dw = net.relu(net.bn(net.conv(c, 8, 8, 3, 8), 8));
    net.output(net.conv(dw, 8, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup g = a.groups().get(0);
    assertEquals(8, g.size());
    assertTrue(g.members().stream().anyMatch(m -> m.opType().equals("Conv") && m.role() == GroupMember.Role.CHANNELWISE));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 2, 3).build(), 7);
    Oracle.assertEquivalent(r);
    Node dwNode = r.pruned().graph().nodes().get(2);
    assertEquals(6, dwNode.attrLong("group", 0));
    assertArrayEquals(new long[] {6, 1, 3, 3}, dimsOf(r.pruned(), dwNode, 1));
  }

  @Test
  void groupedConvRemovesWholeGroups() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 6, 6);
    Value c = net.relu(net.conv(x, 3, 8, 1));
    Value gc = net.relu(net.conv(c, 8, 8, 3, 4));
    net.output(net.conv(gc, 8, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(1, a.prunableGroups().size());
    assertEquals(4, a.prunableGroups().get(0).size(), "units are the 4 conv groups");
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.prunableGroups().get(0), 1).build(), 8);
    Oracle.assertEquivalent(r);
    Node gNode = r.pruned().graph().nodes().get(2);
    assertEquals(3, gNode.attrLong("group", 0));
    assertArrayEquals(new long[] {6, 2, 3, 3}, dimsOf(r.pruned(), gNode, 1));
    assertArrayEquals(new long[] {6, 3, 1, 1}, dimsOf(r.pruned(), r.pruned().graph().nodes().get(0), 1));
  }

  @Test
  void flattenIntoGemmRemovesFeatureBlocks() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value c = net.relu(net.conv(x, 3, 4, 3));
    Value f = net.op("Flatten", List.of(c), Attribute.of("axis", 1L));
    Value y = net.op("Gemm", List.of(f, net.weight(5, 64), net.weight(5)), Attribute.of("transB", 1L));
    net.output(y);
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1).build(), 9);
    Oracle.assertEquivalent(r);
    Node gemm = r.pruned().graph().nodes().get(3);
    assertArrayEquals(new long[] {5, 48}, dimsOf(r.pruned(), gemm, 1));
  }

  @Test
  void reshapeToFeaturesWithConstantTargetIsRewritten() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value c = net.relu(net.conv(x, 3, 4, 3));
    Value f = net.op("Reshape", List.of(c, net.g.addInitializer("shape", Tensor.vector(-1, 64))));
    net.output(net.op("MatMul", List.of(f, net.weight(64, 5))));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 0, 3).build(), 10);
    Oracle.assertEquivalent(r);
    assertArrayEquals(new long[] {-1, 32}, Analyzer.constant(r.pruned().graph().nodes().get(2).input(1)).toLongArray());
  }

  @Test
  void squeezeExcitationGateCouplesGateWithFeatureMap() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 6, 6);
    Value y = net.relu(net.conv(x, 3, 8, 3));
    Value s = net.op("GlobalAveragePool", List.of(y));
    Value z = net.relu(net.conv(s, 8, 2, 1));
    Value gate = net.op("Sigmoid", List.of(net.conv(z, 2, 8, 1)));
    Value scaled = net.op("Mul", List.of(y, gate));
    net.output(net.conv(scaled, 8, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup main = a.groups().get(0);
    assertEquals(2, main.producers().size(), "the feature conv and the gate's expanding conv");
    assertEquals(8, main.size());
    Oracle.assertEquivalent(Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 1), 11));
  }

  @Test
  void channelShuffleCouplesTheSamePositionOfEveryGroup() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value c = net.relu(net.conv(x, 3, 8, 1));
    Value r1 = net.op("Reshape", List.of(c, net.g.addInitializer("s1", Tensor.vector(-1, 2, 4, 4, 4))));
    Value t = net.op("Transpose", List.of(r1), Attribute.of("perm", new long[] {0, 2, 1, 3, 4}));
    Value r2 = net.op("Reshape", List.of(t, net.g.addInitializer("s2", Tensor.vector(-1, 8, 4, 4))));
    net.output(net.conv(r2, 8, 4, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(4, a.groups().get(0).size(), "positions j and j+4 are one unit");
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1).build(), 12);
    Oracle.assertEquivalent(r);
    assertArrayEquals(new long[] {-1, 2, 3, 4, 4}, Analyzer.constant(r.pruned().graph().nodes().get(2).input(1)).toLongArray());
    assertArrayEquals(new long[] {-1, 6, 4, 4}, Analyzer.constant(r.pruned().graph().nodes().get(4).input(1)).toLongArray());
  }

  @Test
  void matMulWithBiasAddSlicesTheBias() throws Exception {
    Net net = new Net();
    Value x = net.g.addInput("feat", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.FLOAT,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(6))));
    Value h = net.relu(net.op("Add", List.of(net.op("MatMul", List.of(x, net.weight(6, 8))), net.weight(8))));
    net.output(net.op("MatMul", List.of(h, net.weight(8, 3))));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 0, 7).build(), 13);
    Oracle.assertEquivalent(r);
    assertArrayEquals(new long[] {6}, dimsOf(r.pruned(), r.pruned().graph().nodes().get(1), 1));
  }

  @Test
  void perChannelConstantOperandIsSliced() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.conv(x, 3, 6, 3);
    Value scaled = net.op("Mul", List.of(c, net.weight(6, 1, 1)));
    Value shifted = net.op("Add", List.of(net.weight(1, 6, 1, 1), scaled));
    net.output(net.conv(net.op("MaxPool", List.of(shifted), Attribute.of("kernel_shape", new long[] {2, 2})), 6, 2, 1));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 5, 2).build(), 14);
    Oracle.assertEquivalent(r);
  }

  @Test
  void transposeAndReductionOverSpatialAxesKeepChannels() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.relu(net.conv(x, 3, 6, 3));
    Value t = net.op("Transpose", List.of(c), Attribute.of("perm", new long[] {0, 2, 3, 1}));
    Value m = net.op("ReduceMean", List.of(t), Attribute.of("axes", new long[] {1, 2}), Attribute.of("keepdims", 0L));
    net.output(net.op("MatMul", List.of(m, net.weight(6, 3))));
    Oracle.assertEquivalent(Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1, 4).build(), 15));
  }

  @Test
  void unknownOpBlocksTheChannelsItReads() {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.conv(x, 3, 6, 3);
    Value l = net.op("LRN", List.of(c), Attribute.of("size", 3L));
    net.output(net.conv(l, 6, 2, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup g = a.groups().get(0);
    assertFalse(g.prunable());
    assertEquals(List.of("'lrn4' (LRN): op LRN is not understood by channel analysis"), g.blockReasons());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PrunePlan.builder(a).remove(g, 0));
    assertEquals("group 0 (6 channels, [conv3], unprunable) cannot be pruned: "
        + "'lrn4' (LRN): op LRN is not understood by channel analysis", e.getMessage());
  }

  @Test
  void graphOutputKeepsItsChannels() {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value c = net.output(net.relu(net.conv(x, 3, 6, 3)));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(List.of("'" + c.name() + "' is a graph output and keeps its channels"), a.groups().get(0).blockReasons());
  }

  @Test
  void planRefusesRemovingEveryChannelAndBadIndices() {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    net.output(net.conv(net.conv(x, 3, 2, 3), 2, 2, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup g = a.groups().get(0);
    assertEquals("removing all 2 channels of group 0 (2 channels, [conv3]) is not allowed; at least one must stay",
        assertThrows(IllegalArgumentException.class, () -> PrunePlan.builder(a).remove(g, 0, 1)).getMessage());
    assertEquals("channel 2 is out of range for group 0 (2 channels, [conv3])",
        assertThrows(IllegalArgumentException.class, () -> PrunePlan.builder(a).remove(g, 2)).getMessage());
    assertEquals("channel 0 of group 0 (2 channels, [conv3]) is listed twice",
        assertThrows(IllegalArgumentException.class, () -> PrunePlan.builder(a).remove(g, 0, 0)).getMessage());
  }

  @Test
  void sharedParameterIsCopiedBeforeSlicing() throws Exception {
    Net net = new Net();
    Value x = net.input(3, 5, 5);
    Value shared = net.weight(4);
    Value idn = net.op("Identity", List.of(shared));
    Value a1 = net.conv(x, 3, 4, 3);
    Value b1 = net.conv(x, 3, 4, 3);
    Value na = net.op("BatchNormalization", List.of(a1, net.positive(4), idn, net.weight(4), net.positive(4)));
    Value nb = net.op("BatchNormalization", List.of(b1, net.positive(4), idn, net.weight(4), net.positive(4)));
    Value cat = net.op("Concat", List.of(na, nb), Attribute.of("axis", 1L));
    net.output(net.conv(cat, 8, 2, 1));
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an)
        .remove(groupProducedBy(an, producerOf(an.model(), a1.name()).name()), 0).build(), 16);
    Oracle.assertEquivalent(r);
  }

  @Test
  void matMulWeightBehindATransposeIsSliced() throws Exception {
    Net net = new Net();
    Value x = net.g.addInput("feat", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.FLOAT,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(6))));
    Value wt = net.op("Transpose", List.of(net.weight(8, 6)), Attribute.of("perm", new long[] {1, 0}));
    Value h = net.relu(net.op("MatMul", List.of(x, wt)));
    net.output(net.op("MatMul", List.of(h, net.weight(8, 3))));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertTrue(a.groups().get(0).prunable());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 2, 5).build(), 17);
    Oracle.assertEquivalent(r);
    assertArrayEquals(new long[] {6, 6}, dimsOf(r.pruned(), r.pruned().graph().nodes().get(0), 0));
  }

  /** conv -> two Slices whose bounds are [0, C/2) and [C/2, C) computed from Shape at run time. */
  private static Net runtimeChunks(long c) {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value conv = net.relu(net.conv(x, 3, c, 1));
    Value shape = net.op("Shape", List.of(conv));
    Value ch = net.op("Gather", List.of(shape, net.g.addInitializer("one", Tensor.ofLongs(new long[0], new long[] {1}))),
        Attribute.of("axis", 0L));
    Value half = net.op("Div", List.of(ch, net.g.addInitializer("two", Tensor.ofLongs(new long[0], new long[] {2}))));
    Value halfV = net.op("Unsqueeze", List.of(half, net.g.addInitializer("ax0", Tensor.vector(0))));
    Value full = net.op("Unsqueeze", List.of(ch, net.g.addInitializer("ax0b", Tensor.vector(0))));
    Value axes = net.g.addInitializer("axes", Tensor.vector(1));
    Value lo = net.op("Slice", List.of(conv, net.g.addInitializer("zero", Tensor.vector(0)), halfV, axes));
    Value hi = net.op("Slice", List.of(conv, halfV, full, axes));
    net.output(net.op("Add", List.of(net.conv(lo, c / 2, 2, 1), net.conv(hi, c / 2, 2, 1))));
    return net;
  }

  @Test
  void runTimeSliceBoundsThatSplitEvenlyCoupleTheSamePositionOfEachPart() throws Exception {
    Net net = runtimeChunks(8);
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(4, a.groups().get(0).size(), "position j of both halves is one unit");
    Oracle.assertEquivalent(Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1, 2).build(),
        18));
  }

  @Test
  void runTimeSliceBoundsThatDoNotSplitEvenlyBlockTheGroup() {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value conv = net.conv(x, 3, 8, 1);
    Value ch = net.op("Gather", List.of(net.op("Shape", List.of(conv)),
        net.g.addInitializer("one", Tensor.ofLongs(new long[0], new long[] {1}))), Attribute.of("axis", 0L));
    Value end = net.op("Unsqueeze", List.of(net.op("Sub", List.of(ch,
        net.g.addInitializer("five", Tensor.ofLongs(new long[0], new long[] {5})))),
        net.g.addInitializer("ax0", Tensor.vector(0))));
    Value sl = net.op("Slice", List.of(conv, net.g.addInitializer("zero", Tensor.vector(0)), end,
        net.g.addInitializer("axes", Tensor.vector(1))));
    net.output(net.conv(sl, 3, 2, 1));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(List.of("'" + sl.producer().name() + "' (Slice): run-time slice bounds [0, 3) are not an equal split of 8"),
        a.groups().get(0).blockReasons());
  }
}
