package dev.onnxprune.bench;

import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Command-line options of the benchmarks that take {@code --name value} pairs and a zoo model. */
final class BenchArgs {
  private final Map<String, String> values;

  private BenchArgs(Map<String, String> values) {
    this.values = values;
  }

  /**
   * {@code --name value} pairs, each name one of {@code names}; anything else, or a name without
   * a value, ends the JVM with status 2 and points at {@code bench}'s class comment.
   */
  static BenchArgs parse(String[] args, Class<?> bench, String... names) {
    Map<String, String> values = new HashMap<>();
    for (int i = 0; i < args.length; i += 2) {
      if (!List.of(names).contains(args[i]) || i + 1 >= args.length) {
        System.err.println((i + 1 < args.length ? "unknown argument " : "no value for ") + args[i]
            + "; see the class comment of " + bench.getName());
        System.exit(2);
      }
      values.put(args[i], args[i + 1]);
    }
    return new BenchArgs(values);
  }

  String string(String name, String dflt) {
    return values.getOrDefault(name, dflt);
  }

  int integer(String name, int dflt) {
    String v = values.get(name);
    return v == null ? dflt : Integer.parseInt(v);
  }

  /**
   * The model file of {@code --model}, else the zoo's ResNet-50; ends the JVM with status 2 and
   * says how to export it when the file is missing.
   */
  Path zooModel() {
    String given = values.get("--model");
    Path model = given != null ? Path.of(given)
        : TestModels.zooDir().map(z -> z.resolve("resnet50.onnx")).orElse(Path.of("testmodels/zoo/resnet50.onnx"));
    if (!Files.isRegularFile(model)) {
      System.err.println(model + " does not exist; export it with: /usr/bin/python3 testmodels/export_zoo.py resnet50");
      System.exit(2);
    }
    return model;
  }
}
