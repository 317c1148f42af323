package dev.onnxprune.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.onnxprune.errors.InvalidModelException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.ModelFormatException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.shape.ShapeInference;
import java.io.IOException;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The model reader and what reads every model (the checker, shape inference, the cost model,
 * writing back), on any bytes and on mutated models. A file that is not a readable model must give
 * a {@link ModelFormatException} naming it; a model that reads must be checked, inferred, costed
 * and written back without any other exception (an attribute out of range may give an {@link
 * InvalidModelException} naming the file and node). Anything else is a finding.
 */
class ModelReaderFuzzTest {
  static Stream<Arguments> fixtures() {
    return Seeds.models().stream().map(m -> arguments((Object) m.toByteArray()));
  }

  /** Any bytes as a model file; seeded with the fixtures and the built seeds. */
  @MethodSource("fixtures")
  @FuzzTest(maxDuration = "10m")
  void readsAnyBytes(byte[] bytes) throws IOException {
    try (Scratch dir = Scratch.create()) {
      exercise(Seeds.write(dir.path(), bytes));
    }
  }

  /** A seed model with protobuf-level mutations ({@link ModelMutator}). */
  @FuzzTest(maxDuration = "10m")
  void readsMutatedModels(FuzzedDataProvider data) throws IOException {
    var seeds = Seeds.models();
    var seed = seeds.get(data.consumeInt(0, seeds.size() - 1));
    byte[] model = ModelMutator.mutate(seed, data).toByteArray();
    try (Scratch dir = Scratch.create()) {
      exercise(Seeds.write(dir.path(), model));
    }
  }

  static void exercise(Path file) throws IOException {
    Model m;
    try {
      m = OnnxModels.read(file);
    } catch (ModelFormatException e) {
      assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
      return;
    }
    ModelChecker.check(m);
    try {
      ShapeInference.infer(m);
      CostModel.analyze(m);
    } catch (InvalidModelException e) {
      assertTrue(e.getMessage().startsWith(file + " is not a valid ONNX model"), e.getMessage());
    }
    Path out = file.resolveSibling("written.onnx");
    OnnxModels.write(m, out);
    OnnxModels.read(out);
  }
}
