package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ModelComparisonTest {
  @Test
  void identicalModelsHaveNoDifference() {
    assertEquals(Optional.empty(), ModelComparison.firstDifference(Cli.convFlattenMatMul(), Cli.convFlattenMatMul()));
  }

  @Test
  void changedWeightIsADifferenceNamingTheInitializer() {
    Model changed = Cli.convFlattenMatMul();
    Value w = changed.graph().value("w");
    float[] data = w.initializer().toFloatArray();
    data[5] += 1e-6f;
    w.setInitializer(Tensor.ofFloats(w.initializer().dims(), data));

    Optional<String> d = ModelComparison.firstDifference(Cli.convFlattenMatMul(), changed);

    assertEquals(Optional.of("graph initializer 'w': the data differs"), d);
  }

  @Test
  void changedAttributeIsADifferenceNamingTheNode() {
    Model changed = Cli.convFlattenMatMul();
    Node conv = changed.graph().nodes().get(0);
    conv.setAttribute(Attribute.of("pads", new long[] {0, 0, 0, 0}));

    Optional<String> d = ModelComparison.firstDifference(Cli.convFlattenMatMul(), changed);

    assertTrue(d.orElseThrow().startsWith("graph node 0 'conv' (Conv) attribute 'pads': "), d.toString());
  }

  @Test
  void changedOpsetIsADifference() {
    Model changed = Cli.convFlattenMatMul();
    changed.opsets().set(0, new OpsetId("", 17));

    assertTrue(ModelComparison.firstDifference(Cli.convFlattenMatMul(), changed).orElseThrow()
        .startsWith("opset imports: "));
  }
}
