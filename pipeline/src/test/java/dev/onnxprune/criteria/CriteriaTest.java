package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.surgery.ChannelAnalysis;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each data-free criterion on a case computed by hand. */
class CriteriaTest {

  /**
   * x[N,1,2,2] -> Conv (3 filters of 1x1x2x2) -> BN(gamma) -> Relu -> Conv(3 -> 2) -> y. Filter 0
   * is all zeros; filter 1 is [1, -1, 2, 0]; filter 2 is [0.5, 0.5, 0.5, 0.5].
   */
  static Model handNet(float[] gamma) {
    Graph g = new Graph("hand");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.symbolic("N"), Dim.of(1), Dim.of(2), Dim.of(2))));
    Value w = g.addInitializer("w", Tensor.ofFloats(new long[] {3, 1, 2, 2},
        new float[] {0, 0, 0, 0, 1, -1, 2, 0, 0.5f, 0.5f, 0.5f, 0.5f}));
    Value c = g.addNode("Conv", "conv", List.of(x, w), List.of("c"), Attribute.of("kernel_shape", new long[] {2, 2}))
        .output(0);
    Value bn = g.addNode("BatchNormalization", "bn", List.of(c, g.addInitializer("gamma", Tensor.ofFloats(new long[] {3},
        gamma)), g.addInitializer("beta", Tensor.ofFloats(new long[] {3}, new float[3])),
        g.addInitializer("mean", Tensor.ofFloats(new long[] {3}, new float[3])),
        g.addInitializer("var", Tensor.ofFloats(new long[] {3}, new float[] {1, 1, 1}))), List.of("b")).output(0);
    Value r = g.addNode("Relu", "relu", List.of(bn), List.of("r")).output(0);
    Value w2 = g.addInitializer("w2", Tensor.ofFloats(new long[] {2, 3, 1, 1}, new float[] {1, 1, 1, 1, 1, 1}));
    Value y = g.addNode("Conv", "conv2", List.of(r, w2), List.of("y"), Attribute.of("kernel_shape", new long[] {1, 1}))
        .output(0);
    g.addOutput(y);
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static double[] scores(Criterion c, Model m) {
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    return c.score(a)[a.prunableGroups().get(0).id()];
  }

  @Test
  void l1IsTheSumOfAbsoluteFilterWeights() {
    assertArrayEquals(new double[] {0, 4, 2}, scores(Criteria.l1(), handNet(new float[] {1, 1, 1})), 1e-9);
  }

  @Test
  void l2IsTheEuclideanFilterNorm() {
    assertArrayEquals(new double[] {0, Math.sqrt(6), 1}, scores(Criteria.l2(), handNet(new float[] {1, 1, 1})), 1e-9);
  }

  @Test
  void bnIsTheAbsoluteGamma() {
    assertArrayEquals(new double[] {0.1, 2, 0.7}, scores(Criteria.bnGamma(), handNet(new float[] {0.1f, -2, 0.7f})),
        1e-6);
  }

  @Test
  void fpgmSumsDistancesToTheOtherFilters() {
    // d(f0,f1) = sqrt(6), d(f0,f2) = 1, d(f1,f2) = sqrt(0.25+2.25+2.25+0.25) = sqrt(5)
    double[] s = scores(Criteria.fpgm(), handNet(new float[] {1, 1, 1}));
    assertArrayEquals(new double[] {Math.sqrt(6) + 1, Math.sqrt(6) + Math.sqrt(5), 1 + Math.sqrt(5)}, s, 1e-9);
  }

  @Test
  void allZeroChannelScoresLowestUnderEveryWeightCriterion() {
    Model m = handNet(new float[] {0, 1, 1});
    for (Criterion c : List.of(Criteria.l1(), Criteria.l2(), Criteria.bnGamma())) {
      double[] s = scores(c, m);
      assertEquals(0, s[0], 1e-12, c.name());
      assertTrue(s[0] < s[1] && s[0] < s[2], c.name());
    }
  }

  @Test
  void randomIsSeededAndGroupsWithoutBatchNormAreNotScoredByBn() {
    Model m = handNet(new float[] {1, 1, 1});
    assertArrayEquals(scores(Criteria.random(7), m), scores(Criteria.random(7), m));
    Graph g = m.graph();
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    double[][] s = Criteria.bnGamma().score(a);
    for (int i = 0; i < s.length; i++) {
      if (!a.groups().get(i).prunable()) {
        assertNull(s[i]);
      }
    }
    assertEquals(4, g.nodes().size());
  }
}
