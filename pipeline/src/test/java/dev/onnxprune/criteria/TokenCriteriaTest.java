package dev.onnxprune.criteria;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The data-driven criteria on a BERT-like classifier whose calibration data are token ids and an
 * attention mask (int64 arrays of a .npz, each fed to the model input of its name) with labels.
 */
class TokenCriteriaTest {
  private static final Sessions CPU = new Sessions(Device.CPU, 0, 1);

  private static Dataset calibration() throws Exception {
    return Datasets.open(TestModels.file(TestModels.BERT_CALIBRATION), null, DatasetOptions.defaults().withLimit(64));
  }

  static Stream<String> criteria() {
    return Stream.of("apoz", "mean", "oracle", "taylor", "heads", "wanda");
  }

  @ParameterizedTest
  @MethodSource("criteria")
  void scoresEveryPrunableGroupOfTheTokenModel(String name) throws Exception {
    Model model = OnnxModels.read(TestModels.model(TestModels.BERT));
    byte[] before = OnnxModels.toBytes(model);
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    DataCriterion c = DataCriteria.byName(name, calibration(), CPU, new DataCriteria.Options().batchSize(32));
    double[][] scores = c.score(a);
    for (ChannelGroup g : a.prunableGroups()) {
      double[] s = scores[g.id()];
      // heads too: PyTorch's attention merges the batch with the heads ([seq * batch, width] before the
      // out-projection), so taylor and oracle score them with one mask for the whole batch
      assertNotNull(s, name + " scores group " + g.id());
      assertEquals(g.size(), s.length);
      assertTrue(Arrays.stream(s).allMatch(Double::isFinite), name + ": " + Arrays.toString(s));
      if (name.equals("apoz")) {
        // GELU leaves no exact zeros in the MLPs: APoZ 0, score 1 (it means something behind ReLU only)
        assertTrue(Arrays.stream(s).allMatch(v -> v >= 0 && v <= 1), Arrays.toString(s));
      } else {
        assertTrue(Arrays.stream(s).distinct().count() > 1, name + " tells the channels of group " + g.id()
            + " apart: " + Arrays.toString(s));
      }
    }
    assertArrayEquals(before, OnnxModels.toBytes(model), "the scored model is unchanged");
    assertTrue(c.lastStats().sampleForwards() >= 64, c.lastStats().toString());
  }

  @Test
  void oracleChoosesTheChannelsOfAPruneThatVerifies() throws Exception {
    Model model = OnnxModels.read(TestModels.model(TestModels.BERT));
    PruneResult r = Pruner.builder().criterion(DataCriteria.oracle(calibration(), CPU)).target(Target.ratio(0.3))
        .verify(true).build().prune(model);
    assertTrue(r.report().verify().passed(), r.report().verify().toString());
    assertTrue(r.plan().removedCount() > 0);
  }
}
