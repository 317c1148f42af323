package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import org.junit.jupiter.api.Test;

/** The pruned model timed against the original after pruning, and when it is. */
class SpeedCheckTest {

  @Test
  void prunedModelIsTimedAgainstTheOriginalInAlternatingPairs() throws Exception {
    PruneReport r = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5))
        .speedCheck(SpeedCheck.Mode.IF_CHEAP, 4).build().prune(OnnxModels.read(TestModels.model("resnet20.onnx")))
        .report();
    PruneReport.Speed s = r.speed();
    assertNull(s.skipped());
    assertEquals("CPU", s.provider());
    assertEquals(4, s.batch());
    assertTrue(s.pairs() >= 3 && s.pairs() <= 10, "pairs " + s.pairs());
    assertTrue(s.originalBestMs() > 0 && s.originalBestMs() <= s.originalMs(), s.toString());
    assertTrue(s.prunedBestMs() > 0 && s.prunedBestMs() <= s.prunedMs(), s.toString());
    assertEquals(s.originalBestMs() / s.prunedBestMs(), s.bestSpeedup(), 1e-9);
    JsonNode doc = new ObjectMapper().readTree(r.toJson());
    assertEquals(s.pairs(), doc.get("speed").get("pairs").asInt());
    assertTrue(doc.get("widths").get("multiple").asInt() >= 1, doc.get("widths").toString());
    assertFalse(doc.get("widths").get("reason").asText().isEmpty());
  }

  @Test
  void aLatencyTargetReportsItsMeasuredSpeedupAtTheLatencyBatch() throws Exception {
    PruneReport r = Pruner.builder().criterion(Criteria.l1()).target(Target.latency(0.2)).roundTo(8)
        .latencyTimer(LatencyModelTest.LINEAR).build().prune(OnnxModels.read(TestModels.model("vgg_bn.onnx")))
        .report();
    assertEquals(32, r.speed().batch(), "the batch the default latency timer measures");
    assertNull(r.speed().skipped());
    assertTrue(r.speed().pairs() >= 3);
    assertTrue(r.achieved() >= 0.2 && r.achieved() <= 0.21, "predicted " + r.achieved());
    for (PruneReport.Group g : r.groups()) {
      assertTrue(g.kept() % 8 == 0 || g.kept() == g.channels(), "group " + g.id() + " keeps " + g.kept());
    }
  }

  @Test
  void onlyALatencyTargetIsTimedByDefault() {
    assertFalse(SpeedCheck.wanted(SpeedCheck.Mode.LATENCY_TARGETS, Target.flops(0.5), 1));
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.LATENCY_TARGETS, Target.latency(0.5), Long.MAX_VALUE));
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.IF_CHEAP, Target.flops(0.5), SpeedCheck.CHEAP_FLOPS));
    assertFalse(SpeedCheck.wanted(SpeedCheck.Mode.IF_CHEAP, Target.flops(0.5), SpeedCheck.CHEAP_FLOPS + 1));
    assertFalse(SpeedCheck.wanted(SpeedCheck.Mode.NEVER, Target.latency(0.5), 1));
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.ALWAYS, Target.params(0.5), Long.MAX_VALUE));
    assertEquals("31.0 GFLOPs per sample is over the 20 GFLOPs a cheap check times (speedCheck ALWAYS times it)",
        SpeedCheck.notTimed(SpeedCheck.Mode.IF_CHEAP, 31_000_000_000L).skipped());
    assertNull(SpeedCheck.notTimed(SpeedCheck.Mode.IF_CHEAP, SpeedCheck.CHEAP_FLOPS));
    assertNull(SpeedCheck.notTimed(SpeedCheck.Mode.NEVER, Long.MAX_VALUE));
    // weights that ONNX Runtime would hold twice (512 MiB and more) are not timed by a cheap check
    long big = dev.onnxprune.runtime.Sessions.DEFAULT_FILE_THRESHOLD;
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.IF_CHEAP, Target.flops(0.5), 1, big - 1));
    assertFalse(SpeedCheck.wanted(SpeedCheck.Mode.IF_CHEAP, Target.flops(0.5), 1, big));
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.IF_CHEAP, Target.latency(0.5), 1, big));
    assertTrue(SpeedCheck.wanted(SpeedCheck.Mode.ALWAYS, Target.flops(0.5), 1, big));
    assertNull(SpeedCheck.notTimed(SpeedCheck.Mode.IF_CHEAP, 1, big - 1));
    assertEquals("2.42 GB of weights is not under the 0.54 GB a cheap check times: timing holds the original and the"
        + " pruned model in ONNX Runtime at once (speedCheck ALWAYS times it)",
        SpeedCheck.notTimed(SpeedCheck.Mode.IF_CHEAP, 1, 2_416_541_696L).skipped());
  }

  @Test
  void aModelThatCannotRunIsReportedAsSkippedWithTheReason() {
    PruneReport.Speed s = SpeedCheck.ofResult(dev.onnxprune.runtime.Sessions.cpu(), new dev.onnxprune.graph.Model(new dev.onnxprune.graph.Graph("empty")),
        new dev.onnxprune.graph.Model(new dev.onnxprune.graph.Graph("empty")), 1);
    assertTrue(s.skipped().startsWith("timing the models in ONNX Runtime: "), s.skipped());
    assertFalse(s.notFaster());
  }
}
