package dev.onnxprune.graph.shape;

import static dev.onnxprune.graph.shape.TestGraphs.attr;
import static dev.onnxprune.graph.shape.TestGraphs.input;
import static dev.onnxprune.graph.shape.TestGraphs.model;
import static dev.onnxprune.graph.shape.TestGraphs.op;
import static dev.onnxprune.graph.shape.TestGraphs.shape;
import static dev.onnxprune.graph.shape.TestGraphs.weight;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How inference merges with declared types, falls back, reports, and records value_info. */
class ShapeInferenceTest {

  private static Node customOp(Model m, Value in) {
    Graph g = m.graph();
    return g.insertNode(g.nodes().size(), "Mystery", "com.example", "mystery", List.of(in), List.of("mystery"));
  }

  @Test
  void unknownOpWithoutValueInfoIsReportedAndBlocksItsConsumers() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4);
    Node custom = customOp(m, x);
    Value relu = op(m, "Relu", "relu", List.of(custom.output(0)));
    ShapeReport r = ShapeInference.infer(m);
    assertFalse(r.complete());
    assertEquals(2, r.unknown().size());
    assertSame(custom, r.unknown().get(0).node());
    assertEquals("no shape rule for com.example:Mystery", r.unknown().get(0).reason());
    assertEquals("input 0 'mystery' has no known tensor type", r.unknown().get(1).reason());
    assertNull(relu.type());
  }

  @Test
  void unknownOpFallsBackToTheFilesValueInfo() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4);
    Node custom = customOp(m, x);
    TensorType declared = new TensorType(DataType.FLOAT, shape("N", 4, 2));
    custom.output(0).setType(declared);
    Value relu = op(m, "Relu", "relu", List.of(custom.output(0)));
    ShapeReport r = ShapeInference.infer(m);
    assertTrue(r.complete(), r.unknown().toString());
    assertSame(declared, custom.output(0).type());
    assertEquals(shape("N", 4, 2), relu.shape());
  }

  @Test
  void conflictingDeclaredOutputIsAMismatchAndTheInferredTypeWins() {
    Model m = model(13);
    Value x = input(m, "x", "N", 64);
    Value y = op(m, "Gemm", "y", List.of(x, weight(m, "w", 10, 64)), attr("transB", 1));
    y.setType(new TensorType(DataType.FLOAT, shape("N", 11)));
    m.graph().addOutput(y);
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(1, r.mismatches().size());
    ShapeReport.Mismatch mm = r.mismatches().get(0);
    assertSame(y, mm.value());
    assertEquals(shape("N", 11), mm.fileShape());
    assertEquals(shape("N", 10), mm.inferredShape());
    assertEquals(shape("N", 10), y.shape());
  }

  @Test
  void declaredSymbolNamesAreKeptAndUnknownDimsFilledIn() {
    Model m = model(13);
    Value x = input(m, "x", "N", 64);
    Value named = op(m, "Gemm", "named", List.of(x, weight(m, "w", 10, 64)), attr("transB", 1));
    Value partial = op(m, "Relu", "partial", List.of(named));
    TensorType declared = new TensorType(DataType.FLOAT, shape("batch", 10));
    named.setType(declared);
    partial.setType(new TensorType(DataType.FLOAT, shape("?", "?")));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(List.of(), r.mismatches());
    assertSame(declared, named.type(), "an equal merge leaves the declared type object untouched");
    assertEquals(shape("batch", 10), partial.shape(), "the consumer sees the declared name");
  }

  @Test
  void valueInfoIsRecordedOnlyWhenAsked() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4);
    Value relu = op(m, "Relu", "relu", List.of(x));
    Value out = op(m, "Sigmoid", "out", List.of(relu));
    m.graph().addOutput(out);
    ShapeInference.infer(m);
    assertEquals(List.of(), m.graph().valueInfos());
    ShapeInference.infer(m, true);
    assertEquals(List.of(relu), m.graph().valueInfos());
  }

  @Test
  void ifTakesTheShapeItsBranchesAgreeOn() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4);
    Value cond = op(m, "Constant", "cond", List.of(), Attribute.of("value",
        Tensor.ofRaw(DataType.BOOL, new long[0], com.google.protobuf.ByteString.copyFrom(new byte[] {1}))));
    Graph then = new Graph("then");
    Graph otherwise = new Graph("else");
    Node ifNode = m.graph().addNode("If", "if", List.of(cond), List.of("y"),
        Attribute.of("then_branch", then), Attribute.of("else_branch", otherwise));
    then.addOutput(then.addNode("Relu", "r", List.of(x), List.of("then_out")).output(0));
    otherwise.addOutput(otherwise.addNode("Flatten", "f", List.of(x), List.of("else_out")).output(0));
    ShapeReport r = ShapeInference.infer(m);
    assertTrue(r.complete(), r.unknown().toString());
    assertEquals(shape("N", 4), then.outputs().get(0).shape());
    assertEquals(shape("N", 4), ifNode.output(0).shape());
    assertEquals(DataType.FLOAT, ((ValueType.TensorType) ifNode.output(0).type()).elemType());
    OrtCheck.assertMatchesOrt(m, OrtCheck.N2);
  }
}
