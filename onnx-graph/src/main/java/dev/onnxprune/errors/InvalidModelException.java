package dev.onnxprune.errors;

import java.nio.file.Path;
import java.util.List;

/**
 * A model that reads but is not valid ONNX, or holds a value its computation cannot take: a
 * cycle, an operator its opset does not define, an opset or IR version outside those ONNX
 * defines, an attribute out of range (a Conv {@code group} of 0, a Flatten {@code axis} past the
 * rank), a dimension too large to compute with. The message names the file, the node and the
 * attribute; {@link #problems()} lists every problem found, one line each.
 */
public class InvalidModelException extends OnnxPruneException {
  private final Path file;
  private final List<String> problems;

  /**
   * @param file the model's file (null for a model built in memory)
   * @param problems what is invalid, one line each, naming the node and attribute
   */
  public InvalidModelException(Path file, List<String> problems) {
    super(message(file, problems));
    this.file = file;
    this.problems = List.copyOf(problems);
  }

  /** One problem: {@code node} (as {@code Node.describe()} gives it) and its {@code attribute}. */
  public InvalidModelException(Path file, String node, String attribute, String what) {
    this(file, List.of(node + ": attribute '" + attribute + "' " + what));
  }

  /** The model's file, or null for a model built in memory. */
  public Path file() {
    return file;
  }

  /** Every problem found, one line each. */
  public List<String> problems() {
    return problems;
  }

  /** This error for the model read from {@code file}, when it did not know its file. */
  public InvalidModelException withFile(Path file) {
    return this.file != null || file == null ? this : new InvalidModelException(file, problems);
  }

  private static String message(Path file, List<String> problems) {
    String head = (file == null ? "the model" : file.toString()) + " is not a valid ONNX model";
    return problems.size() == 1 ? head + ": " + problems.get(0)
        : head + " (" + problems.size() + " problems): " + String.join("; ", problems);
  }
}
