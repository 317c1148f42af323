package dev.onnxprune.prune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.onnxprune.graph.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The reports' JSON: one indented document (Jackson), written atomically. */
final class JsonText {
  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private JsonText() {}

  /** {@code report} as indented JSON. */
  static String of(Object report) {
    try {
      return MAPPER.writeValueAsString(report);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Writes {@code json} to {@code file}, atomically ({@link AtomicFiles#write}).
   *
   * @throws dev.onnxprune.errors.InvalidOptionException (key {@code report}) when {@code file}
   *     exists and is not a regular file
   */
  static void write(Path file, String json) throws IOException {
    AtomicFiles.write(file, "report", json.getBytes(StandardCharsets.UTF_8));
  }
}
