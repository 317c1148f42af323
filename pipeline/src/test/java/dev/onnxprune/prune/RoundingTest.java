package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.errors.InvalidOptionException;
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
import dev.onnxprune.runtime.Device;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.testmodels.TestModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Hardware widths: the multiple chosen, the widths each group keeps, and landing on the target. */
class RoundingTest {

  @Test
  void multipleFollowsTheProviderAndTheCpuFeatures() {
    assertEquals(16, HardwareWidths.forCpu("amd64", Set.of("avx2", "avx512f")).multiple());
    assertEquals(8, HardwareWidths.forCpu("amd64", Set.of("avx", "avx2", "fma")).multiple());
    assertEquals(16, HardwareWidths.forCpu("x86_64", null).multiple(), "unknown x86: a multiple of 8 and 16");
    assertEquals(8, HardwareWidths.forCpu("aarch64", Set.of("neon")).multiple());
    assertTrue(HardwareWidths.forCpu("amd64", Set.of("avx512f")).reason().startsWith("CPU with AVX-512"));
    assertEquals(8, HardwareWidths.of(Device.CUDA).multiple());
    assertEquals(HardwareWidths.cpu().multiple() % 8, 0);
    assertEquals(HardwareWidths.cpu().multiple(), HardwareWidths.of(Device.AUTO).multiple());
    assertEquals(Set.of("fpu", "avx2", "avx512f"), HardwareWidths.cpuinfoFlags(
        "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n"));
    assertNull(HardwareWidths.cpuinfoFlags("processor\t: 0\n"));
  }

  @Test
  void roundingBelowOneIsAnInvalidOptionNamedInTheApisTerms() {
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> Pruner.builder().roundTo(0));
    assertEquals("roundTo", e.key());
    assertEquals("roundTo must be >= 1: 0", e.getMessage());
    assertTrue(Rounding.auto().automatic());
    assertEquals("auto", Rounding.auto().toString());
  }

  /** x [N, 8, 6, 6] -> Conv 8->64 -> Conv 64->64 in 16 groups of 4 channels -> Conv 64->32 -> y. */
  private static Model groupedConv() {
    Graph g = new Graph("grouped");
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    Random r = new Random(3);
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(List.of(Dim.symbolic("N"), Dim.of(8), Dim.of(6), Dim.of(6)))));
    long[][] weights = {{64, 8, 1, 1}, {64, 4, 3, 3}, {32, 64, 1, 1}};
    long[] groups = {1, 16, 1};
    Value v = x;
    for (int i = 0; i < 3; i++) {
      float[] w = new float[(int) (weights[i][0] * weights[i][1] * weights[i][2] * weights[i][3])];
      for (int k = 0; k < w.length; k++) {
        w[k] = (float) r.nextGaussian();
      }
      Value wv = g.addInitializer("w" + i, Tensor.ofFloats(weights[i], w));
      long pad = weights[i][2] / 2;
      Node n = g.addNode("Conv", "conv" + i, List.of(v, wv), List.of("y" + i),
          Attribute.of("kernel_shape", new long[] {weights[i][2], weights[i][3]}),
          Attribute.of("pads", new long[] {pad, pad, pad, pad}), Attribute.of("group", groups[i]));
      v = n.output(0);
    }
    g.addOutput(v);
    return m;
  }

  @Test
  void groupedConvKeepsWholeConvGroupsWhoseChannelsMakeAMultiple() throws Exception {
    Model m = groupedConv();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    ChannelGroup g = a.prunableGroups().get(0);
    assertEquals(16, g.size(), "one unit per conv group of 4 channels");
    assertEquals(4, GroupWidths.of(a, 16).step(g.id()), "4 units of 4 channels make 16");
    assertEquals(2, GroupWidths.of(a, 8).step(g.id()));
    assertEquals(1, GroupWidths.of(a, 4).step(g.id()));
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.4)).roundTo(16).verify(true)
        .build().prune(m);
    PruneReport.Group rg = r.report().groups().get(g.id());
    assertEquals(8, rg.kept(), "at least 40% of the 16 conv groups go, 4 at a time (16 channels): 8 stay, not"
        + " ceil(16 * 0.6) = 10 rounded up to 12 (only 25% removed)");
    assertTrue(r.report().achieved() >= 0.4, "the ratio is met: " + r.report().achieved());
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    for (Node n : r.model().graph().nodes()) {
      long out = n.input(1).initializer().dim(0);
      assertEquals(32, out, n.name() + " has " + out + " output channels");
    }
  }

  @ParameterizedTest
  @CsvSource({"mobilenetv2.onnx,false", "mobilenetv2.onnx,true", "inception.onnx,false", "inception.onnx,true"})
  void everyConvOfAMultipleStaysAMultipleThroughDepthwiseAndConcat(String file, boolean global) throws Exception {
    Model m = OnnxModels.read(TestModels.model(file));
    Map<String, long[]> before = convChannels(m);
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.4)).global(global).roundTo(8)
        .verify(true).build().prune(m);
    assertEquals(8, r.report().widths().multiple());
    assertTrue(r.report().verify().passed());
    Map<String, long[]> after = convChannels(r.model());
    for (Map.Entry<String, long[]> e : before.entrySet()) {
      long[] b = e.getValue();
      long[] a = after.get(e.getKey());
      for (int i = 0; i < 2; i++) {
        if (b[i] % 8 == 0) {
          assertEquals(0, a[i] % 8, e.getKey() + (i == 0 ? " output" : " input") + " channels " + b[i] + " -> " + a[i]);
        }
      }
    }
  }

  /** Output and input channels of every Conv, by node name. */
  private static Map<String, long[]> convChannels(Model m) {
    Map<String, long[]> out = new HashMap<>();
    for (Node n : m.graph().nodes()) {
      if (n.is("Conv")) {
        Tensor w = n.input(1).isInitializer() ? n.input(1).initializer() : n.input(1).producer().input(0).initializer();
        out.put(n.name(), new long[] {w.dim(0), w.dim(1) * n.attrLong("group", 1)});
      }
    }
    return out;
  }

  @ParameterizedTest
  @CsvSource({"resnet20.onnx,flops,false", "resnet20.onnx,flops,true", "mobilenetv2.onnx,flops,false",
      "mobilenetv2.onnx,params,true", "vgg_bn.onnx,params,false", "densenet.onnx,flops,true",
      "resnet20.onnx,ratio,false", "mobilenetv2.onnx,ratio,false", "vgg_bn.onnx,ratio,true"})
  void roundedWidthsLandWithinOnePercentOfTheTarget(String file, String kind, boolean global) throws Exception {
    Target t = switch (kind) {
      case "flops" -> Target.flops(0.4);
      case "params" -> Target.params(0.4);
      default -> Target.ratio(0.4);
    };
    PruneReport r = Pruner.builder().criterion(Criteria.l1()).target(t).global(global).roundTo(8).build()
        .prune(OnnxModels.read(TestModels.model(file))).report();
    // A ratio counts channels: one step of 8 is 1.8% of resnet20's 448 scored channels and 7% of vgg_bn's
    // 112, so the closest multiples above 0.4 are 184/448 = 0.411 and 48/112 = 0.429.
    double within = kind.equals("ratio") ? 0.03 : 0.01;
    assertTrue(r.achieved() >= 0.4 && r.achieved() <= 0.4 + within, file + " " + t + " reached " + r.achieved());
    assertEquals(0, r.widths().keptWhole());
    for (PruneReport.Group g : r.groups()) {
      // DenseNet's 12-channel pieces keep 8 or 12: each piece is a multiple or whole, their Concat may be neither
      assertTrue(g.kept() % 8 == 0 || g.kept() == g.channels(), "group " + g.id() + " keeps " + g.kept());
    }
  }

  @Test
  void automaticMultipleIsHalvedWhenTheTargetCannotBeReachedWithIt() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    double[][] scores = Criteria.l1().score(a);
    HardwareWidths.Choice sixteen = new HardwareWidths.Choice(16, "sixteen");
    RoundedAllocation.Result r = RoundedAllocation.allocate(a, scores, PlanCost.of(a), 1, 1, Rounding.auto(), sixteen,
        null, Target.flops(0.5), Allocation.uniform());
    assertEquals(8, r.widths().multiple());
    assertEquals("sixteen; multiples of 16 cannot reach flops 0.5, so multiples of 8", r.widths().reason());
    assertTrue(r.widths().automatic());
    var e = assertThrows(dev.onnxprune.errors.TargetUnreachableException.class, () -> RoundedAllocation.allocate(a,
        scores, PlanCost.of(a), 1, 1, Rounding.to(16), sixteen, null, Target.flops(0.5), Allocation.uniform()));
    assertTrue(e.getMessage().startsWith("target flops 0.5 cannot be reached"), e.getMessage());
  }

  @Test
  void latencyIsMeasuredAtWidthsTheGroupMayKeep() throws Exception {
    ChannelAnalysis a = ChannelAnalysis.analyze(OnnxModels.read(TestModels.model("vgg_bn.onnx")));
    LatencyModel lm = LatencyModel.measure(a, LatencyModelTest.LINEAR, new double[] {0.75, 0.5, 0.25},
        GroupWidths.of(a, 8));
    for (ChannelGroup g : a.prunableGroups()) {
      for (int w : lm.fits().get(g.id()).widths()) {
        assertEquals(0, w % 8, g + " timed at " + w);
      }
      assertEquals((g.id() + 1) * 1e-5, lm.perChannelSeconds(g.id()), 1e-12, g.toString());
    }
  }
}
