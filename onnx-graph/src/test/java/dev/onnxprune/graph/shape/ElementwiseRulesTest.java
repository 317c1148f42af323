package dev.onnxprune.graph.shape;

import static dev.onnxprune.graph.shape.OrtCheck.inferAndCheck;
import static dev.onnxprune.graph.shape.TestGraphs.attr;
import static dev.onnxprune.graph.shape.TestGraphs.input;
import static dev.onnxprune.graph.shape.TestGraphs.ints;
import static dev.onnxprune.graph.shape.TestGraphs.longs;
import static dev.onnxprune.graph.shape.TestGraphs.model;
import static dev.onnxprune.graph.shape.TestGraphs.node;
import static dev.onnxprune.graph.shape.TestGraphs.op;
import static dev.onnxprune.graph.shape.TestGraphs.shape;
import static dev.onnxprune.graph.shape.TestGraphs.weight;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Broadcasting, activations, normalizations, Softmax, Clip, Dropout, Identity, Cast and reductions. */
class ElementwiseRulesTest {

  @Test
  void broadcastingAlignsTrailingAxes() {
    Model m = model(13);
    Value a = input(m, "a", "N", 3, 1, 5);
    Value b = input(m, "b", 4, 1);
    Value c = input(m, "c", 3, 4);
    Value d = input(m, "d", 2, 3, 4);
    Value sum = op(m, "Add", "sum", List.of(a, b));
    Value prod = op(m, "Mul", "prod", List.of(c, d));
    Value scalar = op(m, "Div", "scalar", List.of(a, m.graph().addInitializer("two", Tensor.scalar(2f))));
    Value eq = op(m, "Equal", "eq", List.of(c, d));
    Value where = op(m, "Where", "where", List.of(eq, c, d));
    Value max = op(m, "Max", "max", List.of(a, b, sum));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 4, 5), sum.shape());
    assertEquals(shape(2, 3, 4), prod.shape());
    assertEquals(shape("N", 3, 1, 5), scalar.shape());
    assertEquals(shape(2, 3, 4), eq.shape());
    assertEquals(DataType.BOOL, eq.tensorType().elemType());
    assertEquals(shape(2, 3, 4), where.shape());
    assertEquals(DataType.FLOAT, where.tensorType().elemType());
    assertEquals(shape("N", 3, 4, 5), max.shape());
  }

  @Test
  void incompatibleBroadcastIsReportedUnknown() {
    Model m = model(13);
    op(m, "Add", "y", List.of(input(m, "a", 3), input(m, "b", 4)));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals("cannot broadcast shapes [[3], [4]]: axis 0 has sizes 3 and 4", r.unknown().get(0).reason());
  }

  @Test
  void activationsSoftmaxClipDropoutAndIdentityKeepTheShape() {
    Model m = model(14);
    Value x = input(m, "x", "N", 5);
    Value relu = op(m, "Relu", "relu", List.of(x));
    Value leaky = op(m, "LeakyRelu", "leaky", List.of(relu), attr("alpha", 0.1f));
    Value sigmoid = op(m, "Sigmoid", "sigmoid", List.of(leaky));
    Value hardSwish = op(m, "HardSwish", "hardSwish", List.of(sigmoid));
    Value clip = op(m, "Clip", "clip", Arrays.asList(hardSwish, m.graph().addInitializer("lo", Tensor.scalar(0f)),
        m.graph().addInitializer("hi", Tensor.scalar(6f))));
    Value softmax = op(m, "Softmax", "softmax", List.of(clip), attr("axis", 1));
    Value logSoftmax = op(m, "LogSoftmax", "logSoftmax", List.of(softmax));
    Node dropout = node(m, "Dropout", List.of(logSoftmax), List.of("dropped", "mask"));
    Value identity = op(m, "Identity", "identity", List.of(dropout.output(0)));
    Value erf = op(m, "Erf", "erf", List.of(identity));
    Value cast = op(m, "Cast", "cast", List.of(erf), attr("to", DataType.DOUBLE.code()));
    inferAndCheck(m);
    for (Value v : List.of(relu, leaky, sigmoid, hardSwish, clip, softmax, logSoftmax, dropout.output(0), identity,
        erf, cast)) {
      assertEquals(shape("N", 5), v.shape(), v.name());
    }
    assertEquals(DataType.BOOL, dropout.output(1).tensorType().elemType());
    assertEquals(shape("N", 5), dropout.output(1).shape());
    assertEquals(DataType.DOUBLE, cast.tensorType().elemType());
  }

  @Test
  void batchNormalizationKeepsTheInputShape() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 4, 4);
    Value y = op(m, "BatchNormalization", "y", List.of(x, weight(m, "g", 3), weight(m, "b", 3), weight(m, "mu", 3),
        m.graph().addInitializer("var", Tensor.ofFloats(new long[] {3}, new float[] {1, 2, 3}))));
    Value in = op(m, "InstanceNormalization", "in", List.of(y, weight(m, "g2", 3), weight(m, "b2", 3)));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 4, 4), y.shape());
    assertEquals(shape("N", 3, 4, 4), in.shape());
  }

  @Test
  void layerNormalizationStatisticsKeepLeadingAxes() {
    Model m = model(17);
    Value x = input(m, "x", "N", 6, 8);
    Node ln = node(m, "LayerNormalization", List.of(x, weight(m, "g", 8), weight(m, "b", 8)),
        List.of("y", "mean", "invStd"));
    inferAndCheck(m);
    assertEquals(shape("N", 6, 8), ln.output(0).shape());
    assertEquals(shape("N", 6, 1), ln.output(1).shape());
    assertEquals(shape("N", 6, 1), ln.output(2).shape());
  }

  @Test
  void reduceMeanAxesAttributeBeforeOpset18() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 4, 5);
    Value spatial = op(m, "ReduceMean", "spatial", List.of(x), longs("axes", 2, 3));
    Value dropped = op(m, "ReduceMean", "dropped", List.of(x), longs("axes", 1), attr("keepdims", 0));
    Value all = op(m, "ReduceMean", "all", List.of(x));
    Value sum = op(m, "ReduceSum", "sum", List.of(x, ints(m, "ax", 1)));
    Value argmax = op(m, "ArgMax", "argmax", List.of(x), attr("axis", -1), attr("keepdims", 0));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 1, 1), spatial.shape());
    assertEquals(shape("N", 4, 5), dropped.shape());
    assertEquals(shape(1, 1, 1, 1), all.shape());
    assertEquals(shape("N", 1, 4, 5), sum.shape()); // ReduceSum takes axes as input from opset 13
    assertEquals(shape("N", 3, 4), argmax.shape());
    assertEquals(DataType.INT64, argmax.tensorType().elemType());
  }

  @Test
  void reduceMeanAxesInputFromOpset18() {
    Model m = model(18);
    Value x = input(m, "x", "N", 3, 4, 5);
    Value last = op(m, "ReduceMean", "last", List.of(x, ints(m, "ax", -1)), attr("keepdims", 0));
    Value noop = op(m, "ReduceMean", "noop", List.of(x), attr("noop_with_empty_axes", 1));
    Value all = op(m, "ReduceMax", "all", List.of(x), attr("keepdims", 0));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 4), last.shape());
    assertEquals(shape("N", 3, 4, 5), noop.shape());
    assertEquals(shape(), all.shape());
  }
}
