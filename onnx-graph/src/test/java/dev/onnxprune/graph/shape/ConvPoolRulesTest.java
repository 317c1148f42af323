package dev.onnxprune.graph.shape;

import static dev.onnxprune.graph.shape.OrtCheck.inferAndCheck;
import static dev.onnxprune.graph.shape.TestGraphs.attr;
import static dev.onnxprune.graph.shape.TestGraphs.input;
import static dev.onnxprune.graph.shape.TestGraphs.longs;
import static dev.onnxprune.graph.shape.TestGraphs.model;
import static dev.onnxprune.graph.shape.TestGraphs.node;
import static dev.onnxprune.graph.shape.TestGraphs.op;
import static dev.onnxprune.graph.shape.TestGraphs.shape;
import static dev.onnxprune.graph.shape.TestGraphs.weight;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Conv, ConvTranspose, pooling, Gemm and MatMul rules: exact shapes, confirmed by ONNX Runtime. */
class ConvPoolRulesTest {

  @Test
  void convAutoPadSameUpperSameLowerAndValid() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 10, 11);
    Value w = weight(m, "w", 8, 3, 3, 3);
    Value upper = op(m, "Conv", "upper", List.of(x, w), attr("auto_pad", "SAME_UPPER"), longs("strides", 2, 2));
    Value lower = op(m, "Conv", "lower", List.of(x, w), attr("auto_pad", "SAME_LOWER"), longs("strides", 2, 2));
    Value valid = op(m, "Conv", "valid", List.of(x, w), attr("auto_pad", "VALID"), longs("strides", 2, 2));
    inferAndCheck(m);
    assertEquals(shape("N", 8, 5, 6), upper.shape());
    assertEquals(shape("N", 8, 5, 6), lower.shape());
    assertEquals(shape("N", 8, 4, 5), valid.shape());
    assertEquals(DataType.FLOAT, valid.tensorType().elemType());
  }

  @Test
  void symbolicSpatialSizesSurviveStrideOneWindowsWhosePadsMakeUpForThem() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, "H", "W");
    Value same = op(m, "Conv", "same", List.of(x, weight(m, "w", 8, 3, 3, 3)), longs("pads", 1, 1, 1, 1));
    Value dilated = op(m, "Conv", "dilated", List.of(same, weight(m, "w2", 8, 8, 3, 3)), longs("pads", 2, 1, 2, 3),
        longs("dilations", 2, 2));
    Value shrunk = op(m, "Conv", "shrunk", List.of(x, weight(m, "w3", 8, 3, 3, 3)));
    Value strided = op(m, "Conv", "strided", List.of(x, weight(m, "w4", 8, 3, 3, 3)), longs("pads", 1, 1, 1, 1),
        longs("strides", 2, 2));
    ShapeInference.infer(m);
    assertEquals(shape("N", 8, "H", "W"), same.shape());
    assertEquals(shape("N", 8, "H", "W"), dilated.shape(), "dilation 2: an extent of 5, pads 2 + 2 and 1 + 3");
    assertEquals(shape("N", 8, "?", "?"), shrunk.shape());
    assertEquals(shape("N", 8, "?", "?"), strided.shape());
  }

  @Test
  void convDilationsAsymmetricPadsAndGroups() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4, 20, 20);
    Value dilated = op(m, "Conv", "dilated", List.of(x, weight(m, "w", 6, 2, 3, 3)), attr("group", 2),
        longs("dilations", 2, 2), longs("pads", 0, 1, 2, 0));
    Value depthwise = op(m, "Conv", "depthwise", List.of(x, weight(m, "dw", 4, 1, 3, 3), weight(m, "b", 4)),
        attr("group", 4), longs("strides", 2, 2), longs("pads", 1, 1, 1, 1), longs("kernel_shape", 3, 3));
    inferAndCheck(m);
    // H: 20 + 0 + 2 - (2*2+1) + 1 = 18; W: 20 + 1 + 0 - 5 + 1 = 17
    assertEquals(shape("N", 6, 18, 17), dilated.shape());
    // (20 + 2 - 3) / 2 + 1 = 10
    assertEquals(shape("N", 4, 10, 10), depthwise.shape());
  }

  @Test
  void convWithChannelsThatDoNotMatchGroupsIsReportedUnknown() {
    Model m = model(13);
    Value x = input(m, "x", 1, 4, 8, 8);
    Value y = op(m, "Conv", "y", List.of(x, weight(m, "w", 6, 3, 3, 3)), attr("group", 2));
    ShapeReport r = ShapeInference.infer(m);
    assertNull(y.type());
    assertEquals(1, r.unknown().size());
    assertEquals("input channels 4 != weight channels 3 * group 2", r.unknown().get(0).reason());
  }

  @Test
  void conv1dAnd3dUseEverySpatialAxis() {
    Model m = model(13);
    Value x1 = input(m, "x1", "N", 2, 17);
    Value x3 = input(m, "x3", "N", 2, 5, 6, 7);
    Value y1 = op(m, "Conv", "y1", List.of(x1, weight(m, "w1", 3, 2, 4)), longs("strides", 3));
    Value y3 = op(m, "Conv", "y3", List.of(x3, weight(m, "w3", 3, 2, 3, 3, 3)), longs("pads", 1, 0, 0, 1, 0, 0));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 5), y1.shape());
    assertEquals(shape("N", 3, 5, 4, 5), y3.shape());
  }

  @Test
  void convTransposeWithPadsOutputPaddingGroupsAndOutputShape() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4, 5, 5);
    Value w = weight(m, "w", 4, 3, 3, 3);
    Value padded = op(m, "ConvTranspose", "padded", List.of(x, w), attr("group", 2), longs("strides", 2, 2),
        longs("pads", 1, 1, 1, 1), longs("output_padding", 1, 1));
    Value explicit = op(m, "ConvTranspose", "explicit", List.of(x, w), attr("group", 2), longs("strides", 2, 2),
        longs("output_shape", 10, 11));
    Value same = op(m, "ConvTranspose", "same", List.of(x, w), attr("group", 2), longs("strides", 2, 2),
        attr("auto_pad", "SAME_UPPER"));
    inferAndCheck(m);
    // 2 * (5 - 1) + 1 + 3 - 2 = 10; channels = 3 * group 2
    assertEquals(shape("N", 6, 10, 10), padded.shape());
    assertEquals(shape("N", 6, 10, 11), explicit.shape());
    assertEquals(shape("N", 6, 10, 10), same.shape());
  }

  @Test
  void maxPoolFloorAndCeilModeWithIndices() {
    Model m = model(13);
    Value x = input(m, "x", "N", 2, 8, 8);
    Value floor = op(m, "MaxPool", "floor", List.of(x), longs("kernel_shape", 3, 3), longs("strides", 2, 2));
    Node ceil = node(m, "MaxPool", List.of(x), List.of("ceil", "ceil_idx"), longs("kernel_shape", 3, 3),
        longs("strides", 2, 2), attr("ceil_mode", 1));
    Value dilated = op(m, "MaxPool", "dilated", List.of(x), longs("kernel_shape", 2, 2), longs("dilations", 2, 2));
    inferAndCheck(m);
    assertEquals(shape("N", 2, 3, 3), floor.shape()); // (8 - 3) / 2 + 1
    assertEquals(shape("N", 2, 4, 4), ceil.output(0).shape()); // ceil(5 / 2) + 1
    assertEquals(shape("N", 2, 4, 4), ceil.output(1).shape());
    assertEquals(DataType.INT64, ceil.output(1).tensorType().elemType());
    assertEquals(shape("N", 2, 6, 6), dilated.shape()); // 8 - 3 + 1
  }

  @Test
  void ceilModeDropsAWindowThatWouldStartInTheEndPadding() {
    Model m = model(13);
    Value x = input(m, "x", "N", 2, 5, 5);
    Value avg = op(m, "AveragePool", "avg", List.of(x), longs("kernel_shape", 2, 2), longs("strides", 2, 2),
        longs("pads", 1, 1, 1, 1), attr("ceil_mode", 1));
    inferAndCheck(m);
    // ceil((5 + 2 - 2) / 2) + 1 = 4, but window 4 would start at 6 >= 5 + 1: dropped
    assertEquals(shape("N", 2, 3, 3), avg.shape());
  }

  @Test
  void averagePoolDilationsFromOpset19() {
    Model m = model(19);
    Value x = input(m, "x", "N", 1, 7, 7);
    Value y = op(m, "AveragePool", "y", List.of(x), longs("kernel_shape", 2, 2), longs("dilations", 2, 2));
    inferAndCheck(m);
    assertEquals(shape("N", 1, 5, 5), y.shape());
  }

  @Test
  void poolAutoPadSameAndValid() {
    Model m = model(13);
    Value x = input(m, "x", "N", 2, 7, 9);
    Value same = op(m, "MaxPool", "same", List.of(x), longs("kernel_shape", 3, 3), longs("strides", 2, 2),
        attr("auto_pad", "SAME_UPPER"));
    Value valid = op(m, "AveragePool", "valid", List.of(x), longs("kernel_shape", 3, 3), longs("strides", 2, 2),
        attr("auto_pad", "VALID"));
    inferAndCheck(m);
    assertEquals(shape("N", 2, 4, 5), same.shape());
    assertEquals(shape("N", 2, 3, 4), valid.shape());
  }

  @Test
  void globalPoolsKeepBatchAndChannels() {
    Model m = model(13);
    Value x = input(m, "x", "N", 16, 7, 7);
    Value avg = op(m, "GlobalAveragePool", "avg", List.of(x));
    Value max = op(m, "GlobalMaxPool", "max", List.of(x));
    inferAndCheck(m);
    assertEquals(shape("N", 16, 1, 1), avg.shape());
    assertEquals(shape("N", 16, 1, 1), max.shape());
  }

  @Test
  void gemmHonoursTransposes() {
    Model m = model(13);
    Value a = input(m, "a", "N", 64);
    Value at = input(m, "at", 7, 3);
    Value fc = op(m, "Gemm", "fc", List.of(a, weight(m, "w", 10, 64), weight(m, "b", 10)), attr("transB", 1));
    Value t = op(m, "Gemm", "t", List.of(at, weight(m, "w2", 7, 4)), attr("transA", 1));
    inferAndCheck(m);
    assertEquals(shape("N", 10), fc.shape());
    assertEquals(shape(3, 4), t.shape());
  }

  @Test
  void matMulPromotesVectorsAndBroadcastsBatchAxes() {
    Model m = model(13);
    Value x = input(m, "x", 2, 3, 4, 5);
    Value v = input(m, "v", 5);
    Value b = input(m, "b", 2, 1, 4, 5);
    Value s = input(m, "s", "N", 4, 5);
    Value plain = op(m, "MatMul", "plain", List.of(x, weight(m, "w", 5, 6)));
    Value vec = op(m, "MatMul", "vec", List.of(v, weight(m, "w3", 3, 5, 6)));
    Value bcast = op(m, "MatMul", "bcast", List.of(b, weight(m, "w3b", 3, 5, 6)));
    Value matVec = op(m, "MatMul", "matVec", List.of(s, v));
    inferAndCheck(m);
    assertEquals(shape(2, 3, 4, 6), plain.shape());
    assertEquals(shape(3, 6), vec.shape());
    assertEquals(shape(2, 3, 4, 6), bcast.shape());
    assertEquals(shape("N", 4), matVec.shape());
  }
}
