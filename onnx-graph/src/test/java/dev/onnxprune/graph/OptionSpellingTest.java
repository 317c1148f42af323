package dev.onnxprune.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OptionSpelling;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OptionSpellingTest {
  private final OptionSpelling flags = new OptionSpelling(Map.of("target.flops", "--flops", "fineTuning", "--epochs",
      "minChannels", "--min-channels", "model", "MODEL", "report", "--report"));

  @Test
  void errorNamesTheAdaptersOption() {
    assertEquals("--flops must be in (0, 1): 1.5",
        flags.translate(new InvalidOptionException("target.flops", 1.5, "must be in (0, 1)")));
  }

  @Test
  void keysWithADotOrCapitalAreReplacedInFreeTextPlainWordsAreNot() {
    assertEquals("--min-channels is 1; the model keeps --flops", flags.render("minChannels is 1; the model keeps"
        + " target.flops"));
    assertNull(flags.render(null));
  }

  @Test
  void aKeyThatOnlyBeginsALongerOneOrIsAlreadyAnElementStays() {
    assertEquals("fineTuning.momentum and <minChannels>, but --epochs.",
        flags.render("fineTuning.momentum and <minChannels>, but fineTuning."));
  }

  @Test
  void anOutputThatClobbersAnInputNamesBothOptions(@TempDir Path dir) {
    Path m = dir.resolve("m.onnx");
    OutputPaths.SameFileException e = assertThrows(OutputPaths.SameFileException.class,
        () -> new OutputPaths().inputModel("model", m).output("report", m).check());
    assertEquals("--report must not be the same file as MODEL (" + m + "): '" + m + "'", flags.translate(e));
  }
}
