package dev.onnxprune.cli;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;

/** Test helpers: runs the CLI in-process and builds small models. */
final class Cli {
  private Cli() {}

  /** What a command printed and returned. */
  record Result(int exitCode, String out, String err) {}

  /**
   * What a usage error of {@code command} ("prune") prints on stderr: the error line and the hint
   * line, nothing else.
   */
  static String usageError(String command, String message) {
    return "onnx-prune: error: " + message + "\nonnx-prune: try 'onnx-prune " + command + " --help'\n";
  }

  /** Runs {@code onnx-prune args...} in this JVM, capturing stdout and stderr. */
  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  /**
   * A 1x1x4x4 input through Conv (2 filters 3x3, pads 1, no bias), Flatten and MatMul by a 32x3
   * matrix: 2*16*9 + 32*3 = 384 MACs, 18 + 96 = 114 parameters.
   */
  static Model convFlattenMatMul() {
    Graph g = new Graph("tiny");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 1, 4, 4)));
    Value w = g.addInitializer("w", Tensor.ofFloats(new long[] {2, 1, 3, 3}, ramp(18)));
    Value m = g.addInitializer("m", Tensor.ofFloats(new long[] {32, 3}, ramp(96)));
    Value c = g.addNode("Conv", "conv", List.of(x, w), List.of("c"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value f = g.addNode("Flatten", "flatten", List.of(c), List.of("f"), Attribute.of("axis", 1L)).output(0);
    Value y = g.addNode("MatMul", "fc", List.of(f, m), List.of("y")).output(0);
    y.setType(new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 3)));
    g.addOutput(y);
    return model(g);
  }

  /**
   * A 1x1x4x4 input through Conv (4 filters 3x3, pads 1), Conv (1 filter 1x1) and Log: the
   * first conv's 4 channels are prunable, and the Log of negative sums is NaN in any model, so
   * verification after pruning cannot pass.
   */
  static Model convConvLog() {
    Graph g = new Graph("nan");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 1, 4, 4)));
    Value w1 = g.addInitializer("w1", Tensor.ofFloats(new long[] {4, 1, 3, 3}, ramp(36)));
    Value w2 = g.addInitializer("w2", Tensor.ofFloats(new long[] {1, 4, 1, 1}, new float[] {-1f, 0.5f, -0.25f, 1f}));
    Value c1 = g.addNode("Conv", "conv1", List.of(x, w1), List.of("c1"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value c2 = g.addNode("Conv", "conv2", List.of(c1, w2), List.of("c2"),
        Attribute.of("kernel_shape", new long[] {1, 1})).output(0);
    Value y = g.addNode("Log", "log", List.of(c2), List.of("y")).output(0);
    y.setType(new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 1, 4, 4)));
    g.addOutput(y);
    return model(g);
  }

  /**
   * An image of symbolic size {@code [N, 1, H, W]} through Conv (4 filters 3x3, pads 1) and Conv
   * (2 filters 1x1): no position table binds H and W, so the convolutions' costs are unknown; the
   * first conv's 4 channels are prunable.
   */
  static Model symbolicSizes() {
    Graph g = new Graph("symbolic");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(dev.onnxprune.graph.Dim.symbolic("N"),
        dev.onnxprune.graph.Dim.of(1), dev.onnxprune.graph.Dim.symbolic("H"), dev.onnxprune.graph.Dim.symbolic("W"))));
    Value w1 = g.addInitializer("w1", Tensor.ofFloats(new long[] {4, 1, 3, 3}, ramp(36)));
    Value w2 = g.addInitializer("w2", Tensor.ofFloats(new long[] {2, 4, 1, 1}, ramp(8)));
    Value c1 = g.addNode("Conv", "conv1", List.of(x, w1), List.of("c1"),
        Attribute.of("kernel_shape", new long[] {3, 3}), Attribute.of("pads", new long[] {1, 1, 1, 1})).output(0);
    Value y = g.addNode("Conv", "conv2", List.of(c1, w2), List.of("y"),
        Attribute.of("kernel_shape", new long[] {1, 1})).output(0);
    g.addOutput(y);
    return model(g);
  }

  /** A Relu whose result goes through an op of a custom domain, which no shape inference knows. */
  static Model withCustomOp() {
    Graph g = new Graph("custom");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 4)));
    Value r = g.addNode("Relu", "relu", List.of(x), List.of("r")).output(0);
    Value y = g.insertNode(1, "Mystery", "com.example", "mystery", List.of(r), List.of("y")).output(0);
    g.addOutput(y);
    Model model = model(g);
    model.opsets().add(new OpsetId("com.example", 1));
    return model;
  }

  static Path write(Model model, Path file) throws IOException {
    OnnxModels.write(model, file);
    return file;
  }

  /** The names of the entries of {@code folder}. */
  static java.util.Set<String> filesIn(Path folder) throws IOException {
    try (java.util.stream.Stream<Path> s = java.nio.file.Files.list(folder)) {
      return s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
    }
  }

  private static Model model(Graph g) {
    Model model = new Model(g);
    model.setIrVersion(8L);
    model.setProducerName("onnx-prune-tests");
    model.opsets().add(new OpsetId("", 13));
    return model;
  }

  private static float[] ramp(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (i % 7) * 0.25f - 0.5f;
    }
    return v;
  }
}
