package dev.onnxprune.cli;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.OutputPaths;
import java.util.Map;

/**
 * How the command line names the API's option keys, in one table: the library reports a bad option
 * by its key ({@link InvalidOptionException#key()}, e.g. {@code report}), and the user is told the
 * flag ({@code --report}).
 */
final class OptionNames {
  private OptionNames() {}

  /** API key to the command line's name for it. */
  static final Map<String, String> FLAGS = Map.ofEntries(
      Map.entry("model", "MODEL"),
      Map.entry("output", "-o/--output"),
      Map.entry("report", "--report"),
      Map.entry("original", "--original"),
      Map.entry("images", "--images"),
      Map.entry("labels", "--labels"),
      Map.entry("valImages", "--val-images"),
      Map.entry("valLabels", "--val-labels"),
      Map.entry("checkpointDir", "--checkpoint-dir"));

  /** The flag of {@code key}; the key itself when the table does not have it. */
  static String flag(String key) {
    return FLAGS.getOrDefault(key, key);
  }

  /** The library's message with every option it names given as its flag. */
  static String translate(InvalidOptionException e) {
    if (e instanceof OutputPaths.SameFileException same) {
      return same.messageFor(flag(same.key()), flag(same.otherKey()));
    }
    return e.messageFor(flag(e.key()));
  }
}
