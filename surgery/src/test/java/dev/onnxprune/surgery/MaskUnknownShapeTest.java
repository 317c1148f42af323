package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Masks need only the channel axis: values whose shape inference could not work out (here, the
 * input's shape is not declared at all, as after a resize computed at run time) are masked on
 * the axis their consumer reads channels from.
 */
class MaskUnknownShapeTest {
  private static final long[] X = {2, 3, 5, 7};

  /** x (no declared shape) -> Conv 3->8 (3x3) -> Relu -> Conv 8->4 (1x1) -> y. */
  private static Model convs() {
    Net n = new Net();
    Value x = n.g.addInput("x", new ValueType.TensorType(DataType.FLOAT, null));
    n.output(n.conv(n.relu(n.conv(x, 3, 8, 3)), 8, 4, 1));
    return n.model;
  }

  /** x [N, 3, 6] -> MatMul 6->8 -> Relu -> MatMul 8->4 -> y. */
  private static Model matMuls() {
    Net n = new Net();
    Value x = n.input(3, 6);
    Value h = n.relu(n.op("MatMul", List.of(x, n.weight(6, 8))));
    n.output(n.op("MatMul", List.of(h, n.weight(8, 4))));
    return n.model;
  }

  @Test
  void constantMaskBroadcastsOnTheConvChannelAxisWhenTheShapeIsUnknown() throws Exception {
    Model model = convs();
    assertMaskedEqualsPruned(model, masked -> assertNull(masked.graph().nodes().get(1).output(0).shape(),
        "the Relu's shape stays unknown"), new int[] {1, 5}, new long[] {1, 8, 1, 1}, X);
  }

  @Test
  void maskInputsReshapeToTheConvRankWhenTheShapeIsUnknown() throws Exception {
    Model model = convs();
    Model masked = Oracle.copy(model);
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    MaskInsertion mi = MaskInsertion.inputs(a);
    assertEquals(1, mi.run(masked).masks());
    String mask = mi.maskInputs().values().iterator().next();
    float[] x = random(X);
    float[] ones = new float[8];
    java.util.Arrays.fill(ones, 1f);
    float[] keep = Oracle.run(masked, Map.of("x", x, mask, ones), Map.of("x", X, mask, new long[] {1, 8})).get(0);
    float[] plain = Oracle.run(model, Map.of("x", x), Map.of("x", X)).get(0);
    assertArrayEquals(plain, keep, 1e-5f);
  }

  @Test
  void maskBeforeAMatMulOfUnknownRankIsOneAxis() throws Exception {
    // the analysis knew the rank (a MatMul producer needs it); the masked value's type is lost since
    assertMaskedEqualsPruned(matMuls(), masked -> masked.graph().nodes().get(1).output(0).setType(null),
        new int[] {0, 3, 7}, new long[] {8}, new long[] {2, 3, 6});
  }

  /**
   * Masks a copy of {@code model} (after {@code afterAnalysis}) removing {@code units} of its first
   * prunable group, checks the mask's dims, prunes another copy with the same plan and checks
   * that both compute the same on an input of {@code shape}, other than the original.
   */
  private static void assertMaskedEqualsPruned(Model model, Consumer<Model> afterAnalysis, int[] units,
      long[] maskDims, long[] shape) throws Exception {
    Model masked = Oracle.copy(model);
    Model pruned = Oracle.copy(model);
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    afterAnalysis.accept(masked);
    PrunePlan plan = PrunePlan.builder(a).remove(a.prunableGroups().get(0), units).build();
    assertEquals(1, new MaskInsertion(plan).run(masked).masks());
    Node mul = masked.graph().nodes().stream().filter(n -> n.is("Mul")).findFirst().orElseThrow();
    assertArrayEquals(maskDims, mul.input(1).initializer().dims());
    new ChannelPruningPass(plan.rebind(ChannelAnalysis.analyze(pruned))).run(pruned);
    assertEquivalent(model, masked, pruned, shape);
  }

  private static void assertEquivalent(Model original, Model masked, Model pruned, long[] shape) throws Exception {
    float[] x = random(shape);
    String in = original.graph().runtimeInputs().get(0).name();
    float[] m = Oracle.run(masked, Map.of(in, x), Map.of(in, shape)).get(0);
    float[] p = Oracle.run(pruned, Map.of(in, x), Map.of(in, shape)).get(0);
    float[] o = Oracle.run(original, Map.of(in, x), Map.of(in, shape)).get(0);
    assertArrayEquals(m, p, 1e-5f, "pruned equals masked");
    double changed = 0;
    for (int i = 0; i < o.length; i++) {
      changed = Math.max(changed, Math.abs(o[i] - p[i]));
    }
    assertTrue(changed > 1e-3, "the removed channels mattered: " + changed);
  }

  private static float[] random(long[] shape) {
    int n = (int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    Random r = new Random(5);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }
}
