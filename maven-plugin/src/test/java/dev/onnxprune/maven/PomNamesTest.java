package dev.onnxprune.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.Target;
import org.junit.jupiter.api.Test;

class PomNamesTest {
  @Test
  void libraryRefusalNamesThePomElement() {
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> Target.flops(1.5));
    assertEquals("<flops> must be in (0, 1): 1.5", PomNames.translate(e));
  }

  @Test
  void fineTuningKeysBecomeTheirElements() {
    InvalidOptionException e = assertThrows(InvalidOptionException.class,
        () -> FineTuning.builder().epochs(-1).build());
    assertEquals("<fineTuningEpochs> must be >= 1: -1", PomNames.translate(e));
  }

  @Test
  void keysInFreeTextAreRendered() {
    assertEquals("<recalibrateBn>: the model has no BatchNormalization; nothing was recalibrated",
        PomNames.render("recovery.recalibrateBn: the model has no BatchNormalization; nothing was recalibrated"));
    assertEquals("<refitSamples> must be >= 0: -1", PomNames.translate(assertThrows(InvalidOptionException.class,
        () -> dev.onnxprune.prune.Recovery.leastSquaresRefit().withRefitSamples(-1))));
    assertEquals("<calibrationImages> (or <trainingImages>) is required by the criterion taylor",
        PomNames.translate(new InvalidOptionException("calibration", null, "is required by the criterion taylor")));
  }

  @Test
  void plainWordsAndWrittenElementsStayAsTheyAre() {
    assertEquals("the model and its target", PomNames.render("the model and its target"));
    assertEquals("<maxAccuracyDrop> needs <evaluationImages>",
        PomNames.render("<maxAccuracyDrop> needs <evaluationImages>"));
  }

  @Test
  void keyWithoutElementStaysAKey() {
    assertEquals("fineTuning.momentum must be in [0, 1): 2.0",
        PomNames.translate(new InvalidOptionException("fineTuning.momentum", 2.0, "must be in [0, 1)")));
  }
}
