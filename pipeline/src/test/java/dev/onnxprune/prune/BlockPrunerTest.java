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
    assertEquals("flops", assertThrows(InvalidOptionException.class, () -> BlockPruner.builder().flops(1.5)).key());
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
  @CsvSource({"resnet20.onnx,1", "resnet20.onnx,2", "vit_tiny.onnx,1", "vit_tiny.onnx,2"})
  void topOneAfterRemovingBlocks(String file, int n) throws Exception {
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
    BlockPruner.Result r = BlockPruner.builder().blocks(n).data(calib, 64, 256).verify(true).build().prune(m);
    double after;
    try (Runner runner = Runner.open(Sessions.cpu(), m)) {
      after = new Evaluator(runner).evaluate(test, 256).top1();
    }
    System.out.printf(Locale.ROOT, "%s: -%d blocks %s (BI %s): FLOPs %d -> %d (-%.1f%%), top-1 %.4f -> %.4f, verify %s%n",
        file, n, r.removed().stream().map(b -> b.id() + ":" + b.kind()).toList(),
        r.removed().stream().map(b -> String.format(Locale.ROOT, "%.3f", r.scores()[b.id()])).toList(),
        r.flopsBefore(), r.flopsAfter(), 100.0 * (r.flopsBefore() - r.flopsAfter()) / r.flopsBefore(), before, after,
        r.verify().maxAbsDiff());
    assertTrue(r.verify().passed());
    assertTrue(after > 0.1 && after <= before + 0.01, file + " top-1 " + before + " -> " + after);
  }
}
