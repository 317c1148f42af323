package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BatchNormFoldingTest {

  private static double maxRelDiff(Model a, Model b) throws Exception {
    float[] x = new float[2 * 1 * 28 * 28];
    java.util.Random r = new java.util.Random(3);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    String in = a.graph().runtimeInputs().get(0).name();
    long[] shape = {2, 1, 28, 28};
    float[] ya = Oracle.run(a, Map.of(in, x), Map.of(in, shape)).get(0);
    float[] yb = Oracle.run(b, Map.of(in, x), Map.of(in, shape)).get(0);
    double scale = 0;
    double diff = 0;
    for (int i = 0; i < ya.length; i++) {
      scale = Math.max(scale, Math.abs(ya[i]));
      diff = Math.max(diff, Math.abs(ya[i] - yb[i]));
    }
    return diff / scale;
  }

  @ParameterizedTest
  @ValueSource(strings = {"resnet20.onnx", "vgg_bn.onnx", "mobilenetv2.onnx", "senet.onnx", "inception.onnx"})
  void foldedFixtureComputesTheSameOutputs(String file) throws Exception {
    Model original = OnnxModels.read(TestModels.model(file));
    Model folded = OnnxModels.read(TestModels.model(file));
    long bns = folded.graph().nodes().stream().filter(n -> n.is("BatchNormalization")).count();
    BatchNormFolding.Result res = new BatchNormFolding().run(folded);
    long left = folded.graph().nodes().stream().filter(n -> n.is("BatchNormalization")).count();
    assertEquals(bns, res.folded() + left);
    assertEquals(left, res.skipped().size());
    assertTrue(res.folded() > 0, file + " has BatchNormalization to fold");
    GraphVerifier.verify(folded);
    double rel = maxRelDiff(original, folded);
    System.out.printf("%s: folded %d of %d BatchNormalization, max rel diff %.3g%n", file, res.folded(), bns, rel);
    assertTrue(rel < 1e-5, "max rel diff " + rel);
  }

  @Test
  void batchNormAfterAnAddIsLeftAloneAndSaysWhy() {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value s = net.op("Add", List.of(net.conv(x, 3, 4, 1), net.conv(x, 3, 4, 1)));
    net.output(net.bn(s, 4));
    BatchNormFolding.Result r = new BatchNormFolding().run(net.model);
    assertEquals(0, r.folded());
    Node bn = net.model.graph().nodes().get(3);
    assertEquals(List.of(bn.describe() + " left as is: its input is not produced by a Conv, ConvTranspose or Gemm"),
        r.skipped());
  }

  @Test
  void batchNormWhoseConvOutputIsSharedIsLeftAlone() {
    Net net = new Net();
    Value x = net.input(3, 4, 4);
    Value c = net.conv(x, 3, 4, 1);
    net.output(net.bn(c, 4));
    net.output(net.relu(c));
    BatchNormFolding.Result r = new BatchNormFolding().run(net.model);
    assertEquals(0, r.folded());
    assertTrue(r.skipped().get(0).endsWith("the output of " + c.producer().describe() + " has other users"),
        r.skipped().toString());
  }

  @Test
  void gemmFollowedByBatchNormIsFolded() throws Exception {
    Net net = new Net();
    Value x = net.g.addInput("f", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.FLOAT,
        dev.onnxprune.graph.Shape.of(dev.onnxprune.graph.Dim.symbolic("N"), dev.onnxprune.graph.Dim.of(5))));
    Value y = net.op("Gemm", List.of(x, net.weight(6, 5), net.weight(6)), Attribute.of("transB", 1L));
    net.output(net.bn(y, 6));
    Model before = Oracle.copy(net.model);
    assertEquals(1, new BatchNormFolding().run(net.model).folded());
    float[] in = {1, -2, 0.5f, 3, -1, 0.2f, 0.1f, 0, -4, 2};
    List<float[]> a = Oracle.run(before, Map.of("f", in), Map.of("f", new long[] {2, 5}));
    List<float[]> b = Oracle.run(net.model, Map.of("f", in), Map.of("f", new long[] {2, 5}));
    for (int i = 0; i < a.get(0).length; i++) {
      assertEquals(a.get(0)[i], b.get(0)[i], 1e-5 * Math.max(1, Math.abs(a.get(0)[i])));
    }
    assertEquals(net.model.graph().outputs().get(0).name(), before.graph().outputs().get(0).name(),
        "the graph output keeps its name");
  }
}
