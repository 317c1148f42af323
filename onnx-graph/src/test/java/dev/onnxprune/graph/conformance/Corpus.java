package dev.onnxprune.graph.conformance;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * ONNX's own test corpus ({@code libonnx-testdata}: node, pytorch-converted, pytorch-operator,
 * real, simple), at the system property {@code onnxprune.onnxTestData} or Debian's install path.
 */
public final class Corpus {
  public static final Path DIR =
      Path.of(System.getProperty("onnxprune.onnxTestData", "/usr/share/libonnx-testdata/data"));

  private Corpus() {}

  /** Every {@code model.onnx} of the corpus, sorted; skips the calling test when the corpus is not installed. */
  public static List<Path> models() throws IOException {
    assumeTrue(Files.isDirectory(DIR), DIR + " absent (install libonnx-testdata)");
    try (Stream<Path> s = Files.walk(DIR)) {
      List<Path> models = s.filter(p -> p.getFileName().toString().equals("model.onnx")).sorted()
          .collect(Collectors.toList());
      assumeTrue(!models.isEmpty(), "no model.onnx under " + DIR);
      return models;
    }
  }

  /** A model's case name: its folder relative to the corpus, e.g. {@code node/test_if}. */
  public static String caseName(Path model) {
    return DIR.relativize(model.getParent()).toString();
  }
}
