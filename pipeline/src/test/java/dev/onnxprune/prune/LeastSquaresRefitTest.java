package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelPruningPass;
import dev.onnxprune.surgery.PrunePlan;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The refit against the normal equations solved by hand, and on trained fixtures. */
class LeastSquaresRefitTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);

  /**
   * x[N,2] -> Gemm A (3 features, no bias) -> Relu -> Gemm B (2 outputs, transB, bias). Removing A's
   * feature 1 leaves B two inputs {@code p = relu(A x)[0, 2]}; the refit must equal the
   * normal-equations solution {@code W^T = (P^T P)^-1 P^T (Y - b)}, its 2x2 inverse written out.
   */
  @Test
  void gemmRefitEqualsTheNormalEquationsByHand() {
    float[] wa = {1, 0, 0.5f, 0.5f, 0, 1}; // [3, 2]: a0 = x0, a1 = (x0 + x1) / 2, a2 = x1
    float[] wb = {1, 2, -1, 0.5f, -1, 3}; // [2, 3]
    float[] bb = {0.25f, -0.5f};
    Graph g = new Graph("fc");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(2))));
    Value a = g.addNode("Gemm", "a", List.of(x, g.addInitializer("wa", Tensor.ofFloats(new long[] {3, 2}, wa))),
        List.of("ya"), Attribute.of("transB", 1L)).output(0);
    Value r = g.addNode("Relu", "relu", List.of(a), List.of("r")).output(0);
    Value y = g.addNode("Gemm", "b", List.of(r, g.addInitializer("wb", Tensor.ofFloats(new long[] {2, 3}, wb)),
        g.addInitializer("bb", Tensor.ofFloats(new long[] {2}, bb))), List.of("y"), Attribute.of("transB", 1L))
        .output(0);
    g.addOutput(y);
    Model m = model(g);
    Random rnd = new Random(3);
    int n = 20;
    float[] xs = new float[n * 2];
    for (int i = 0; i < xs.length; i++) {
      xs[i] = (float) rnd.nextGaussian();
    }
    // by hand: P rows (relu(x0), relu(x1)), Y - b = relu(x0) + 2 relu((x0+x1)/2) - relu(x1), ... per output
    double[][] gm = new double[2][2];
    double[][] bm = new double[2][2];
    for (int s = 0; s < n; s++) {
      double a0 = Math.max(0, xs[2 * s]);
      double a1 = Math.max(0, 0.5 * (xs[2 * s] + xs[2 * s + 1]));
      double a2 = Math.max(0, xs[2 * s + 1]);
      double[] p = {a0, a2};
      double[] t = {wb[0] * a0 + wb[1] * a1 + wb[2] * a2, wb[3] * a0 + wb[4] * a1 + wb[5] * a2};
      for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
          gm[i][j] += p[i] * p[j];
          bm[i][j] += p[i] * t[j];
        }
      }
    }
    double det = gm[0][0] * gm[1][1] - gm[0][1] * gm[1][0];
    double[][] inv = {{gm[1][1] / det, -gm[0][1] / det}, {-gm[1][0] / det, gm[0][0] / det}};
    float[] want = new float[4]; // B's weight [2 outputs, 2 inputs]
    for (int o = 0; o < 2; o++) {
      for (int i = 0; i < 2; i++) {
        want[o * 2 + i] = (float) (inv[i][0] * bm[0][o] + inv[i][1] * bm[1][o]);
      }
    }

    Model pruned = m.copy();
    ChannelAnalysis an = ChannelAnalysis.analyze(pruned);
    PrunePlan plan = PrunePlan.builder(an).remove(an.prunableGroups().get(0), 1).build();
    new ChannelPruningPass(plan).run(pruned);
    byte[] before = OnnxModels.toBytes(pruned);
    LeastSquaresRefit.Result res = LeastSquaresRefit.run(m, pruned, plan, new ArrayDataset(xs, new long[] {2}, null),
        7, 0, CPU, null);
    assertArrayEquals(before, OnnxModels.toBytes(pruned), "the refit changed its input");
    assertEquals(20, res.samples());
    assertEquals(1, res.layers().size(), res.layers().toString()); // A reads the graph input: left out
    LeastSquaresRefit.Layer l = res.layers().get(0);
    assertEquals("b", l.node());
    assertTrue(l.refitted() && l.after() < l.before(), l.toString());
    assertArrayEquals(want, weight(res.model(), "wb"), 1e-4f);
    assertArrayEquals(bb, weight(res.model(), "bb"), 0f); // the bias stays
  }

  /**
   * x[N,2,5,5] -> Conv A (3 filters 3x3, pad 1, bias) -> Relu -> Conv B (2 filters 3x3, pad 1,
   * stride 2, bias), A's channel 1 removed. Plain Java unfolds B's pruned input into patches
   * {@code P [N*3*3, 18]} and its original output less the bias {@code Y}; the refit weights satisfy
   * the normal equations {@code P^T P W^T = P^T Y} (up to the tiny ridge), and lower the error.
   */
  @Test
  void convRefitSatisfiesTheNormalEquations() {
    Random r = new Random(5);
    float[] wa = gauss(r, 3 * 2 * 9);
    float[] ba = gauss(r, 3);
    float[] wb = gauss(r, 2 * 3 * 9);
    float[] bb = gauss(r, 2);
    Graph g = new Graph("conv");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(Dim.symbolic("N"), Dim.of(2),
        Dim.of(5), Dim.of(5))));
    Value a = g.addNode("Conv", "a", List.of(x, g.addInitializer("wa", Tensor.ofFloats(new long[] {3, 2, 3, 3}, wa)),
        g.addInitializer("ba", Tensor.ofFloats(new long[] {3}, ba))), List.of("ya"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value relu = g.addNode("Relu", "relu", List.of(a), List.of("r")).output(0);
    Value y = g.addNode("Conv", "b", List.of(relu, g.addInitializer("wb", Tensor.ofFloats(new long[] {2, 3, 3, 3},
        wb)), g.addInitializer("bb", Tensor.ofFloats(new long[] {2}, bb))), List.of("y"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1}),
        Attribute.of("strides", new long[] {2, 2})).output(0);
    g.addOutput(y);
    Model m = model(g);
    int n = 12;
    float[] xs = gauss(r, n * 2 * 25);
    Model pruned = m.copy();
    ChannelAnalysis an = ChannelAnalysis.analyze(pruned);
    PrunePlan plan = PrunePlan.builder(an).remove(an.prunableGroups().get(0), 1).build();
    new ChannelPruningPass(plan).run(pruned);
    LeastSquaresRefit.Result res = LeastSquaresRefit.run(m, pruned, plan, new ArrayDataset(xs, new long[] {2, 5, 5},
        null), 5, 0, CPU, null);
    LeastSquaresRefit.Layer l = res.layers().get(0);
    assertTrue(l.refitted() && l.after() < l.before() && l.skipped() == null, l.toString());
    assertEquals(18, l.inputs());
    float[] w = weight(res.model(), "wb"); // [2, 2, 3, 3]

    int[] kept = {0, 2};
    double[][] gm = new double[18][18];
    double[][] bm = new double[18][2];
    for (int s = 0; s < n; s++) {
      double[][][] act = new double[3][5][5];
      for (int c = 0; c < 3; c++) {
        for (int h = 0; h < 5; h++) {
          for (int ww = 0; ww < 5; ww++) {
            double v = ba[c];
            for (int k = 0; k < 2; k++) {
              for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                  int hh = h + i - 1;
                  int wj = ww + j - 1;
                  if (hh >= 0 && hh < 5 && wj >= 0 && wj < 5) {
                    v += wa[((c * 2 + k) * 3 + i) * 3 + j] * xs[((s * 2 + k) * 5 + hh) * 5 + wj];
                  }
                }
              }
            }
            act[c][h][ww] = Math.max(0, v);
          }
        }
      }
      for (int h = 0; h < 3; h++) {
        for (int ww = 0; ww < 3; ww++) {
          double[] full = new double[27];
          for (int c = 0; c < 3; c++) {
            for (int i = 0; i < 3; i++) {
              for (int j = 0; j < 3; j++) {
                int hh = 2 * h + i - 1;
                int wj = 2 * ww + j - 1;
                full[c * 9 + i * 3 + j] = hh >= 0 && hh < 5 && wj >= 0 && wj < 5 ? act[c][hh][wj] : 0;
              }
            }
          }
          double[] p = new double[18];
          for (int c = 0; c < 2; c++) {
            System.arraycopy(full, kept[c] * 9, p, c * 9, 9);
          }
          double[] t = new double[2];
          for (int o = 0; o < 2; o++) {
            for (int q = 0; q < 27; q++) {
              t[o] += wb[o * 27 + q] * full[q];
            }
          }
          for (int i = 0; i < 18; i++) {
            for (int j = 0; j < 18; j++) {
              gm[i][j] += p[i] * p[j];
            }
            bm[i][0] += p[i] * t[0];
            bm[i][1] += p[i] * t[1];
          }
        }
      }
    }
    for (int o = 0; o < 2; o++) {
      double scale = 0;
      for (int i = 0; i < 18; i++) {
        double lhs = 0;
        for (int j = 0; j < 18; j++) {
          lhs += gm[i][j] * w[o * 18 + j];
        }
        scale = Math.max(scale, Math.abs(bm[i][o]));
        assertEquals(bm[i][o], lhs, 2e-3 * Math.max(1, Math.abs(bm[i][o])), "row " + i + " output " + o);
      }
      assertTrue(scale > 1, "a trivial system");
    }
  }

  /**
   * ResNet-20 and VGG pruned to half the FLOPs by L1 and by ThiNet (uniform, exact widths): every
   * refitted layer's reconstruction error is at most what it was, most are lower, and the refit
   * model classifies the test images better than the pruned one.
   */
  @Test
  void fixturesRefitLowersEveryLayersError() throws Exception {
    ArrayDataset calib = fmnist(256);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), 1000);
    for (String name : List.of("resnet20.onnx", "vgg_bn.onnx")) {
      for (boolean thinet : new boolean[] {false, true}) {
        Model m = OnnxModels.read(TestModels.model(name));
        Model original = m.copy();
        PruneResult p = Pruner.builder().criterion(thinet ? DataCriteria.thinet(calib, CPU,
            new DataCriteria.Options().batchSize(64)) : Criteria.l1()).target(Target.flops(0.5)).roundTo(1)
            .sessions(CPU).build().prune(m);
        LeastSquaresRefit.Result res = LeastSquaresRefit.run(original, p.model(), p.plan(), calib, 64, 0, CPU, null);
        int solved = 0;
        int lower = 0;
        for (LeastSquaresRefit.Layer l : res.layers()) {
          assertNull(l.skipped(), l.toString());
          assertTrue(l.after() <= l.before(), l.toString());
          solved++;
          lower += l.after() < l.before() ? 1 : 0;
        }
        assertTrue(solved >= 5 && lower * 2 > solved, name + " " + res.layers());
        double top1 = top1(p.model(), test);
        double refit = top1(res.model(), test);
        double[] err = res.meanError();
        System.out.printf("%s %s at half the FLOPs: top-1 %.4f pruned, %.4f refit (%d/%d layers; mean error %.3f"
            + " -> %.3f; %.1f s on %d samples)%n", name, thinet ? "thinet" : "l1", top1, refit, res.refitted(), solved,
            err[0], err[1], res.seconds(), res.samples());
        assertTrue(refit > top1, name + ": " + refit + " after the refit, " + top1 + " before");
      }
    }
  }

  /**
   * A transformer (the BERT fixture, token ids in): heads, MLP widths and the hidden width pruned by
   * L1 at 30%; the projections (MatMul on [N, T, F]) are refit on its calibration sequences, each
   * to an error no higher than before, the attention products (no constant weight) left out.
   */
  @Test
  void transformerProjectionsRefitOnTokenSequences() throws Exception {
    Model m = OnnxModels.read(TestModels.model(TestModels.BERT));
    Model original = m.copy();
    PruneResult p = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.3)).roundTo(1).sessions(CPU)
        .build().prune(m);
    dev.onnxprune.runtime.Dataset data = dev.onnxprune.runtime.Datasets.open(
        TestModels.file(TestModels.BERT_CALIBRATION), null, dev.onnxprune.runtime.DatasetOptions.defaults()
            .withLimit(64));
    LeastSquaresRefit.Result res = LeastSquaresRefit.run(original, p.model(), p.plan(), data, 16, 0, CPU, null);
    long solved = res.layers().stream().filter(l -> l.skipped() == null).count();
    assertTrue(solved >= 4, res.layers().toString());
    for (LeastSquaresRefit.Layer l : res.layers()) {
      assertTrue(l.skipped() != null || l.after() <= l.before(), l.toString());
    }
    assertTrue(res.meanError()[1] < res.meanError()[0], res.layers().toString());
  }

  /**
   * In the pipeline, on unlabelled training data: ResNet-20 to half its FLOPs by L1 with the refit
   * alone records a refitted stage better than the pruned one, written model included; the refit
   * needs a target.
   */
  @Test
  void pipelineRefitsWithoutLabels() throws Exception {
    PipelineResult r = PruningPipeline.builder().model(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .criterion(Criteria.l1()).target(Target.flops(0.5)).roundTo(1)
        .trainingData(DistillationRecoveryTest.unlabelled(PruningPipelineTest.train().shuffled(7, 256)))
        .recovery(Recovery.leastSquaresRefit().withRefitSamples(128)).evaluation(PruningPipelineTest.test(300))
        .sessions(CPU).build().run();
    assertEquals(List.of("original", "pruned", "refitted"), r.stages().stream().map(PipelineResult.Stage::name)
        .toList());
    double pruned = r.stage("pruned").orElseThrow().accuracy().top1();
    double refit = r.stage("refitted").orElseThrow().accuracy().top1();
    assertTrue(refit > pruned + 0.2, refit + " refitted, " + pruned + " pruned");
    assertEquals(r.stage("pruned").orElseThrow().flops(), r.stage("refitted").orElseThrow().flops());
    assertEquals(refit, top1(r.model(), PruningPipelineTest.test(300)), 1e-9);

    PruningPipeline.Builder b = PruningPipeline.builder().model(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .trainingData(PruningPipelineTest.train()).recovery(Recovery.leastSquaresRefit());
    assertEquals("recovery.refit", assertThrows(InvalidOptionException.class, b::build).key());
    assertEquals("recovery.refitSamples", assertThrows(InvalidOptionException.class,
        () -> Recovery.leastSquaresRefit().withRefitSamples(-1)).key());
  }

  private static Model model(Graph g) {
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static float[] weight(Model m, String name) {
    return m.graph().lookup(name).initializer().toFloatArray();
  }

  private static float[] gauss(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  static ArrayDataset fmnist(int n) throws Exception {
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), new Normalization(new float[] {0.286f},
            new float[] {0.353f}), n);
  }

  private static double top1(Model m, ArrayDataset test) throws Exception {
    try (Runner runner = Runner.open(CPU, m)) {
      return new Evaluator(runner).evaluate(test, 100).top1();
    }
  }
}
