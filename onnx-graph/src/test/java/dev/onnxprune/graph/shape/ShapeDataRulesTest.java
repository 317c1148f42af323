package dev.onnxprune.graph.shape;

import static dev.onnxprune.graph.shape.OrtCheck.inferAndCheck;
import static dev.onnxprune.graph.shape.TestGraphs.attr;
import static dev.onnxprune.graph.shape.TestGraphs.input;
import static dev.onnxprune.graph.shape.TestGraphs.ints;
import static dev.onnxprune.graph.shape.TestGraphs.longs;
import static dev.onnxprune.graph.shape.TestGraphs.model;
import static dev.onnxprune.graph.shape.TestGraphs.op;
import static dev.onnxprune.graph.shape.TestGraphs.scalar;
import static dev.onnxprune.graph.shape.TestGraphs.shape;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Shape/Gather/Unsqueeze/Concat chains, constants and the data propagated through them. */
class ShapeDataRulesTest {

  @Test
  void exporterReshapeChainKeepsSymbolicBatch() {
    Model m = model(13);
    Value x = input(m, "x", "N", 8, 4, 4);
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value batch = op(m, "Gather", "batch", List.of(shp, scalar(m, "zero", 0)), attr("axis", 0));
    Value unsq = op(m, "Unsqueeze", "unsq", List.of(batch, ints(m, "axes", 0)));
    Value minusOne = ints(m, "minusOne", -1);
    Value target = op(m, "Concat", "target", List.of(unsq, minusOne), attr("axis", 0));
    Value y = op(m, "Reshape", "y", List.of(x, target));
    ShapeReport r = inferAndCheck(m);
    assertEquals(shape(4), shp.shape());
    assertEquals(shape(), batch.shape());
    assertEquals(shape(2), target.shape());
    assertEquals(shape("N", 128), y.shape());
    assertNull(r.constantOf(target), "the batch element is symbolic");
    assertArrayEquals(new long[] {-1}, r.constantOf(minusOne));
  }

  @Test
  void staticChainIsFullyConstant() {
    Model m = model(13);
    Value x = input(m, "x", 2, 8, 4, 4);
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value batch = op(m, "Gather", "batch", List.of(shp, scalar(m, "zero", 0)));
    Value unsq = op(m, "Unsqueeze", "unsq", List.of(batch, ints(m, "axes", 0)));
    Value target = op(m, "Concat", "target", List.of(unsq, ints(m, "minusOne", -1)), attr("axis", 0));
    Value y = op(m, "Reshape", "y", List.of(x, target));
    ShapeReport r = inferAndCheck(m);
    assertArrayEquals(new long[] {2, 8, 4, 4}, r.constantOf(shp));
    assertArrayEquals(new long[] {2}, r.constantOf(batch));
    assertArrayEquals(new long[] {2, -1}, r.constantOf(target));
    assertEquals(shape(2, 128), y.shape());
  }

  @Test
  void channelShuffleChainWithDivCastAndSliceOfShape() {
    Model m = model(13);
    Value x = input(m, "x", "N", 8, 3, 3);
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value n = op(m, "Unsqueeze", "n", List.of(op(m, "Gather", "g0", List.of(shp, scalar(m, "i0", 0))),
        ints(m, "ax0", 0)));
    Value channels = op(m, "Gather", "channels", List.of(shp, scalar(m, "i1", 1)));
    Value half = op(m, "Div", "half", List.of(channels, scalar(m, "two", 2)));
    Value half32 = op(m, "Cast", "half32", List.of(half), attr("to", DataType.INT32.code()));
    Value half64 = op(m, "Cast", "half64", List.of(half32), attr("to", DataType.INT64.code()));
    Value spatial = op(m, "Slice", "spatial", List.of(shp, ints(m, "st", 2), ints(m, "en", Long.MAX_VALUE)));
    Value target = op(m, "Concat", "target", List.of(n, ints(m, "groups", 2),
        op(m, "Unsqueeze", "c", List.of(half64, ints(m, "ax1", 0))), spatial), attr("axis", 0));
    Value grouped = op(m, "Reshape", "grouped", List.of(x, target));
    Value swapped = op(m, "Transpose", "swapped", List.of(grouped), longs("perm", 0, 2, 1, 3, 4));
    Value back = op(m, "Reshape", "back", List.of(swapped,
        op(m, "Concat", "target2", List.of(n, ints(m, "rest", -1, 3, 3)), attr("axis", 0))));
    ShapeReport r = inferAndCheck(m);
    assertArrayEquals(new long[] {4}, r.constantOf(half));
    assertArrayEquals(new long[] {4}, r.constantOf(half32));
    assertArrayEquals(new long[] {3, 3}, r.constantOf(spatial));
    assertEquals(shape("N", 2, 4, 3, 3), grouped.shape());
    assertEquals(shape("N", 4, 2, 3, 3), swapped.shape());
    assertEquals(shape("N", 8, 3, 3), back.shape());
  }

  @Test
  void mulOfSymbolicBatchGivesDerivedName() {
    Model m = model(13);
    Value x = input(m, "x", "N", 8, 3, 3);
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value nc = op(m, "Mul", "nc", List.of(op(m, "Gather", "n", List.of(shp, ints(m, "i0", 0))),
        op(m, "Gather", "c", List.of(shp, ints(m, "i1", 1)))));
    Value target = op(m, "Concat", "target", List.of(nc, ints(m, "hw", 9)), attr("axis", 0));
    Value y = op(m, "Reshape", "y", List.of(x, target));
    inferAndCheck(m);
    assertEquals(shape("N*8", 9), y.shape());
  }

  @Test
  void expandPatternEvaluatesEqualAndWhereOnShapeData() {
    // What PyTorch emits for x.expand(-1, 3, 4): -1 entries are replaced by 1 through
    // ConstantOfShape, Mul, Equal and Where before Expand.
    Model m = model(13);
    Value x = input(m, "x", "N", 1, 4);
    Value target = ints(m, "target", -1, 3, 4);
    Value ones = op(m, "ConstantOfShape", "ones", List.of(ints(m, "len", 3)),
        Attribute.of("value", Tensor.ofLongs(new long[] {1}, new long[] {1})));
    Value minusOnes = op(m, "Mul", "minusOnes", List.of(ones, scalar(m, "neg", -1)));
    Value isMinusOne = op(m, "Equal", "isMinusOne", List.of(target, minusOnes));
    Value fixed = op(m, "Where", "fixed", List.of(isMinusOne, ones, target));
    Value y = op(m, "Expand", "y", List.of(x, fixed));
    ShapeReport r = inferAndCheck(m);
    assertArrayEquals(new long[] {-1, -1, -1}, r.constantOf(minusOnes));
    assertArrayEquals(new long[] {1, 0, 0}, r.constantOf(isMinusOne));
    assertArrayEquals(new long[] {1, 3, 4}, r.constantOf(fixed));
    assertEquals(shape("N", 3, 4), y.shape());
  }

  @Test
  void shapeStartAndEndFromOpset15() {
    Model m = model(15);
    Value x = input(m, "x", "N", 3, 4, 5);
    Value middle = op(m, "Shape", "middle", List.of(x), attr("start", 1), attr("end", -1));
    Value tail = op(m, "Shape", "tail", List.of(x), attr("start", -1));
    ShapeReport r = inferAndCheck(m);
    assertEquals(shape(2), middle.shape());
    assertArrayEquals(new long[] {3, 4}, r.constantOf(middle));
    assertArrayEquals(new long[] {5}, r.constantOf(tail));
  }

  @Test
  void constantFormsAndConstantOfShape() {
    Model m = model(13);
    Value dims = op(m, "Constant", "dims", List.of(), Attribute.of("value_ints", new long[] {2, 3}));
    Value f = op(m, "Constant", "f", List.of(), Attribute.of("value_float", 0.5f));
    Value t = op(m, "Constant", "t", List.of(), Attribute.of("value",
        Tensor.ofFloats(new long[] {2, 2}, new float[] {1, 2, 3, 4})));
    Value zeros = op(m, "ConstantOfShape", "zeros", List.of(dims));
    Value fives = op(m, "ConstantOfShape", "fives", List.of(dims),
        Attribute.of("value", Tensor.ofLongs(new long[] {1}, new long[] {5})));
    Value size = op(m, "Size", "size", List.of(t));
    ShapeReport r = inferAndCheck(m);
    assertEquals(shape(2), dims.shape());
    assertEquals(shape(), f.shape());
    assertEquals(shape(2, 2), t.shape());
    assertEquals(shape(2, 3), zeros.shape());
    assertEquals(DataType.FLOAT, zeros.tensorType().elemType());
    assertEquals(DataType.INT64, fives.tensorType().elemType());
    assertArrayEquals(new long[] {5, 5, 5, 5, 5, 5}, r.constantOf(fives));
    assertArrayEquals(new long[] {4}, r.constantOf(size));
  }

  @Test
  void gatherAndRange() {
    Model m = model(13);
    Value x = input(m, "x", "N", 5, 6);
    Value picked = op(m, "Gather", "picked", List.of(x, ints(m, "idx", 0, 2, 4)), attr("axis", 1));
    Value one = op(m, "Gather", "one", List.of(x, scalar(m, "last", -1)), attr("axis", 2));
    Value range = op(m, "Range", "range", List.of(scalar(m, "start", 0), scalar(m, "limit", 10),
        scalar(m, "delta", 3)));
    ShapeReport r = inferAndCheck(m);
    assertEquals(shape("N", 3, 6), picked.shape());
    assertEquals(shape("N", 5), one.shape());
    assertEquals(shape(4), range.shape());
    assertArrayEquals(new long[] {0, 3, 6, 9}, r.constantOf(range));
  }

  /**
   * ViT's class token expanded to the batch: {@code Expand(token, Where(Equal(t, -1 * ones), ones,
   * t))} with {@code t = [N, -1, -1]}; a symbolic size is never -1, so the target is {@code [N, 1,
   * 1]} and the token {@code [N, 1, D]}.
   */
  @Test
  void classTokenExpandedToTheSymbolicBatch() {
    Model m = model(13);
    Value x = input(m, "x", "N", 4, 8);
    Value token = m.graph().addInitializer("token", Tensor.ofFloats(new long[] {1, 1, 8}, new float[8]));
    Value batch = op(m, "Gather", "batch", List.of(op(m, "Shape", "shp", List.of(x)), scalar(m, "zero", 0)));
    Value t = op(m, "Concat", "t", List.of(op(m, "Unsqueeze", "b", List.of(batch, ints(m, "axes", 0))),
        ints(m, "m1", -1), ints(m, "m2", -1)), attr("axis", 0));
    Value ones = op(m, "ConstantOfShape", "ones", List.of(op(m, "Shape", "tshape", List.of(t))),
        Attribute.of("value", Tensor.ofLongs(new long[] {1}, new long[] {1})));
    Value minus = op(m, "Mul", "minus", List.of(ones, scalar(m, "neg", -1)));
    Value eq = op(m, "Equal", "eq", List.of(t, minus));
    Value target = op(m, "Where", "target", List.of(eq, ones, t));
    Value expanded = op(m, "Expand", "expanded", List.of(token, target));
    Value cat = op(m, "Concat", "cat", List.of(expanded, x), attr("axis", 1));
    ShapeReport r = inferAndCheck(m);
    assertArrayEquals(new long[] {0, 1, 1}, r.constantOf(eq));
    assertEquals(shape("N", 1, 8), expanded.shape());
    assertEquals(shape("N", 5, 8), cat.shape());
  }

  /**
   * Swin's window padding: pads {@code (7 - W % 7) % 7} computed from the static part of a
   * symbolic-batch shape, reversed and transposed as a {@code [rank, 2]} matrix the way the
   * exporter turns F.pad's list into ONNX's order, are known; so is the padded shape.
   */
  @Test
  void runTimePadsOfStaticSizesAreKnown() {
    Model m = model(13);
    Value x = input(m, "x", "N", 10, 12, 3);
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value w = op(m, "Gather", "w", List.of(shp, scalar(m, "two", 2)));
    Value mod = op(m, "Mod", "mod", List.of(w, scalar(m, "seven", 7)));
    Value rest = op(m, "Sub", "rest", List.of(scalar(m, "seven2", 7), mod));
    Value padW = op(m, "Unsqueeze", "padW", List.of(op(m, "Mod", "mod2", List.of(rest, scalar(m, "seven3", 7))),
        ints(m, "axes", 0)));
    // F.pad order (last axis first): [0, 0, 0, padW, 0, 0, 0, 0]
    Value list = op(m, "Concat", "list", List.of(ints(m, "z2", 0, 0, 0), padW, ints(m, "z4", 0, 0, 0, 0)),
        attr("axis", 0));
    Value pairs = op(m, "Reshape", "pairs", List.of(list, ints(m, "pairShape", -1, 2)));
    Value reversed = op(m, "Slice", "reversed", List.of(pairs, ints(m, "s", -1), ints(m, "e", Long.MIN_VALUE + 1),
        ints(m, "a", 0), ints(m, "st", -1)));
    Value byAxis = op(m, "Transpose", "byAxis", List.of(reversed), longs("perm", 1, 0));
    Value pads = op(m, "Reshape", "pads", List.of(byAxis, ints(m, "flat", -1)));
    Value padded = op(m, "Pad", "padded", List.of(x, pads));
    ShapeReport r = inferAndCheck(m);
    assertArrayEquals(new long[] {5}, r.constantOf(mod));
    assertArrayEquals(new long[] {0, 0, 0, 0, 0, 0, 2, 0}, r.constantOf(pads));
    assertEquals(shape("N", 10, 14, 3), padded.shape());
  }
}
