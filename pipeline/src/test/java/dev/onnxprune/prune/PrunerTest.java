package dev.onnxprune.prune;

import dev.onnxprune.criteria.Criteria;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.testmodels.TestModels;
import java.util.ArrayList;
import java.util.List;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.TargetUnreachableException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PrunerTest {

  /**
   * Issue 16, point 9: verification ran ONNX Runtime on the original serialized to one byte array,
   * which fails past 2 GiB ("Required array length ... is too large") and held a second copy of
   * the model. Now it runs the models as files with external data from {@code
   * onnxprune.sessions.fileThreshold} bytes on (512 MiB; 0 here, so a fixture takes that route): the
   * same verdict and differences as through bytes.
   */
  @Test
  void verificationRunsModelsAsFilesWithExternalDataPastTheThreshold() throws Exception {
    Pruner pruner = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).verify(true).build();
    PruneReport.Verification viaBytes = pruner.prune(OnnxModels.read(TestModels.model("resnet20.onnx"))).report()
        .verify();
    String old = System.setProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY, "0");
    PruneReport.Verification viaFiles;
    try {
      viaFiles = pruner.prune(OnnxModels.read(TestModels.model("resnet20.onnx"))).report().verify();
    } finally {
      if (old == null) {
        System.clearProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY);
      } else {
        System.setProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY, old);
      }
    }
    assertTrue(viaFiles.passed(), "verify " + viaFiles);
    assertEquals(viaBytes.maxAbsDiff(), viaFiles.maxAbsDiff(), 0.0);
    assertEquals(viaBytes.maxRelDiff(), viaFiles.maxRelDiff(), 0.0);
  }

  /**
   * Issue 16, point 9: a model read with external data is verified with ONNX Runtime reading the
   * original's weights from its own data file (no copy of them in this process: the memory of
   * {@code prune --verify} on a 2.4 GB model went from 2.6-3.5x to 1.3x the model) and without
   * prepacked weights. The pruned model is the same as from the model read inline, verification
   * passes, and a wrong weight in the pruned model still fails it.
   */
  @Test
  void verificationReadsTheOriginalsOwnDataFileAndStillCatchesAWrongWeight(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path file = dir.resolve("resnet20.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("resnet20.onnx")), file,
        dev.onnxprune.graph.WriteOptions.withExternalData());
    Pruner pruner = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).verify(true).build();
    PruneResult inline = pruner.prune(OnnxModels.read(TestModels.model("resnet20.onnx")));
    long threshold = 64 << 10; // under resnet20's 1.1 MB of weights, over its small inline tensors
    String old = System.setProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY, Long.toString(threshold));
    try {
      assertTrue(OnnxModels.referencing(OnnxModels.read(file), threshold) != null, "the original's own file is used");
      PruneResult r = pruner.prune(OnnxModels.read(file));
      assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
      assertTrue(r.report().verify().maxRelDiff() < 1e-5, "verify " + r.report().verify());
      List<String> names = r.model().graph().initializers().stream().map(v -> v.name()).toList();
      assertEquals(inline.model().graph().initializers().stream().map(v -> v.name()).toList(), names);
      for (String n : names) {
        assertTrue(java.util.Arrays.equals(inline.model().graph().value(n).initializer().toFloatArray(),
            r.model().graph().value(n).initializer().toFloatArray()), n + " differs from the inline model's prune");
      }
      // one kept weight changed by 1%: the check must fail
      dev.onnxprune.graph.Value w = r.model().graph().initializers().stream()
          .filter(v -> v.initializer().rank() == 4).findFirst().orElseThrow();
      float[] f = w.initializer().toFloatArray();
      for (int i = 0; i < f.length; i++) {
        f[i] *= 1.01f;
      }
      w.setInitializer(dev.onnxprune.graph.Tensor.ofFloats(w.initializer().dims(), f));
      PruneReport.Verification wrong = Equivalence.check(OnnxModels.read(file), r.plan(), r.model(),
          dev.onnxprune.runtime.Sessions.cpu(), 2, 1234);
      assertTrue(!wrong.passed() && wrong.maxRelDiff() > 1e-3, "a wrong weight passed: " + wrong);
    } finally {
      if (old == null) {
        System.clearProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY);
      } else {
        System.setProperty(dev.onnxprune.runtime.Sessions.FILE_THRESHOLD_PROPERTY, old);
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"resnet20.onnx,l1,false", "resnet20.onnx,fpgm,true", "vgg_bn.onnx,bn,false", "vgg_bn.onnx,l2,true",
      "resnet20.onnx,random,true"})
  void flopsTargetIsReachedWithinOnePercentAndVerifies(String file, String criterion, boolean global) throws Exception {
    Model m = OnnxModels.read(TestModels.model(file));
    long before = CostModel.analyze(m).totalFlops();
    PruneResult r = Pruner.builder().criterion(Criteria.byName(criterion, 1)).target(Target.flops(0.5)).global(global)
        .verify(true).build().prune(m);
    long after = CostModel.analyze(r.model()).totalFlops();
    double achieved = 1 - (double) after / before;
    assertEquals(achieved, r.report().achieved(), 1e-9);
    assertTrue(achieved >= 0.5 && achieved <= 0.51, file + " " + criterion + " achieved " + achieved);
    assertTrue(r.report().verify().passed(), "verify " + r.report().verify());
  }

  @Test
  void paramsTargetAndRoundingToEight() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    PruneResult r = Pruner.builder().target(Target.params(0.3)).roundTo(8).build().prune(m);
    assertTrue(r.report().achieved() >= 0.3, "achieved " + r.report().achieved());
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable() && g.channels() >= 8 && g.kept() < g.channels()) {
        assertEquals(0, g.kept() % 8, "group " + g.id() + " keeps " + g.kept());
      }
    }
  }

  @Test
  void unreachableTargetSaysWhatCanBeReached() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    TargetUnreachableException e = assertThrows(TargetUnreachableException.class,
        () -> Pruner.builder().target(Target.flops(0.999)).minChannels(8).build().prune(m));
    assertTrue(e.getMessage().startsWith("target flops 0.999 cannot be reached: with at least 8 channel(s) per group"),
        e.getMessage());
  }

  @Test
  void progressHearsEveryPhaseInOrderWithItsTime() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    List<PruneProgress.Phase> heard = new ArrayList<>();
    Pruner.builder().target(Target.ratio(0.25)).verify(true).speedCheck(SpeedCheck.Mode.ALWAYS, 1)
        .progress((phase, took) -> {
      assertTrue(!took.isNegative(), phase + " took " + took);
      heard.add(phase);
    }).build().prune(m);
    assertEquals(List.of(PruneProgress.Phase.values()), heard);
  }

  @Test
  void badTargetsNameTheOption() {
    assertEquals("target.flops must be in (0, 1): 1.5",
        assertThrows(InvalidOptionException.class, () -> Target.flops(1.5)).getMessage());
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> Target.ratio(0));
    assertEquals("target.ratio must be in (0, 1): 0.0", e.getMessage());
    assertEquals("target.ratio", e.key());
    assertEquals("0.0", e.value());
    assertEquals("must be in (0, 1)", e.rule());
  }

  @Test
  void maxGroupRatioKeepsGlobalAllocationFromCollapsingAGroup() throws Exception {
    Model m = OnnxModels.read(TestModels.model("resnet20.onnx"));
    PruneResult r = Pruner.builder().target(Target.flops(0.5)).global(true).maxGroupRatio(0.75).build().prune(m);
    assertTrue(r.report().achieved() >= 0.5, "achieved " + r.report().achieved());
    for (PruneReport.Group g : r.report().groups()) {
      assertTrue(g.kept() >= Math.ceil(g.channels() * 0.25), "group " + g.id() + " keeps " + g.kept() + " of "
          + g.channels());
    }
    assertEquals("maxGroupRatio must be in (0, 1]: 0.0", assertThrows(InvalidOptionException.class,
        () -> Pruner.builder().target(Target.flops(0.5)).maxGroupRatio(0).build()).getMessage());
  }
}
