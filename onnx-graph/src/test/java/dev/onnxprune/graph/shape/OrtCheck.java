package dev.onnxprune.graph.shape;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Assertions for the hand-built rule tests: inference result and agreement with ONNX Runtime. */
final class OrtCheck {
  /** Symbol bindings used when running hand-built models: batch "N" = 2. */
  static final Map<String, Long> N2 = Map.of("N", 2L);

  private OrtCheck() {}

  /** Infers {@code m}, expects it complete and without mismatches, and checks it against ORT. */
  static ShapeReport inferAndCheck(Model m) {
    ShapeReport r = ShapeInference.infer(m);
    assertTrue(r.complete(), () -> "unknown: " + r.unknown());
    assertEquals(List.of(), r.mismatches());
    assertMatchesOrt(m, N2);
    return r;
  }

  /**
   * Runs an untyped copy of the inferred model {@code m} in ORT (every node output exposed) and
   * asserts each inferred node output shape, with {@code bindings} substituted, equals ORT's.
   *
   * @return how many values were compared
   */
  static int assertMatchesOrt(Model m, Map<String, Long> bindings) {
    Map<String, DataType> elemTypes = new HashMap<>();
    for (Node n : m.graph().nodes()) {
      for (Value v : n.outputs()) {
        if (v != null && v.tensorType() != null) {
          elemTypes.put(v.name(), v.tensorType().elemType());
        }
      }
    }
    Map<String, long[]> actual;
    try {
      Model copy = m.copy();
      for (Node n : copy.graph().nodes()) {
        for (Value v : n.outputs()) {
          if (v != null) {
            v.setType(null); // let ORT infer every shape itself
          }
        }
      }
      actual = OrtShapes.run(copy, elemTypes, bindings, null);
    } catch (Exception e) {
      throw new AssertionError("running the model in ONNX Runtime failed: " + e, e);
    }
    int checked = 0;
    for (Node n : m.graph().nodes()) {
      for (Value v : n.outputs()) {
        if (v == null) {
          continue;
        }
        TensorType t = v.tensorType();
        assertNotNull(t, () -> "no type inferred for '" + v.name() + "'");
        long[] expected = OrtShapes.concrete(t.shape(), bindings);
        assertNotNull(expected, () -> "inferred shape of '" + v.name() + "' is not concrete: " + t);
        long[] got = actual.get(v.name());
        assertNotNull(got, () -> "ORT returned no '" + v.name() + "'");
        assertArrayEquals(expected, got, () -> "'" + v.name() + "' inferred " + t.shape() + " but ORT gives "
            + java.util.Arrays.toString(got));
        checked++;
      }
    }
    return checked;
  }
}
