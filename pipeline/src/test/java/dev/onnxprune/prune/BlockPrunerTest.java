package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ResidualBlocks;
import dev.onnxprune.surgery.ResidualBlocks.Block;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Issue 13, whole blocks: residual blocks found, removed, and verified exactly against the masked original. */
class BlockPrunerTest {

  /**
   * resnet20: 9 basic blocks, the 2 downsampling ones (projection shortcuts) not removable; the
   * transformers: an attention and an MLP sub-block per layer. Every criterion's removal of 2
   * blocks computes exactly what the original with those branches multiplied by zero computes.
   */
  @ParameterizedTest
  @CsvSource({"resnet20.onnx,9,7,conv", "vit_tiny.onnx,6,6,attention mlp", "bert_tiny.onnx,4,4,attention mlp",
      "gpt_tiny.onnx,4,4,attention mlp"})
  void blocksAreFoundAndRemovedExactly(String file, int blocks, int removable, String kinds) throws Exception {
    List<Block> found = ResidualBlocks.find(OnnxModels.read(TestModels.model(file)));
    assertEquals(blocks, found.size(), found.toString());
    assertEquals(removable, found.stream().filter(Block::removable).count(), found.toString());
    assertEquals(List.of(kinds.split(" ")), found.stream().map(Block::kind).distinct().toList());
    for (BlockPruner.Criterion c : BlockPruner.Criterion.values()) {
      Model m = OnnxModels.read(TestModels.model(file));
      int nodes = m.graph().nodes().size();
      if (c == BlockPruner.Criterion.TAYLOR && file.startsWith("gpt")) {
        // a language model's logits are [batch, seq, vocab]: the classification loss Taylor differentiates is refused
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> BlockPruner.builder().criterion(BlockPruner.Criterion.TAYLOR).blocks(2).build().prune(m));
        assertTrue(e.getMessage().contains("cross-entropy needs logits of shape [N, K]"), e.getMessage());
        continue;
      }
      BlockPruner.Result r = BlockPruner.builder().criterion(c).blocks(2).verify(true).build().prune(m);
      assertEquals(2, r.removed().size());
      assertTrue(r.verify().passed() && r.verify().maxAbsDiff() == 0.0, file + " " + c + " " + r.verify());
      assertTrue(r.flopsAfter() < r.flopsBefore(), file + " " + c);
      assertTrue(m.graph().nodes().size() < nodes);
      double worst = r.removed().stream().mapToDouble(b -> r.scores()[b.id()]).max().orElseThrow();
      for (Block b : found) {
        if (b.removable() && !r.removed().stream().anyMatch(x -> x.id() == b.id())) {
          assertTrue(r.scores()[b.id()] >= worst, c + ": block " + b.id() + " kept with a lower score");
        }
      }
    }
  }

  /**
   * torchvision's resnet18/resnet50 (projection shortcuts at each stage's first block) and vit_b_16
   * (its MLP weights reach MatMul through a Transpose) in the git-ignored zoo, when exported.
   */
  @ParameterizedTest
  @CsvSource({"resnet18.onnx,8,5", "resnet50.onnx,16,12", "vit_b_16.onnx,24,24"})
  void zooBlocks(String file, int blocks, int removable) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(TestModels.zooDir().isPresent()
        && java.nio.file.Files.exists(TestModels.zooDir().get().resolve(file)), "zoo not exported");
    Model m = OnnxModels.read(TestModels.zooDir().get().resolve(file));
    List<Block> found = ResidualBlocks.find(m);
    assertEquals(blocks, found.size());
    assertEquals(removable, found.stream().filter(Block::removable).count());
    BlockPruner.Result r = BlockPruner.builder().blocks(2).verify(true).build().prune(m);
    assertTrue(r.verify().passed() && r.verify().maxAbsDiff() == 0.0, r.verify().toString());
  }

  @Test
  void aProjectionShortcutBlockIsNotRemovableAndSaysWhy() throws Exception {
    List<Block> found = ResidualBlocks.find(OnnxModels.read(TestModels.model("resnet20.onnx")));
    Block down = found.get(3);
    assertFalse(down.removable());
    assertEquals("its shortcut is not the identity but a computation of the block's input (Conv + BatchNormalization,"
        + " a projection), and its input [batch, 16, 28, 28] and output [batch, 32, 14, 14] differ in shape: replacing"
        + " the branch by the identity would still leave the projection, another function", down.reason());
    assertThrows(TargetUnreachableException.class, () -> BlockPruner.builder().blocks(8).build()
        .prune(OnnxModels.read(TestModels.model("resnet20.onnx"))));
    assertEquals("blocks", assertThrows(InvalidOptionException.class, () -> BlockPruner.builder().blocks(0)).key());
  }

  /** A FLOPs target takes the fewest lowest-scored blocks that reach it; past all removable blocks it is refused. */
  @Test
  void aFlopsTargetTakesTheFewestBlocksThatReachIt() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    BlockPruner.Result r = BlockPruner.builder().criterion(BlockPruner.Criterion.L1).flops(0.2).verify(true).build()
        .prune(m);
    double achieved = 1 - (double) r.flopsAfter() / r.flopsBefore();
    assertEquals(2, r.removed().size(), "one block removes about 11.6%: two are needed for 20%");
    assertTrue(achieved >= 0.2 && achieved < 0.3, "achieved " + achieved);
    assertTrue(r.verify().passed() && r.verify().maxAbsDiff() == 0.0);
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class, () -> BlockPruner.builder()
        .criterion(BlockPruner.Criterion.L1).flops(0.95).build().prune(OnnxModels.read(TestModels.model("resnet20.onnx"))));
    assertTrue(e.getMessage().startsWith("removing all 7 removable residual blocks of 9 does not remove 95.0%"),
        e.getMessage());
    assertEquals("blockFlops", assertThrows(InvalidOptionException.class, () -> BlockPruner.builder().flops(1.5)).key());
  }

  /** Block Influence by hand: cos over the channel axis at each position, averaged. */
  @Test
  void blockInfluenceIsOneMinusTheMeanCosineOverPositions() {
    // [1, 2, 2]: two tokens of 2 features; token 0 unchanged (cos 1), token 1 turned by 90 degrees (cos 0)
    HostTensor in = HostTensor.floats(new float[] {1, 0, 0, 2}, 1, 2, 2);
    HostTensor out = HostTensor.floats(new float[] {3, 0, 5, 0}, 1, 2, 2);
    assertArrayEquals(new double[] {1.0, 2}, BlockPruner.cosines(in, out), 1e-12);
    // NCHW [1, 2, 1, 2]: the vectors lie along the channels; pixel 0 (1,1)->(1,-1) cos 0, pixel 1 (2,0)->(4,0) cos 1
    HostTensor a = HostTensor.floats(new float[] {1, 2, 1, 0}, 1, 2, 1, 2);
    HostTensor b = HostTensor.floats(new float[] {1, 4, -1, 0}, 1, 2, 1, 2);
    assertArrayEquals(new double[] {1.0, 2}, BlockPruner.cosines(a, b), 1e-12);
  }

  /**
   * Top-1 on the 2,000 bundled Fashion-MNIST test images without fine-tuning, after removing the
   * blocks Block Influence ranks lowest on 256 calibration images (numbers in the README).
   */
  @ParameterizedTest
  @CsvSource({"resnet20.onnx,1,block-influence", "resnet20.onnx,2,block-influence", "vit_tiny.onnx,1,block-influence",
      "vit_tiny.onnx,2,block-influence", "resnet20.onnx,1,l1", "resnet20.onnx,2,l1", "vit_tiny.onnx,1,l1",
      "vit_tiny.onnx,2,l1", "resnet20.onnx,1,oracle", "resnet20.onnx,2,oracle", "vit_tiny.onnx,1,oracle",
      "vit_tiny.onnx,2,oracle", "resnet20.onnx,1,taylor", "resnet20.onnx,2,taylor", "vit_tiny.onnx,1,taylor",
      "vit_tiny.onnx,2,taylor", "resnet20.onnx,1,random", "resnet20.onnx,2,random", "vit_tiny.onnx,1,random",
      "vit_tiny.onnx,2,random"})
  void topOneAfterRemovingBlocks(String file, int n, String criterion) throws Exception {
    Normalization norm = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});
    Dataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), norm, 0);
    Dataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, 256);
    double before;
    Model m = OnnxModels.read(TestModels.model(file));
    try (Runner runner = Runner.open(Sessions.cpu(), m)) {
      before = new Evaluator(runner).evaluate(test, 256).top1();
    }
    BlockPruner.Result r = BlockPruner.builder().criterion(BlockPruner.Criterion.byName(criterion)).blocks(n)
        .data(calib, 64, 256).verify(true).build().prune(m);
    double after;
    try (Runner runner = Runner.open(Sessions.cpu(), m)) {
      after = new Evaluator(runner).evaluate(test, 256).top1();
    }
    System.out.printf(Locale.ROOT, "%s %s: -%d blocks %s (scores %s): FLOPs %d -> %d (-%.1f%%), top-1 %.4f -> %.4f, verify %s%n",
        file, criterion, n, r.removed().stream().map(b -> b.id() + ":" + b.kind()).toList(),
        r.removed().stream().map(b -> String.format(Locale.ROOT, "%.3f", r.scores()[b.id()])).toList(),
        r.flopsBefore(), r.flopsAfter(), 100.0 * (r.flopsBefore() - r.flopsAfter()) / r.flopsBefore(), before, after,
        r.verify().maxAbsDiff());
    assertTrue(r.verify().passed());
    assertTrue(after >= 0 && after <= before + 0.02, file + " top-1 " + before + " -> " + after);
  }

  /**
   * Oracle per block is, by construction, the measured change of the calibration loss when that
   * block is removed: checked against the Evaluator's mean cross-entropy of the pruned model.
   */
  @ParameterizedTest
  @CsvSource({"resnet20.onnx", "vit_tiny.onnx"})
  void oracleIsTheMeasuredLossChangeOfRemovingTheBlock(String file) throws Exception {
    Dataset calib = calibration(128);
    Model m = OnnxModels.read(TestModels.model(file));
    List<Block> removable = ResidualBlocks.find(m).stream().filter(Block::removable).toList();
    BlockPruner p = BlockPruner.builder().criterion(BlockPruner.Criterion.ORACLE).data(calib, 64, 128).build();
    double[] oracle = p.oracle(m, removable);
    double base = loss(m, calib);
    for (Block b : removable) {
      Model pruned = m.copy();
      ResidualBlocks.remove(pruned, List.of(b));
      double measured = loss(pruned, calib) - base;
      System.out.printf(Locale.ROOT, "%s block %d (%s): oracle %.6f, measured %.6f%n", file, b.id(), b.kind(),
          oracle[b.id()], measured);
      assertEquals(measured, oracle[b.id()], 1e-5 + 1e-5 * Math.abs(measured), file + " block " + b.id());
    }
  }

  /**
   * Taylor per block: its signed mean {@code (1/N) sum_n dL_n/dm} is the derivative of the mean
   * calibration loss with respect to a mask m on the branch output, checked against a central
   * finite difference of that mask (m = 1 +- 0.01), measured with the Evaluator.
   */
  @ParameterizedTest
  @CsvSource({"resnet20.onnx", "vit_tiny.onnx"})
  void taylorIsTheDerivativeOfTheLossWithRespectToABranchMask(String file) throws Exception {
    Dataset calib = calibration(128);
    Model m = OnnxModels.read(TestModels.model(file));
    List<Block> removable = ResidualBlocks.find(m).stream().filter(Block::removable).toList();
    BlockPruner p = BlockPruner.builder().criterion(BlockPruner.Criterion.TAYLOR).data(calib, 64, 128).build();
    double[] abs = p.taylor(m, removable);
    double[] signed = p.lastTaylorSigned();
    double eps = 0.01;
    for (Block b : removable) {
      double fd = (loss(scaled(m, b, 1 + eps), calib) - loss(scaled(m, b, 1 - eps), calib)) / (2 * eps);
      System.out.printf(Locale.ROOT, "%s block %d (%s): taylor %.6f (signed %.6f), finite difference %.6f%n", file,
          b.id(), b.kind(), abs[b.id()], signed[b.id()], fd);
      assertEquals(fd, signed[b.id()], 2e-3 + 0.02 * Math.abs(fd), file + " block " + b.id());
      assertTrue(abs[b.id()] >= Math.abs(signed[b.id()]) - 1e-12);
    }
  }

  /**
   * Without labels (here bert_tiny on random inputs: 4 draws of seed 1), Oracle's score is the
   * mean squared error of the outputs of the model without the block against the original's,
   * recomputed here on the same draws.
   */
  @Test
  void oracleWithoutLabelsIsTheOutputErrorOfRemovingTheBlock() throws Exception {
    Model m = OnnxModels.read(TestModels.model("bert_tiny.onnx"));
    List<Block> removable = ResidualBlocks.find(m).stream().filter(Block::removable).toList();
    double[] oracle = BlockPruner.builder().criterion(BlockPruner.Criterion.ORACLE).build().oracle(m, removable);
    dev.onnxprune.runtime.RandomInputs ri = dev.onnxprune.runtime.RandomInputs.of(m);
    java.util.Random r = new java.util.Random(1);
    List<java.util.Map<String, HostTensor>> feeds = new java.util.ArrayList<>();
    for (int i = 0; i < 4; i++) {
      feeds.add(ri.draw(r));
    }
    for (Block b : removable) {
      Model pruned = m.copy();
      ResidualBlocks.remove(pruned, List.of(b));
      double sum = 0;
      long n = 0;
      try (ai.onnxruntime.OrtSession a = Sessions.cpu().open(m); ai.onnxruntime.OrtSession p = Sessions.cpu().open(pruned)) {
        for (java.util.Map<String, HostTensor> f : feeds) {
          java.util.Map<String, HostTensor> x = dev.onnxprune.runtime.OrtTensors.run(a, f, java.util.Set.of());
          java.util.Map<String, HostTensor> y = dev.onnxprune.runtime.OrtTensors.run(p, f, java.util.Set.of());
          for (String k : x.keySet()) {
            for (int j = 0; j < x.get(k).size(); j++) {
              double d = x.get(k).get(j) - y.get(k).get(j);
              sum += d * d;
            }
            n += x.get(k).size();
          }
        }
      }
      assertTrue(oracle[b.id()] > 0, "block " + b.id());
      assertEquals(sum / n, oracle[b.id()], 1e-9 + 1e-6 * sum / n, "block " + b.id());
    }
  }

  private static Dataset calibration(int limit) throws Exception {
    Normalization norm = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});
    return IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), norm, limit);
  }

  private static double loss(Model m, Dataset data) throws Exception {
    try (Runner runner = Runner.open(Sessions.cpu(), m)) {
      return new Evaluator(runner).evaluate(data, 64).loss();
    }
  }

  /** A copy of {@code m} with block {@code b}'s branch output multiplied by {@code scale} before its Add. */
  private static Model scaled(Model m, Block b, double scale) {
    Model c = m.copy();
    dev.onnxprune.graph.Graph g = c.graph();
    dev.onnxprune.graph.Node add = g.nodes().stream().filter(n -> n.name().equals(b.add())).findFirst().orElseThrow();
    dev.onnxprune.graph.Value y = g.value(b.branchOutput());
    dev.onnxprune.graph.Value k = g.addInitializer(g.uniqueName("scale"),
        dev.onnxprune.graph.Tensor.scalar((float) scale));
    dev.onnxprune.graph.Node mul = g.addNodeBefore(add, "Mul", g.uniqueNodeName("scale"), List.of(y, k),
        List.of(g.uniqueName("scaled")));
    for (int i = 0; i < add.inputCount(); i++) {
      if (add.input(i) == y) {
        add.replaceInput(i, mul.output(0));
      }
    }
    return c;
  }
}
