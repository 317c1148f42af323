package dev.onnxprune.maven;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.onnxprune.graph.AtomicFiles;
import dev.onnxprune.graph.OnnxModels;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * What a pruned model was made from, kept beside it as {@code OUTPUT.onnx-prune.json} (and so
 * packaged with it, saying how it was made): a SHA-256 over the plugin version, the content of
 * every input (the model with its external data files, each data set) and the normalised
 * configuration ({@link ModelSettings#normalised}), plus the parts, so that a rebuild can say
 * what changed, and the SHA-256 of the output as written. A build whose {@link #sha256} matches the
 * record beside an unchanged output has nothing to do.
 *
 * @param format the layout of this record, {@value #FORMAT}
 * @param sha256 over {@code format}, {@code pluginVersion}, {@code inputs} and {@code configuration}
 * @param pluginVersion the version of the plugin that wrote the output
 * @param inputs element name ({@code model}, {@code trainingImages}, ...) -> SHA-256 of its content
 *     (a folder: of every file's relative path and content, in path order)
 * @param configuration element name -> value, every setting with a value, defaults filled in
 * @param output SHA-256 of the output file as written (null before it is written)
 */
@JsonPropertyOrder({"format", "sha256", "pluginVersion", "inputs", "configuration", "output"})
record BuildStamp(String format, String sha256, String pluginVersion, SortedMap<String, String> inputs,
    SortedMap<String, String> configuration, String output) {
  static final String FORMAT = "onnx-prune-maven-plugin.stamp/1";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The record of a build from {@code inputs} (element name -> file or folder) with {@code configuration}. */
  static BuildStamp of(String pluginVersion, Map<String, Path> inputs, SortedMap<String, String> configuration)
      throws IOException {
    SortedMap<String, String> hashes = new TreeMap<>();
    for (Map.Entry<String, Path> e : inputs.entrySet()) {
      hashes.put(e.getKey(), e.getKey().equals("model") ? modelHash(e.getValue()) : contentHash(e.getValue()));
    }
    MessageDigest d = newDigest();
    StringBuilder text = new StringBuilder(FORMAT).append('\n').append(pluginVersion).append('\n');
    hashes.forEach((k, v) -> text.append("input ").append(k).append('=').append(v).append('\n'));
    configuration.forEach((k, v) -> text.append("setting ").append(k).append('=').append(v).append('\n'));
    String sha = HexFormat.of().formatHex(d.digest(text.toString().getBytes(StandardCharsets.UTF_8)));
    return new BuildStamp(FORMAT, sha, pluginVersion, hashes, new TreeMap<>(configuration), null);
  }

  /** The file that keeps the record of {@code output}: {@code OUTPUT.onnx-prune.json} beside it. */
  static Path fileFor(Path output) {
    return output.resolveSibling(output.getFileName() + ".onnx-prune.json");
  }

  /** The record in {@code file}, or null when there is none or it cannot be read (then the output is rebuilt). */
  static BuildStamp read(Path file) {
    try {
      return Files.isRegularFile(file) ? JSON.readValue(file.toFile(), BuildStamp.class) : null;
    } catch (IOException e) {
      return null;
    }
  }

  /** This record with the SHA-256 of {@code output}, written to {@link #fileFor}{@code (output)}. */
  BuildStamp writeFor(Path output) throws IOException {
    BuildStamp done = new BuildStamp(format, sha256, pluginVersion, inputs, configuration, contentHash(output));
    AtomicFiles.write(fileFor(output), "output", JSON.writeValueAsBytes(done));
    return done;
  }

  /**
   * Why {@code output} must be built again, given the record {@code before} beside it: null when it
   * is up to date, else the reasons ({@code "configuration changed: flops 0.5 -> 0.4"},
   * {@code "model changed"}, {@code "plugin version changed: ..."}, {@code "output missing"}, ...).
   *
   * @param report the report the build writes (a JSON file, or a folder for report.json and
   *     report.html; {@link dev.onnxprune.report.Reports}), or null
   */
  String staleness(BuildStamp before, Path output, Path report) throws IOException {
    if (before == null) {
      return "no earlier build recorded in " + fileFor(output).getFileName();
    }
    if (sha256.equals(before.sha256)) {
      if (!Files.isRegularFile(output)) {
        return "output missing";
      }
      if (!contentHash(output).equals(before.output)) {
        return "output changed since it was written";
      }
      return dev.onnxprune.report.Reports.files(report).stream().allMatch(Files::isRegularFile) ? null
          : "report missing";
    }
    List<String> why = new ArrayList<>();
    if (!Objects.equals(before.pluginVersion, pluginVersion)) {
      why.add("plugin version changed: " + before.pluginVersion + " -> " + pluginVersion);
    }
    for (Map.Entry<String, String> e : inputs.entrySet()) {
      String old = before.inputs == null ? null : before.inputs.get(e.getKey());
      if (old != null && !old.equals(e.getValue())) {
        why.add(e.getKey() + " changed");
      }
    }
    List<String> settings = new ArrayList<>();
    TreeSet<String> keys = new TreeSet<>(configuration.keySet());
    if (before.configuration != null) {
      keys.addAll(before.configuration.keySet());
    }
    for (String k : keys) {
      String old = before.configuration == null ? null : before.configuration.get(k);
      String now = configuration.get(k);
      if (!Objects.equals(old, now)) {
        settings.add(k + " " + (old == null ? "(none)" : old) + " -> " + (now == null ? "(none)" : now));
      }
    }
    if (!settings.isEmpty()) {
      why.add("configuration changed: " + String.join(", ", settings));
    }
    return why.isEmpty() ? "the record was written by another version (" + before.format + ")" : String.join("; ", why);
  }

  /** SHA-256 of a model file and the external data files it refers to, in order. */
  private static String modelHash(Path model) throws IOException {
    MessageDigest d = newDigest();
    digest(d, model);
    for (Path data : OnnxModels.externalDataFiles(model)) {
      digest(d, data);
    }
    return HexFormat.of().formatHex(d.digest());
  }

  /** SHA-256 of a file's content, or of a folder's files (relative path and content, in path order). */
  static String contentHash(Path file) throws IOException {
    MessageDigest d = newDigest();
    if (Files.isDirectory(file)) {
      try (Stream<Path> walk = Files.walk(file)) {
        for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
          d.update(file.relativize(p).toString().getBytes(StandardCharsets.UTF_8));
          d.update((byte) 0);
          digest(d, p);
        }
      }
    } else {
      digest(d, file);
    }
    return HexFormat.of().formatHex(d.digest());
  }

  private static void digest(MessageDigest d, Path file) throws IOException {
    byte[] buf = new byte[1 << 20];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.read(buf)) > 0; ) {
        d.update(buf, 0, n);
      }
    }
  }

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java has SHA-256", e);
    }
  }
}
