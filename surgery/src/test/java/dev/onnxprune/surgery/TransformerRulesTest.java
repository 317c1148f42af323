package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelGroup.Kind;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One before/after case per transformer rule (attention heads, grouped-query attention, hidden
 * width through a LayerNorm, class tokens, masks copied per head), each checked by the oracle in
 * ONNX Runtime; and the cases the analysis refuses, with their reasons.
 */
class TransformerRulesTest {
  private static final long S = 5;
  private static final long D = 16;
  private static final long H = 4;
  private static final long HD = 4;

  private static Value constInts(Net net, long... v) {
    return net.g.addInitializer("c" + net.g.initializers().size(), Tensor.vector(v));
  }

  private static Value scalarInt(Net net, long v) {
    return net.g.addInitializer("s" + net.g.initializers().size(), Tensor.ofLongs(new long[0], new long[] {v}));
  }

  private static Value matmul(Net net, Value x, long in, long out) {
    return net.op("MatMul", List.of(x, net.weight(in, out)));
  }

  private static Value transpose(Net net, Value x, long... perm) {
    return net.op("Transpose", List.of(x), Attribute.of("perm", perm));
  }

  /**
   * {@code [N, S, D]} split into heads as exporters of Hugging Face models do: the target {@code
   * [N, S, heads, head_dim]} read from the input's shape and two constants.
   */
  private static Value splitHeads(Net net, Value x, long heads, boolean runTime) {
    Value target;
    if (runTime) {
      Value shape = net.op("Shape", List.of(x));
      Value n = net.op("Gather", List.of(shape, constInts(net, 0)), Attribute.of("axis", 0L));
      Value s = net.op("Gather", List.of(shape, constInts(net, 1)), Attribute.of("axis", 0L));
      target = net.op("Concat", List.of(n, s, constInts(net, heads, HD)), Attribute.of("axis", 0L));
    } else {
      target = constInts(net, 0, S, heads, HD);
    }
    return net.op("Reshape", List.of(x, target));
  }

  /** Attention of q [N, H, S, hd] with k and v [N, Hk, S, hd]; the output merged to [N, S, H*hd]. */
  private static Value attend(Net net, Value q, Value k, Value v, long heads, boolean runTime) {
    Value scores = net.op("MatMul", List.of(q, transpose(net, k, 0, 1, 3, 2)));
    Value scaled = net.op("Div", List.of(scores, net.g.addInitializer("scale" + net.g.initializers().size(),
        Tensor.scalar(2f))));
    Value p = net.op("Softmax", List.of(scaled), Attribute.of("axis", -1L));
    Value o = transpose(net, net.op("MatMul", List.of(p, v)), 0, 2, 1, 3);
    Value target = runTime
        ? net.op("Concat", List.of(net.op("Gather", List.of(net.op("Shape", List.of(q)), constInts(net, 0)),
            Attribute.of("axis", 0L)), constInts(net, S, heads * HD)), Attribute.of("axis", 0L))
        : constInts(net, 0, S, heads * HD);
    return net.op("Reshape", List.of(o, target));
  }

  /** x [N, S, D] -> separate q/k/v projections, 4 heads of 4 -> out-projection -> [N, S, 8]. */
  private static Net attentionNet(boolean runTime) {
    Net net = new Net();
    Value x = net.input(S, D);
    Value q = transpose(net, splitHeads(net, matmul(net, x, D, H * HD), H, runTime), 0, 2, 1, 3);
    Value k = transpose(net, splitHeads(net, matmul(net, x, D, H * HD), H, runTime), 0, 2, 1, 3);
    Value v = transpose(net, splitHeads(net, matmul(net, x, D, H * HD), H, runTime), 0, 2, 1, 3);
    net.output(matmul(net, attend(net, q, k, v, H, runTime), H * HD, 8));
    return net;
  }

  @Test
  void separateQkvProjectionsSplitIntoHeadsPruneWholeHeads() throws Exception {
    Net net = attentionNet(false);
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup heads = a.groups().get(0);
    assertEquals(Kind.HEADS, heads.kind());
    assertEquals(H, heads.size(), "one unit per head, not per head_dim: " + a.groups());
    assertEquals(3, heads.producers().size(), "q, k and v: " + heads.producers());
    assertTrue(heads.prunable(), heads.blockReasons().toString());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1, 3).build(), 1);
    Oracle.assertEquivalent(r);
    List<Node> mm = r.pruned().graph().nodes().stream().filter(n -> n.is("MatMul")
        && Analyzer.constant(n.input(1)) != null).toList();
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(new long[] {D, 2 * HD}, Analyzer.constant(mm.get(i).input(1)).dims(), "q/k/v rows of 2 heads");
    }
    assertArrayEquals(new long[] {2 * HD, 8}, Analyzer.constant(mm.get(3).input(1)).dims(), "out-projection columns");
    List<Node> reshapes = r.pruned().graph().nodes().stream().filter(n -> n.is("Reshape")).toList();
    assertArrayEquals(new long[] {0, S, 2, HD}, Analyzer.constant(reshapes.get(0).input(1)).toLongArray());
    assertArrayEquals(new long[] {0, S, 2 * HD}, Analyzer.constant(reshapes.get(3).input(1)).toLongArray());
  }

  @Test
  void runTimeTargetsWithAConstantHeadCountAreRebuiltForTheKeptHeads() throws Exception {
    Net net = attentionNet(true);
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(Kind.HEADS, a.groups().get(0).kind());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 0).build(), 2);
    Oracle.assertEquivalent(r);
    for (Node n : r.pruned().graph().nodes()) {
      if (n.is("Reshape")) {
        // the batch is copied (0); the sizes are the kept heads'
        long[] t = Analyzer.constant(n.input(1)).toLongArray();
        assertTrue(t.length == 4 ? java.util.Arrays.equals(t, new long[] {0, S, 3, HD})
            : java.util.Arrays.equals(t, new long[] {0, S, 3 * HD}), java.util.Arrays.toString(t));
      }
    }
  }

  @Test
  void groupedQueryAttentionRemovesAKeyValueHeadWithItsQueryHeads() throws Exception {
    Net net = new Net();
    Value x = net.input(S, D);
    long kv = 2;
    Value q = transpose(net, splitHeads(net, matmul(net, x, D, H * HD), H, false), 0, 2, 1, 3);
    Value[] kvs = new Value[2];
    for (int i = 0; i < 2; i++) {
      Value t = transpose(net, splitHeads(net, matmul(net, x, D, kv * HD), kv, false), 0, 2, 1, 3);
      // Hugging Face's repeat_kv: [N, kv, S, hd] -> [N, kv, 1, S, hd] -> expand -> [N, H, S, hd]
      Value u = net.op("Unsqueeze", List.of(t, constInts(net, 2)));
      Value shape = net.op("Concat", List.of(net.op("Gather", List.of(net.op("Shape", List.of(x)), constInts(net, 0)),
          Attribute.of("axis", 0L)), constInts(net, kv, H / kv, S, HD)), Attribute.of("axis", 0L));
      Value e = net.op("Expand", List.of(u, shape));
      kvs[i] = net.op("Reshape", List.of(e, constInts(net, 0, H, S, HD)));
    }
    net.output(matmul(net, attend(net, q, kvs[0], kvs[1], H, false), H * HD, 8));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup heads = a.groups().get(0);
    assertEquals(Kind.HEADS, heads.kind());
    assertEquals(kv, heads.size(), "a unit is a key/value head and its query heads: " + a.groups());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 1).build(), 3);
    Oracle.assertEquivalent(r);
    List<Node> mm = r.pruned().graph().nodes().stream().filter(n -> n.is("MatMul")
        && Analyzer.constant(n.input(1)) != null).toList();
    assertArrayEquals(new long[] {D, 2 * HD}, Analyzer.constant(mm.get(0).input(1)).dims(), "2 query heads left");
    assertArrayEquals(new long[] {D, HD}, Analyzer.constant(mm.get(1).input(1)).dims(), "1 key head left");
    assertArrayEquals(new long[] {D, HD}, Analyzer.constant(mm.get(2).input(1)).dims(), "1 value head left");
  }

  /**
   * Token embedding -> LayerNorm (decomposed: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
   * Mul, Add) -> MatMul -> residual Add -> first token -> classifier: the hidden width is one group
   * through the embedding's columns, the norm's parameters, the projection and the residual.
   */
  private static Net hiddenNet() {
    Net net = new Net();
    Value ids = net.g.addInput("ids", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.INT64,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(S))));
    Value e = net.op("Gather", List.of(net.weight(10, D), ids));
    Value mean = net.op("ReduceMean", List.of(e), Attribute.of("axes", new long[] {-1}));
    Value centred = net.op("Sub", List.of(e, mean));
    Value sq = net.op("Pow", List.of(centred, net.g.addInitializer("two", Tensor.scalar(2f))));
    Value var = net.op("ReduceMean", List.of(sq), Attribute.of("axes", new long[] {-1}));
    Value std = net.op("Sqrt", List.of(net.op("Add", List.of(var, net.g.addInitializer("eps", Tensor.scalar(1e-5f))))));
    Value normed = net.op("Add", List.of(net.op("Mul", List.of(net.op("Div", List.of(centred, std)), net.positive(D))),
        net.weight(D)));
    Value h = net.op("Add", List.of(e, matmul(net, normed, D, D)));
    Value first = net.op("Gather", List.of(h, scalarInt(net, 0)), Attribute.of("axis", 1L));
    net.output(net.op("Gemm", List.of(first, net.weight(D, 3)), Attribute.of("transB", 0L)));
    return net;
  }

  @Test
  void hiddenWidthThroughALayerNormMatchesTheReferenceWithStatisticsOverKeptChannels() throws Exception {
    Net net = hiddenNet();
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup hidden = a.groups().get(0);
    assertEquals(Kind.HIDDEN, hidden.kind());
    assertTrue(hidden.prunable(), hidden.blockReasons().toString());
    assertEquals(D, hidden.size());
    assertEquals(2, hidden.members().stream().filter(m -> m.role() == GroupMember.Role.STATISTIC).count(),
        "the mean and the variance");
    Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 1), 4);
    Oracle.assertEquivalent(r);
    Node gather = r.pruned().graph().nodes().get(0);
    assertArrayEquals(new long[] {10, D - 5}, Analyzer.constant(gather.input(0)).dims(), "the embedding's columns");
  }

  @Test
  void maskingAloneIsNoOracleForHiddenChannels() throws Exception {
    // the same plan, without the statistics computed over the kept channels, differs
    Net net = hiddenNet();
    Model masked = net.model.copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    PrunePlan plan = Oracle.everyKth(a, 3, 1);
    new MaskInsertion(plan).run(masked);
    Model plain = net.model.copy();
    ChannelAnalysis b = ChannelAnalysis.analyze(plain);
    b.state.statistics.clear();
    new MaskInsertion(plan.rebind(b)).run(plain);
    java.util.Map<String, dev.onnxprune.runtime.HostTensor> feeds =
        dev.onnxprune.runtime.RandomInputs.of(net.model).draw(new java.util.Random(5));
    float[] exact = Oracle.run(masked, feeds).get(0);
    float[] naive = Oracle.run(plain, feeds).get(0);
    double diff = 0;
    for (int i = 0; i < exact.length; i++) {
      diff = Math.max(diff, Math.abs(exact[i] - naive[i]));
    }
    assertTrue(diff > 1e-3, "the norm's statistics over all channels give other outputs: " + diff);
  }

  @Test
  void classTokenConcatenatedOffTheChannelAxisIsSliced() throws Exception {
    Net net = new Net();
    Value x = net.input(S, 6);
    Value tokens = matmul(net, x, 6, D);
    Value cls = net.g.addInitializer("cls", Tensor.ofFloats(new long[] {1, 1, D}, new float[(int) D]));
    Value batch = net.op("Gather", List.of(net.op("Shape", List.of(x)), constInts(net, 0)), Attribute.of("axis", 0L));
    Value expanded = net.op("Expand", List.of(cls, net.op("Concat", List.of(batch, constInts(net, 1, 1)),
        Attribute.of("axis", 0L))));
    Value seq = net.op("Concat", List.of(expanded, tokens), Attribute.of("axis", 1L));
    Value pos = net.op("Add", List.of(seq, net.weight(1, S + 1, D)));
    net.output(matmul(net, net.op("Relu", List.of(pos)), D, 3));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertTrue(a.groups().get(0).prunable(), a.groups().toString());
    Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 2, 0), 6);
    Oracle.assertEquivalent(r);
    Node expand = r.pruned().graph().nodes().stream().filter(n -> n.is("Expand")).findFirst().orElseThrow();
    assertArrayEquals(new long[] {1, 1, D / 2}, Analyzer.constant(expand.input(0)).dims());
  }

  @Test
  void maskCopiedForEveryHeadFollowsTheHeads() throws Exception {
    Net net = attentionNet(false);
    // a [N, 1, 1, S] additive mask expanded to [N, H, 1, S] and added to the scores
    Node scores = net.g.nodes().stream().filter(n -> n.is("Div")).findFirst().orElseThrow();
    Value m = net.g.addInput("m", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.FLOAT,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(1),
            dev.onnxprune.graph.Dim.of(1), dev.onnxprune.graph.Dim.of(S))));
    Value shape = net.g.addInitializer("mshape", Tensor.vector(1, H, 1, 1));
    Node expand = net.g.addNodeBefore(scores, "Expand", "mask_expand", List.of(m, shape), List.of("mask_h"));
    Node add = net.g.addNodeBefore(scores, "Add", "mask_add", List.of(scores.input(0), expand.output(0)),
        List.of("masked_scores"));
    scores.replaceInput(0, add.output(0));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertEquals(Kind.HEADS, a.groups().get(0).kind());
    assertEquals(H, a.groups().get(0).size());
    assertEquals(2, a.groups().size(), "the copies are no group of their own: " + a.groups());
    Oracle.Result r = Oracle.check(net.model, an -> PrunePlan.builder(an).remove(an.groups().get(0), 2).build(), 7);
    Oracle.assertEquivalent(r);
    Node e = r.pruned().graph().nodes().stream().filter(n -> n.is("Expand")).findFirst().orElseThrow();
    assertArrayEquals(new long[] {1, H - 1, 1, 1}, Analyzer.constant(e.input(1)).toLongArray());
  }

  @Test
  void contractionOverTheChannelsOfTwoActivationsIsRefused() throws Exception {
    Net net = new Net();
    Value x = net.input(S, D);
    Value q = matmul(net, x, D, 8);
    Value k = matmul(net, x, D, 8);
    Value scores = net.op("MatMul", List.of(q, transpose(net, k, 0, 2, 1)));
    net.output(net.op("Softmax", List.of(scores), Attribute.of("axis", -1L)));
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    assertFalse(a.groups().get(0).prunable());
    String name = ChannelAnalysis.name(net.g.nodes().stream().filter(n -> n.is("MatMul")).toList().get(2));
    assertEquals(List.of("'" + name + "' (MatMul): contracts over the channels of two activations (only whole"
        + " attention heads are pruned, not their head_dim)"), a.groups().get(0).blockReasons());
  }

  /** x [N, S, 6] -> MatMul to D -> LayerNormalization (opset 17) over {@code axis} -> MatMul to 3. */
  private static Net fusedLayerNormNet(long axis) {
    Net net = new Net();
    net.model.opsets().clear();
    net.model.opsets().add(new dev.onnxprune.graph.OpsetId("", 17));
    Value x = net.input(S, 6);
    Value h = matmul(net, x, 6, D);
    long[] normalized = axis == -1 ? new long[] {D} : new long[] {S, D};
    Value ln = net.op("LayerNormalization", List.of(h, net.positive(normalized), net.weight(normalized)),
        Attribute.of("axis", axis), Attribute.of("epsilon", 1e-3f));
    net.output(matmul(net, ln, D, 3));
    return net;
  }

  @Test
  void fusedLayerNormalizationOverTheChannelsMatchesTheReferenceWithStatisticsOverKeptChannels() throws Exception {
    Net net = fusedLayerNormNet(-1);
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    ChannelGroup hidden = a.groups().get(0);
    assertTrue(hidden.prunable(), hidden.blockReasons().toString());
    assertEquals(Kind.HIDDEN, hidden.kind());
    Oracle.Result r = Oracle.check(net.model, an -> Oracle.everyKth(an, 3, 1), 4);
    Oracle.assertEquivalent(r);
    Node ln = r.pruned().graph().nodes().stream().filter(n -> n.is("LayerNormalization")).findFirst().orElseThrow();
    assertArrayEquals(new long[] {D - 5}, Analyzer.constant(ln.input(1)).dims(), "the scale of the kept channels");
    assertArrayEquals(new long[] {D - 5}, Analyzer.constant(ln.input(2)).dims(), "the bias of the kept channels");
  }

  @Test
  void fusedLayerNormalizationOverTheChannelsAndAnotherAxisIsRefused() throws Exception {
    Net net = fusedLayerNormNet(-2);
    ChannelAnalysis a = ChannelAnalysis.analyze(net.model);
    String name = ChannelAnalysis.name(net.g.nodes().get(1));
    assertEquals(List.of("'" + name + "' (LayerNormalization): LayerNormalization over the channel axis together with"
        + " other axes"), a.groups().get(0).blockReasons());
  }
}
