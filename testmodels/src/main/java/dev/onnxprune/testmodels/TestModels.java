package dev.onnxprune.testmodels;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The fixture models and data bundled in this module (exported from Debian's PyTorch by
 * {@code testmodels/export_fixtures.py}, and the transformers with token inputs by {@code
 * testmodels/export_transformers.py}), plus the optional, not committed, torchvision zoo exported
 * by {@code testmodels/export_zoo.py} and {@code testmodels/export_detection.py}.
 *
 * <p>Resources are copied once per JVM into a temporary folder so callers get real file paths.
 */
public final class TestModels {
  /** Class-path folder of the committed fixtures. */
  public static final String RESOURCE_DIR = "onnxprune/testmodels/";

  private static Path extractDir;
  private static JsonNode manifest;

  private TestModels() {}

  /** Path of a bundled file (model or data), e.g. {@code model("resnet20.onnx")}. */
  public static synchronized Path file(String fileName) {
    try {
      if (extractDir == null) {
        extractDir = Files.createTempDirectory("onnxprune-testmodels");
        extractDir.toFile().deleteOnExit();
      }
      Path target = extractDir.resolve(fileName);
      if (!Files.exists(target)) {
        try (InputStream in = TestModels.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + fileName)) {
          if (in == null) {
            throw new IllegalArgumentException("no bundled test file '" + fileName + "' under " + RESOURCE_DIR
                + "; known models: " + modelFiles());
          }
          Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        target.toFile().deleteOnExit();
      }
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("extracting test file " + fileName, e);
    }
  }

  /** Path of a bundled model file, e.g. {@code "resnet20.onnx"} or {@code "resnet20_folded.onnx"}. */
  public static Path model(String fileName) {
    return file(fileName);
  }

  /**
   * BERT-like encoder classifier with integer token inputs ({@code input_ids}, {@code
   * attention_mask}: INT64 [batch, seq], seq up to 16), exported by {@code
   * testmodels/export_transformers.py}; output {@code logits} [batch, 3].
   */
  public static final String BERT = "bert_tiny.onnx";

  /** {@link #BERT}'s calibration set: {@code input_ids}, {@code attention_mask} [256, 12] and {@code labels}. */
  public static final String BERT_CALIBRATION = "bert_tiny-calib.npz";

  /**
   * GPT-like decoder with a causal mask and a tied LM head: {@code input_ids} INT64 [batch, seq]
   * (seq up to 16) to {@code logits} [batch, seq, 64].
   */
  public static final String GPT = "gpt_tiny.onnx";

  /** {@link #GPT}'s calibration set: {@code input_ids} [128, 12]. */
  public static final String GPT_CALIBRATION = "gpt_tiny-calib.npz";

  /**
   * File names of the transformer fixtures (manifest key {@code transformers}; not in {@link
   * #modelFiles()}, which lists the Fashion-MNIST image classifiers).
   */
  public static List<String> transformerFiles() {
    List<String> out = new ArrayList<>();
    for (JsonNode m : manifest().get("transformers")) {
      out.add(m.get("file").asText());
    }
    return out;
  }

  /**
   * A file of the git-ignored {@code testmodels/zoo} folder when it has been exported (e.g. the
   * detector of {@code testmodels/export_detection.py}), found like {@link #zooDir()} but without
   * needing the classifier zoo's manifest.
   */
  public static Optional<Path> zooFile(String fileName) {
    Optional<Path> zoo = zooDir();
    if (zoo.isPresent()) {
      return Files.isRegularFile(zoo.get().resolve(fileName)) ? zoo.map(z -> z.resolve(fileName)) : Optional.empty();
    }
    Path dir = Paths.get("").toAbsolutePath();
    for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
      Path f = dir.resolve("testmodels").resolve("zoo").resolve(fileName);
      if (Files.isRegularFile(f)) {
        return Optional.of(f);
      }
    }
    return Optional.empty();
  }

  /** The parsed {@code manifest.json}: one entry per model file with accuracy and input facts. */
  public static synchronized JsonNode manifest() {
    if (manifest == null) {
      try (InputStream in = TestModels.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + "manifest.json")) {
        if (in == null) {
          throw new IllegalStateException("manifest.json missing under " + RESOURCE_DIR);
        }
        manifest = new ObjectMapper().readTree(in);
      } catch (IOException e) {
        throw new UncheckedIOException("reading test model manifest", e);
      }
    }
    return manifest;
  }

  /** File names of every bundled model, in manifest order. */
  public static List<String> modelFiles() {
    List<String> out = new ArrayList<>();
    JsonNode models = manifest().get("models");
    for (JsonNode m : models) {
      out.add(m.get("file").asText());
    }
    return out;
  }

  /** The manifest entry of one model file. */
  public static JsonNode entry(String fileName) {
    for (JsonNode m : manifest().get("models")) {
      if (m.get("file").asText().equals(fileName)) {
        return m;
      }
    }
    throw new IllegalArgumentException("no manifest entry for " + fileName);
  }

  /**
   * The torchvision zoo folder ({@code testmodels/zoo}) when it has been exported: from the
   * system property {@code onnxprune.zoo}, else found by walking up from the working directory.
   */
  public static Optional<Path> zooDir() {
    String prop = System.getProperty("onnxprune.zoo");
    if (prop != null && !prop.isBlank()) {
      Path p = Paths.get(prop);
      return Files.isDirectory(p) ? Optional.of(p) : Optional.empty();
    }
    Path dir = Paths.get("").toAbsolutePath();
    for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
      Path zoo = dir.resolve("testmodels").resolve("zoo");
      if (Files.isRegularFile(zoo.resolve("manifest.json"))) {
        return Optional.of(zoo);
      }
    }
    return Optional.empty();
  }
}
