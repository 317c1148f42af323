package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link NchwcConvs}: each eligible Conv shape (input read as NCHW, input reordered, strided,
 * padded unevenly, dilated, with bias, grouped, depthwise) runs on the NCHWc kernels with the same
 * output as the plain Conv, weights fed as inputs; ineligible Convs are left alone.
 */
class NchwcConvsTest {
  @Test
  void stemWithFewInputChannelsReadsNchw() throws Exception {
    check(new long[] {2, 3, 9, 9}, new long[] {16, 3, 3, 3}, 1, false, 1, "pads", new long[] {1, 1, 1, 1});
  }

  @Test
  void blockedInputStridedUnevenPadsWithBias() throws Exception {
    check(new long[] {2, 16, 11, 10}, new long[] {32, 16, 3, 3}, 1, true, 1,
        "pads", new long[] {1, 0, 2, 1}, "strides", new long[] {2, 2});
  }

  @Test
  void dilatedPointwiseAndFiveByFive() throws Exception {
    check(new long[] {2, 32, 12, 12}, new long[] {16, 32, 1, 1}, 1, false, 1, "strides", new long[] {2, 2});
    check(new long[] {1, 16, 12, 12}, new long[] {16, 16, 5, 5}, 1, false, 1,
        "dilations", new long[] {2, 1}, "pads", new long[] {4, 2, 4, 2});
  }

  @Test
  void groupedAndDepthwise() throws Exception {
    check(new long[] {2, 64, 8, 8}, new long[] {64, 32, 3, 3}, 2, false, 1, "pads", new long[] {1, 1, 1, 1});
    check(new long[] {2, 32, 8, 8}, new long[] {32, 1, 3, 3}, 32, true, 1,
        "pads", new long[] {1, 1, 1, 1}, "strides", new long[] {2, 2});
  }

  @Test
  void ineligibleConvsAreLeftAlone() throws Exception {
    // 10 output channels: not a multiple of any block size; 3-D convolution
    check(new long[] {2, 16, 8, 8}, new long[] {10, 16, 3, 3}, 1, false, 0);
    check(new long[] {2, 16, 8}, new long[] {16, 16, 3}, 1, false, 0);
  }

  @Test
  void oneReorderPerInputShared() {
    int b = NchwcConvs.blockSize();
    assumeTrue(b > 0, "ONNX Runtime has no NCHWc kernels here");
    Model m = model(new long[] {2, 16, 8, 8}, new long[] {16, 16, 3, 3}, 1, false, "pads", new long[] {1, 1, 1, 1});
    Graph g = m.graph();
    Value x = g.inputs().get(0);
    Value w2 = g.addInput("w2", new ValueType.TensorType(DataType.FLOAT, Shape.of(16, 16, 1, 1)));
    Value y2 = g.addNode("Conv", "conv2", List.of(x, w2), List.of("y2")).output(0);
    g.addOutput(g.addNode("Identity", "id2", List.of(y2), List.of("out2")).output(0));
    assertEquals(2, NchwcConvs.rewrite(m, b));
    assertEquals(1, g.nodes().stream().filter(n -> n.opType().equals("ReorderInput")).count());
  }

  @Test
  void weightGradientPatchesReadTheForwardReorder() throws Exception {
    int b = NchwcConvs.blockSize();
    assumeTrue(b > 0, "ONNX Runtime has no NCHWc kernels here");
    for (long[] strides : List.of(new long[] {1, 1}, new long[] {2, 2})) {
      // forward Conv and its weight gradient (Autodiff's channels-last patches of x, b channels)
      Model fwd = model(new long[] {2, b, 9, 9}, new long[] {b, b, 3, 3}, 1, false,
          "pads", new long[] {1, 1, 1, 1}, "strides", strides);
      Model plain = Autodiff.gradients(fwd, Loss.dot("out"), List.of("w"));
      Model fast = Autodiff.gradients(fwd, Loss.dot("out"), List.of("w"));
      assertEquals(1, NchwcConvs.rewrite(fast, b));
      Graph g = fast.graph();
      assertEquals(0, g.nodes().stream().filter(n -> n.is("Transpose")
          && java.util.Arrays.equals(n.attrLongs("perm"), new long[] {0, 1, 3, 4, 2})).count(),
          "the channels-last copy of x is a view of ReorderInput(x)");
      assertEquals(1, g.nodes().stream().filter(n -> n.opType().equals("ReorderInput")).count(),
          "one ReorderInput(x), shared by the forward Conv and the weight gradient");
      assertSameOutputs(plain, fast, Autodiff.gradientName("w"));
    }
  }

  @Test
  void convFeedingAGraphOutputKeepsTheOutputName() {
    int b = NchwcConvs.blockSize();
    assumeTrue(b > 0, "ONNX Runtime has no NCHWc kernels here");
    Model m = model(new long[] {1, 16, 6, 6}, new long[] {16, 16, 3, 3}, 1, false);
    Graph g = m.graph();
    Value y = g.lookup("y");
    g.setOutput(0, y);
    g.removeDeadCode();
    assertEquals(1, NchwcConvs.rewrite(m, b));
    assertEquals("y", g.outputs().get(0).name());
    assertEquals("ReorderOutput", g.outputs().get(0).producer().opType());
  }

  /**
   * Builds {@code y = Conv(x, w[, b])} with the attributes {@code kv}, routes y through an
   * Identity, rewrites it, and compares with the plain Conv in ONNX Runtime.
   */
  private static void check(long[] xs, long[] ws, long group, boolean bias, int expected, Object... kv)
      throws Exception {
    int b = NchwcConvs.blockSize();
    assumeTrue(b > 0, "ONNX Runtime has no NCHWc kernels here");
    Model plain = model(xs, ws, group, bias, kv);
    Model fast = model(xs, ws, group, bias, kv);
    assertEquals(expected, NchwcConvs.rewrite(fast, b));
    assertEquals(expected, fast.graph().nodes().stream().filter(n -> n.domain().equals(NchwcConvs.DOMAIN)
        && n.opType().equals("Conv")).count());
    assertSameOutputs(plain, fast, "out");
  }

  private static void assertSameOutputs(Model plain, Model fast, String output) throws Exception {
    Random r = new Random(7);
    Map<String, Ort.Data> feeds = new java.util.HashMap<>();
    for (Value in : plain.graph().inputs()) {
      long[] d = in.shape().toArray();
      double[] v = new double[(int) java.util.Arrays.stream(d).reduce(1, (p, q) -> p * q)];
      for (int i = 0; i < v.length; i++) {
        v[i] = r.nextGaussian();
      }
      feeds.put(in.name(), Ort.Data.of(DataType.FLOAT, d, v));
    }
    double[] want;
    double[] got;
    try (OrtSession s = Ort.open(plain)) {
      want = Ort.run(s, feeds).get(output);
    }
    try (OrtSession s = Ort.open(fast)) {
      got = Ort.run(s, feeds).get(output);
    }
    assertEquals(want.length, got.length);
    double err = 0;
    for (int i = 0; i < want.length; i++) {
      err = Math.max(err, Math.abs(want[i] - got[i]));
    }
    assertTrue(err < 1e-4, "max abs difference " + err);
  }

  private static Model model(long[] xs, long[] ws, long group, boolean bias, Object... kv) {
    Graph g = new Graph("conv");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(xs)));
    Value w = g.addInput("w", new ValueType.TensorType(DataType.FLOAT, Shape.of(ws)));
    List<Value> ins = new ArrayList<>(List.of(x, w));
    if (bias) {
      ins.add(g.addInput("b", new ValueType.TensorType(DataType.FLOAT, Shape.of(ws[0]))));
    }
    List<Attribute> attrs = new ArrayList<>(List.of(Attribute.of("group", group)));
    for (int i = 0; i < kv.length; i += 2) {
      attrs.add(Attribute.of((String) kv[i], (long[]) kv[i + 1]));
    }
    Node conv = g.addNode("Conv", "conv", ins, List.of("y"), attrs.toArray(new Attribute[0]));
    g.addOutput(g.addNode("Identity", "id", List.of(conv.output(0)), List.of("out")).output(0));
    Model m = new Model(g);
    m.opsets().add(new OpsetId("", 17));
    m.setIrVersion(8L);
    return m;
  }
}
