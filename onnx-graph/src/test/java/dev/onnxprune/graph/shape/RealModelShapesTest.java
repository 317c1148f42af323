package dev.onnxprune.graph.shape;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * On every fixture model (and every torchvision zoo model when exported), inferred shapes equal
 * the shapes ONNX Runtime actually produces for a batch of 2 with every intermediate value
 * exposed, and agree with the exporter's declared types.
 */
class RealModelShapesTest {
  @TempDir
  Path tmp;

  static Stream<String> fixtures() {
    return TestModels.modelFiles().stream();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void fixtureShapesEqualOnnxRuntimeOutputShapes(String file) throws Exception {
    checkAgainstOrt(TestModels.model(file), file);
  }

  @TestFactory
  Stream<DynamicTest> zooShapesEqualOnnxRuntimeOutputShapes() throws Exception {
    Optional<Path> zoo = TestModels.zooDir();
    Assumptions.assumeTrue(zoo.isPresent(), "testmodels/zoo has not been exported (testmodels/export_zoo.py)");
    JsonNode manifest = new ObjectMapper().readTree(zoo.get().resolve("manifest.json").toFile());
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode entry : manifest.get("models")) {
      String file = entry.get("file").asText();
      Path path = zoo.get().resolve(file);
      tests.add(DynamicTest.dynamicTest(file, () -> {
        Assumptions.assumeTrue(Files.isRegularFile(path), "zoo model " + file + " is listed but missing");
        checkAgainstOrt(path, file);
      }));
    }
    return tests.stream();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void inferenceWithoutRecordingKeepsTheFileByteIdentical(String file) throws Exception {
    Model m = OnnxModels.read(TestModels.model(file));
    byte[] before = OnnxModels.toBytes(m);
    ShapeInference.infer(m);
    assertArrayEquals(before, OnnxModels.toBytes(m));
  }

  private void checkAgainstOrt(Path path, String label) throws Exception {
    Model m = OnnxModels.read(path);
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(List.of(), r.mismatches(), label + ": inferred types conflict with the exporter's");
    assertTrue(r.complete(), () -> label + ": unknown " + r.unknown());

    Map<String, Long> bindings = new HashMap<>();
    for (Value in : m.graph().runtimeInputs()) {
      Shape s = in.shape();
      if (s != null && s.rank() > 0 && s.dim(0).isSymbolic()) {
        bindings.put(s.dim(0).param(), 2L);
      }
    }
    Map<String, DataType> elemTypes = new HashMap<>();
    Map<String, Shape> inferred = new LinkedHashMap<>();
    for (Node n : m.graph().nodes()) {
      for (Value v : n.outputs()) {
        TensorType t = v == null ? null : v.tensorType();
        if (t != null) {
          elemTypes.put(v.name(), t.elemType());
          inferred.put(v.name(), t.shape());
        }
      }
    }
    Map<String, long[]> actual = OrtShapes.run(OnnxModels.read(path), elemTypes, bindings, tmp);
    int checked = 0;
    for (Map.Entry<String, Shape> e : inferred.entrySet()) {
      long[] expected = OrtShapes.concrete(e.getValue(), bindings);
      assertNotNull(expected, () -> label + ": '" + e.getKey() + "' has no concrete shape: " + e.getValue());
      long[] got = actual.get(e.getKey());
      assertNotNull(got, () -> label + ": ORT returned no '" + e.getKey() + "'");
      assertArrayEquals(expected, got, () -> label + ": '" + e.getKey() + "' inferred " + e.getValue()
          + ", ORT gives " + Arrays.toString(got));
      checked++;
    }
    System.out.printf("%-24s %5d nodes, %5d values inferred, %d unknown, %5d checked against ORT, %d mismatches%n",
        label, m.graph().nodes().size(), r.inferredValues(), r.unknown().size(), checked, r.mismatches().size());
  }
}
