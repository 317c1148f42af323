package dev.onnxprune.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintWriter;

/**
 * What {@code --json} prints: one indented document whose first field, {@code "format"}, names its
 * layout and version ({@code onnx-prune.<command>/<n>}; the number changes only when a field is
 * renamed or removed, never when one is added).
 */
final class Json {
  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private Json() {}

  /** Prints {@code document} (a record with a {@code format} first) on {@code out}. */
  static void print(PrintWriter out, Object document) throws JsonProcessingException {
    out.println(MAPPER.writeValueAsString(document));
  }
}
