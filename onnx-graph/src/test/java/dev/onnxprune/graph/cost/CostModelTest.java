package dev.onnxprune.graph.cost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import dev.onnxprune.graph.ValueType.TensorType;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

/** MACs, FLOPs, parameters and activation bytes under the documented convention. */
class CostModelTest {

  private static Model model() {
    Model m = new Model(new Graph("net"));
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static Value init(Graph g, String name, long... dims) {
    int n = 1;
    for (long d : dims) {
      n *= (int) d;
    }
    return g.addInitializer(name, Tensor.ofFloats(dims, new float[n]));
  }

  private static Value op(Graph g, String opType, String out, List<Value> in, Attribute... attrs) {
    return g.addNode(opType, out, in, List.of(out), attrs).output(0);
  }

  /**
   * x[N,3,8,8] -> Conv 4x3x3x3 (pad 1, bias) -> BN -> Relu -> MaxPool 2x2/2 -> depthwise Conv
   * 4x1x3x3 (pad 1, group 4) -> Add(pool, dw) -> GlobalAveragePool -> Flatten -> Gemm 10x4 (bias)
   * -> Softmax.
   */
  private static Model smallNet() {
    Model m = model();
    Graph g = m.graph();
    Value x = g.addInput("x", new TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(3), Dim.of(8),
        Dim.of(8))));
    Value conv = op(g, "Conv", "conv", List.of(x, init(g, "w1", 4, 3, 3, 3), init(g, "b1", 4)),
        Attribute.of("pads", new long[] {1, 1, 1, 1}));
    Value bn = op(g, "BatchNormalization", "bn", List.of(conv, init(g, "g", 4), init(g, "beta", 4), init(g, "mu", 4),
        init(g, "var", 4)));
    Value relu = op(g, "Relu", "relu", List.of(bn));
    Value pool = op(g, "MaxPool", "pool", List.of(relu), Attribute.of("kernel_shape", new long[] {2, 2}),
        Attribute.of("strides", new long[] {2, 2}));
    Value dw = op(g, "Conv", "dw", List.of(pool, init(g, "w2", 4, 1, 3, 3)), Attribute.of("group", 4L),
        Attribute.of("pads", new long[] {1, 1, 1, 1}));
    Value add = op(g, "Add", "add", List.of(pool, dw));
    Value gap = op(g, "GlobalAveragePool", "gap", List.of(add));
    Value flat = op(g, "Flatten", "flat", List.of(gap));
    Value fc = op(g, "Gemm", "fc", List.of(flat, init(g, "w3", 10, 4), init(g, "b3", 10)),
        Attribute.of("transB", 1L));
    g.addOutput(op(g, "Softmax", "prob", List.of(fc)));
    return m;
  }

  private static void assertCost(CostReport r, Model m, String node, long macs, long flops, long params, long bytes) {
    Node n = m.graph().nodes().stream().filter(x -> x.name().equals(node)).findFirst().orElseThrow();
    assertEquals(new NodeCost(n, macs, flops, params, bytes, true), r.of(n), node);
  }

  @Test
  void smallConvNetCostsMatchHandCountsWithBatchOne() {
    Model m = smallNet();
    CostReport r = CostModel.analyze(m);
    assertTrue(r.complete(), r.unknown().toString());
    // conv: 1*4*8*8 outputs x 3*3*3 = 6912 MACs; 108 + 4 params; 256 floats out
    assertCost(r, m, "conv", 6912, 13824, 112, 1024);
    assertCost(r, m, "bn", 0, 512, 16, 1024);
    assertCost(r, m, "relu", 0, 256, 0, 1024);
    assertCost(r, m, "pool", 0, 64 * 4, 0, 256);
    // depthwise: 64 outputs x 1*3*3
    assertCost(r, m, "dw", 576, 1152, 36, 256);
    assertCost(r, m, "add", 0, 64, 0, 256);
    assertCost(r, m, "gap", 0, 64, 0, 16);
    assertCost(r, m, "flat", 0, 0, 0, 16);
    assertCost(r, m, "fc", 40, 80, 50, 40);
    assertCost(r, m, "prob", 0, 30, 0, 40);
    assertEquals(6912 + 576 + 40, r.totalMacs());
    assertEquals(16238, r.totalFlops());
    assertEquals(214, r.totalParams());
    assertEquals(3952, r.totalActivationBytes());
  }

  @Test
  void sharedInitializerCountsOncePerNodeAndOnceInTheTotal() {
    Model m = model();
    Graph g = m.graph();
    Value x = g.addInput("x", new TensorType(DataType.FLOAT, Shape.of(1, 4, 5, 5)));
    Value w = init(g, "w", 4, 4, 1, 1);
    Value shared = op(g, "Identity", "shared", List.of(w));
    Value a = op(g, "Conv", "a", List.of(x, w));
    Value b = op(g, "Conv", "b", List.of(a, shared));
    g.addOutput(op(g, "Mul", "c", List.of(b, w)));
    CostReport r = CostModel.analyze(m);
    assertEquals(16, r.of(a.producer()).params());
    assertEquals(16, r.of(b.producer()).params(), "read through Identity");
    assertEquals(16, r.totalParams());
    assertEquals(2 * 25 * 4 * 4, r.totalMacs());
  }

  @Test
  void symbolicSpatialDimsMakeTheCostUnknown() {
    Model m = model();
    Graph g = m.graph();
    Value x = g.addInput("x", new TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(3),
        Dim.symbolic("H"), Dim.symbolic("W"))));
    Value conv = op(g, "Conv", "conv", List.of(x, init(g, "w", 8, 3, 1, 1)));
    g.addOutput(op(g, "GlobalAveragePool", "gap", List.of(conv)));
    CostReport r = CostModel.analyze(m);
    NodeCost c = r.of(conv.producer());
    assertFalse(c.known());
    assertEquals(0, c.macs());
    assertEquals(24, c.params());
    NodeCost gap = r.of(g.nodes().get(1));
    assertFalse(gap.known(), "GlobalAveragePool counts its input's elements, which are not known");
    assertEquals(32, gap.outputBytes(), "its output [N, 8, 1, 1] is countable with batch 1");
    assertFalse(r.complete());
    assertEquals(2, r.unknownNodes(), "neither node is in the totals, which are lower bounds");
    assertEquals(0, r.totalFlops());
  }

  @Test
  void resnet20FixtureTotalsMatchAnIndependentCount() throws Exception {
    // Counted independently in Python: PyTorch forward hooks on export_fixtures.ResNet20 at
    // 1x1x28x28 for MACs/FLOPs (conv/linear MACs, BN 2/elem, ReLU and residual Add 1/elem, adaptive
    // pool 1/input elem), onnx.numpy_helper for initializer elements, and onnx.shape_inference with
    // batch 1 for the bytes of every node output.
    CostReport bn = CostModel.analyze(OnnxModels.read(TestModels.model("resnet20.onnx")));
    assertTrue(bn.complete(), bn.unknown().toString());
    assertEquals(31_021_952L, bn.totalMacs());
    assertEquals(62_564_480L, bn.totalFlops());
    assertEquals(273_658L, bn.totalParams());
    assertEquals(2_070_696L, bn.totalActivationBytes());

    CostReport folded = CostModel.analyze(OnnxModels.read(TestModels.model("resnet20_folded.onnx")));
    assertTrue(folded.complete(), folded.unknown().toString());
    assertEquals(31_021_952L, folded.totalMacs());
    assertEquals(62_564_480L - 307_328L, folded.totalFlops(), "the BN FLOPs (2 per element) are gone");
    assertEquals(271_402L, folded.totalParams());
    assertEquals(1_455_656L, folded.totalActivationBytes());
  }

  @Test
  void tokenModelsSequenceIsBoundToItsPositionTableOrToTheLengthGiven() throws Exception {
    Model bert = OnnxModels.read(TestModels.model(TestModels.BERT)); // input_ids [batch, seq], 16 positions
    CostReport table = CostModel.analyze(bert);
    assertTrue(table.complete(), table.unknown().toString());
    NodeCost fc1 = table.nodes().stream().filter(c -> c.node().name().equals("/fc1.0/MatMul")).findFirst().orElseThrow();
    assertEquals(16L * 32 * 64, fc1.macs(), "[1, 16, 32] x [32, 64]");
    assertEquals(table.totalFlops(), CostModel.analyze(bert, 16).totalFlops());
    CostReport eight = CostModel.analyze(bert, 8);
    assertTrue(eight.complete());
    assertTrue(eight.totalFlops() < table.totalFlops(), eight.totalFlops() + " vs " + table.totalFlops());
    assertEquals(table.totalParams(), eight.totalParams());
  }
}
