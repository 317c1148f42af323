package dev.onnxprune.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.PruningPipeline;

import java.io.File;
import java.nio.file.Path;
import java.util.SortedMap;
import org.junit.jupiter.api.Test;

class ModelSettingsTest {
  @Test
  void ownValueThenPluginLevelThenDefault() {
    ModelSettings pluginLevel = new ModelSettings();
    pluginLevel.device = "cpu";
    pluginLevel.flops = 0.5;
    ModelSettings own = new ModelSettings();
    own.model = new File("/p/src/main/onnx/resnet20.onnx");
    own.flops = 0.3;
    ModelSettings r = own.resolve(pluginLevel);
    assertEquals(0.3, r.flops);
    assertEquals("cpu", r.device);
    assertEquals(1, r.minChannels);
    assertEquals("l1", r.criterion);
    assertEquals("resnet20.onnx", r.output);
  }

  @Test
  void aMethodLeavesTheCriterionUnset() {
    ModelSettings own = new ModelSettings();
    own.method = "prunenet";
    assertEquals(null, own.resolve(new ModelSettings()).criterion);
  }

  @Test
  void normalisedConfigurationIsSortedWithFilesRelativeToTheProject() {
    ModelSettings own = new ModelSettings();
    own.model = new File("/p/src/main/onnx/resnet20.onnx");
    own.trainingImages = new File("/elsewhere/train.gz");
    own.flops = 0.5;
    SortedMap<String, String> m = own.resolve(new ModelSettings()).normalised(Path.of("/p"));
    assertEquals("src/main/onnx/resnet20.onnx", m.get("model"));
    assertEquals("/elsewhere/train.gz", m.get("trainingImages"));
    assertEquals("0.5", m.get("flops"));
    assertEquals("false", m.get("verify"));
    assertEquals(m.firstKey(), "batchSize");
    assertEquals(null, m.get("report"));
  }

  @Test
  void allocationAndGlobalMustAgreeAndAreNamedByElement() throws Exception {
    ModelSettings own = new ModelSettings();
    own.model = new File("m.onnx"); // not read: the configuration is refused first
    own.flops = 0.5;
    own.global = true;
    own.allocation = "sensitivity";
    ModelSettings s = own.resolve(new ModelSettings());
    InvalidOptionException e = assertThrows(
        InvalidOptionException.class, () -> PipelineConfig.pipeline(s, Path.of("o.onnx"),
            new PruningPipeline.Listener() {}));
    assertEquals("<allocation> cannot go with <global>true</global> (which is <allocation>global</allocation>);"
        + " give one of them: 'sensitivity'", PomNames.translate(e));
    own.global = null;
    e = assertThrows(InvalidOptionException.class,
        () -> PipelineConfig.pipeline(own.resolve(new ModelSettings()), Path.of("o.onnx"),
            new PruningPipeline.Listener() {}));
    assertEquals("<calibrationImages> (or <trainingImages>) is required by the sensitivity allocation (each group"
        + " pruned alone is evaluated on it; labels needed)", PomNames.translate(e));
  }
}
