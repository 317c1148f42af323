package dev.onnxprune.graph.shape;

import static dev.onnxprune.graph.shape.OrtCheck.inferAndCheck;
import static dev.onnxprune.graph.shape.TestGraphs.attr;
import static dev.onnxprune.graph.shape.TestGraphs.floats;
import static dev.onnxprune.graph.shape.TestGraphs.input;
import static dev.onnxprune.graph.shape.TestGraphs.ints;
import static dev.onnxprune.graph.shape.TestGraphs.longs;
import static dev.onnxprune.graph.shape.TestGraphs.model;
import static dev.onnxprune.graph.shape.TestGraphs.node;
import static dev.onnxprune.graph.shape.TestGraphs.op;
import static dev.onnxprune.graph.shape.TestGraphs.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Pad, Resize, Expand, Tile. */
class LayoutRulesTest {

  @Test
  void flattenMultipliesSymbolicBatchIntoDerivedName() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 4, 5);
    Value a1 = op(m, "Flatten", "a1", List.of(x));
    Value a0 = op(m, "Flatten", "a0", List.of(x), attr("axis", 0));
    Value neg = op(m, "Flatten", "neg", List.of(x), attr("axis", -2));
    Value all = op(m, "Flatten", "all", List.of(x), attr("axis", 4));
    inferAndCheck(m);
    assertEquals(shape("N", 60), a1.shape());
    assertEquals(shape(1, "N*60"), a0.shape());
    assertEquals(shape("N*3", 20), neg.shape());
    assertEquals(shape("N*60", 1), all.shape());
  }

  @Test
  void reshapeCopiesZerosAndSolvesMinusOneSymbolically() {
    Model m = model(13);
    Value x = input(m, "x", "N", 6, 4);
    Value y = input(m, "y", 2, 3, 4);
    Value keepBatch = op(m, "Reshape", "keepBatch", List.of(x, ints(m, "s1", 0, -1)));
    Value copyMiddle = op(m, "Reshape", "copyMiddle", List.of(y, ints(m, "s2", 4, 0, -1)));
    Value batchFromMinusOne = op(m, "Reshape", "batchFromMinusOne", List.of(x, ints(m, "s3", -1, 3, 8)));
    Value flat = op(m, "Reshape", "flat", List.of(x, ints(m, "s4", -1)));
    Value back = op(m, "Reshape", "back", List.of(flat, ints(m, "s5", -1, 24)));
    inferAndCheck(m);
    assertEquals(shape("N", 24), keepBatch.shape());
    assertEquals(shape(4, 3, 2), copyMiddle.shape());
    assertEquals(shape("N", 3, 8), batchFromMinusOne.shape());
    assertEquals(shape("N*24"), flat.shape());
    assertEquals(shape("N", 24), back.shape());
  }

  @Test
  void reshapeAllowZeroKeepsLiteralZeroFromOpset14() {
    Model m = model(14);
    Value x = input(m, "x", 2, 0);
    Value y = op(m, "Reshape", "y", List.of(x, ints(m, "s", 0, 5)), attr("allowzero", 1));
    inferAndCheck(m);
    assertEquals(shape(0, 5), y.shape());
  }

  @Test
  void reshapeToIncompatibleSizeIsReportedUnknown() {
    Model m = model(13);
    Value x = input(m, "x", 2, 6);
    op(m, "Reshape", "y", List.of(x, ints(m, "s", 5, -1)));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(1, r.unknown().size());
    assertEquals("cannot reshape [2, 6] (12 elements) to [5, -1]: 12 is not a multiple of 5", r.unknown().get(0).reason());
  }

  @Test
  void transposeWithPermAndDefaultReversal() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 4, 5);
    Value nhwc = op(m, "Transpose", "nhwc", List.of(x), longs("perm", 0, 2, 3, 1));
    Value reversed = op(m, "Transpose", "reversed", List.of(x));
    inferAndCheck(m);
    assertEquals(shape("N", 4, 5, 3), nhwc.shape());
    assertEquals(shape(5, 4, 3, "N"), reversed.shape());
  }

  @Test
  void concatAddsSizesAlongAxisIncludingSymbolic() {
    Model m = model(13);
    Value a = input(m, "a", "N", 3, 4);
    Value b = input(m, "b", "N", 5, 4);
    Value channels = op(m, "Concat", "channels", List.of(a, b, a), attr("axis", 1));
    Value batch = op(m, "Concat", "batch", List.of(a, a), attr("axis", 0));
    Value last = op(m, "Concat", "last", List.of(a, a), attr("axis", -1));
    inferAndCheck(m);
    assertEquals(shape("N", 11, 4), channels.shape());
    assertEquals(shape("N*2", 3, 4), batch.shape());
    assertEquals(shape("N", 3, 8), last.shape());
  }

  @Test
  void splitAttributeFormBeforeOpset13() {
    Model m = model(11);
    Value x = input(m, "x", "N", 6, 3);
    Node sized = node(m, "Split", List.of(x), List.of("s0", "s1"), attr("axis", 1), longs("split", 2, 4));
    Node equal = node(m, "Split", List.of(x), List.of("e0", "e1", "e2"), attr("axis", 1));
    inferAndCheck(m);
    assertEquals(shape("N", 2, 3), sized.output(0).shape());
    assertEquals(shape("N", 4, 3), sized.output(1).shape());
    for (Value v : equal.outputs()) {
      assertEquals(shape("N", 2, 3), v.shape());
    }
  }

  @Test
  void splitInputFormFromOpset13() {
    Model m = model(13);
    Value x = input(m, "x", "N", 6, 3);
    Node sized = node(m, "Split", List.of(x, ints(m, "split", 1, 5)), List.of("s0", "s1"), attr("axis", -2));
    inferAndCheck(m);
    assertEquals(shape("N", 1, 3), sized.output(0).shape());
    assertEquals(shape("N", 5, 3), sized.output(1).shape());
  }

  @Test
  void splitNumOutputsFromOpset18MakesTheLastPartSmaller() {
    Model m = model(18);
    Value x = input(m, "x", "N", 7, 3);
    Node parts = node(m, "Split", List.of(x), List.of("p0", "p1", "p2"), attr("axis", 1), attr("num_outputs", 3));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 3), parts.output(0).shape());
    assertEquals(shape("N", 3, 3), parts.output(1).shape());
    assertEquals(shape("N", 1, 3), parts.output(2).shape());
  }

  @Test
  void sliceClampsNegativeAndHugeBoundsAndHonoursSteps() {
    Model m = model(13);
    Value x = input(m, "x", 10, 20);
    Value tail = op(m, "Slice", "tail", List.of(x, ints(m, "st1", -3), ints(m, "en1", Long.MAX_VALUE), ints(m, "ax1", 0)));
    Value reversed = op(m, "Slice", "reversed", List.of(x, ints(m, "st2", -1), ints(m, "en2", Long.MIN_VALUE),
        ints(m, "ax2", 0), ints(m, "sp2", -1)));
    Value strided = op(m, "Slice", "strided", List.of(x, ints(m, "st3", 1), ints(m, "en3", 20), ints(m, "ax3", 1),
        ints(m, "sp3", 3)));
    Value backwards = op(m, "Slice", "backwards", List.of(x, ints(m, "st4", 15), ints(m, "en4", 2), ints(m, "ax4", -1),
        ints(m, "sp4", -2)));
    Value empty = op(m, "Slice", "empty", List.of(x, ints(m, "st5", 0, 5), ints(m, "en5", 100, -100)));
    inferAndCheck(m);
    assertEquals(shape(3, 20), tail.shape());
    assertEquals(shape(10, 20), reversed.shape());
    assertEquals(shape(10, 7), strided.shape()); // ceil(19 / 3)
    assertEquals(shape(10, 7), backwards.shape()); // ceil(13 / 2)
    assertEquals(shape(10, 0), empty.shape());
  }

  @Test
  void sliceKeepsSymbolicDimOnlyWhenTakingAllOfIt() {
    Model m = model(13);
    Value x = input(m, "x", "N", 6);
    Value whole = op(m, "Slice", "whole", List.of(x, ints(m, "s", 0), ints(m, "e", Long.MAX_VALUE), ints(m, "a", 0)));
    Value inner = op(m, "Slice", "inner", List.of(x, ints(m, "s2", 1), ints(m, "e2", 4), ints(m, "a2", 1)));
    Value part = op(m, "Slice", "part", List.of(x, ints(m, "s3", 1), ints(m, "e3", 4), ints(m, "a3", 0)));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(shape("N", 6), whole.shape());
    assertEquals(shape("N", 3), inner.shape());
    assertEquals(shape("?", 6), part.shape());
    assertEquals(List.of(part.producer()), r.unknown().stream().map(ShapeReport.Unknown::node).toList());
  }

  @Test
  void runTimeBoundsKeepTheRank() {
    // a position table sliced to the sequence length, positions from Range(0, seq), and an image
    // padded and resized by amounts computed from its own size: ranks stay, sizes are symbolic or unknown
    Model m = model(13);
    Value ids = m.graph().addInput("ids", new dev.onnxprune.graph.ValueType.TensorType(dev.onnxprune.graph.DataType.INT64,
        shape("N", "seq")));
    Value table = TestGraphs.weight(m, "table", 1, 16);
    Value seq = op(m, "Gather", "seq", List.of(op(m, "Shape", "ids_shape", List.of(ids)), TestGraphs.scalar(m, "one", 1)));
    Value end = op(m, "Unsqueeze", "end", List.of(seq, ints(m, "ax0", 0)));
    Value prefix = op(m, "Slice", "prefix", List.of(table, ints(m, "st", 0), end, ints(m, "ax1", 1)));
    Value positions = op(m, "Range", "positions", List.of(TestGraphs.scalar(m, "zero", 0), seq,
        TestGraphs.scalar(m, "step", 1)));
    Value image = input(m, "image", 1, 3, "h", "w");
    Value hw = op(m, "Slice", "hw", List.of(op(m, "Shape", "image_shape", List.of(image)), ints(m, "st2", 2),
        ints(m, "en2", 4)));
    Value pads = op(m, "Concat", "pads", List.of(ints(m, "zeros", 0, 0, 0, 0, 0, 0), hw), attr("axis", 0));
    Value padded = op(m, "Pad", "padded", List.of(image, pads));
    Value scales = op(m, "Cast", "scales", List.of(op(m, "Concat", "ones_hw", List.of(ints(m, "ones", 1, 1), hw),
        attr("axis", 0))), attr("to", (long) dev.onnxprune.graph.DataType.FLOAT.code()));
    Value resized = op(m, "Resize", "resized", List.of(padded, TestGraphs.floats(m, "roi"), scales));
    ShapeInference.infer(m);
    assertEquals(shape(1, "seq"), prefix.shape());
    assertEquals(shape("seq"), positions.shape());
    assertEquals(shape(1, 3, "?", "?"), padded.shape());
    assertEquals(shape("?", "?", "?", "?"), resized.shape());
  }

  @Test
  void sliceAttributeFormBeforeOpset10() {
    Model m = model(9);
    Value x = input(m, "x", 10, 20);
    Value y = op(m, "Slice", "y", List.of(x), longs("starts", 2), longs("ends", -2), longs("axes", 1));
    inferAndCheck(m);
    assertEquals(shape(10, 16), y.shape());
  }

  @Test
  void squeezeAndUnsqueezeAttributeFormBeforeOpset13() {
    Model m = model(11);
    Value x = input(m, "x", "N", 1, 4, 1);
    Value y = input(m, "y", 3, 4);
    Value squeezed = op(m, "Squeeze", "squeezed", List.of(x), longs("axes", 1, -1));
    Value unsqueezed = op(m, "Unsqueeze", "unsqueezed", List.of(y), longs("axes", 0, -1));
    inferAndCheck(m);
    assertEquals(shape("N", 4), squeezed.shape());
    assertEquals(shape(1, 3, 4, 1), unsqueezed.shape());
  }

  @Test
  void squeezeAndUnsqueezeInputFormFromOpset13() {
    Model m = model(13);
    Value x = input(m, "x", "N", 1, 4, 1);
    Value z = input(m, "z", 2, 1, 4, 1);
    Value y = input(m, "y", 3, 4);
    Value one = op(m, "Squeeze", "one", List.of(x, ints(m, "a1", 1)));
    Value allOnes = op(m, "Squeeze", "allOnes", List.of(z));
    Value unsqueezed = op(m, "Unsqueeze", "unsqueezed", List.of(y, ints(m, "a2", 1)));
    inferAndCheck(m);
    assertEquals(shape("N", 4, 1), one.shape());
    assertEquals(shape(2, 4), allOnes.shape());
    assertEquals(shape(3, 1, 4), unsqueezed.shape());
  }

  @Test
  void squeezeWithoutAxesOnSymbolicDimIsReportedUnknown() {
    Model m = model(13);
    Value x = input(m, "x", "N", 1, 4);
    op(m, "Squeeze", "y", List.of(x));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals("no axes given and dim 0 of [N, 1, 4] is not known, so it may or may not be 1",
        r.unknown().get(0).reason());
  }

  @Test
  void padGrowsAndCropsAxesInAllThreeForms() {
    Model m11 = model(11);
    Value x = input(m11, "x", "N", 2, 5, 5);
    Value grown = op(m11, "Pad", "grown", List.of(x, ints(m11, "p", 0, 0, 1, 2, 0, 0, 3, 4)));
    Value cropped = op(m11, "Pad", "cropped", List.of(x, ints(m11, "c", 0, 0, -1, 0, 0, 0, 0, -2)));
    inferAndCheck(m11);
    assertEquals(shape("N", 2, 9, 11), grown.shape());
    assertEquals(shape("N", 2, 4, 3), cropped.shape());

    Model m18 = model(18);
    Value x18 = input(m18, "x", "N", 2, 5, 5);
    Value axes = op(m18, "Pad", "axes", Arrays.asList(x18, ints(m18, "p", 1, 2), null, ints(m18, "a", -1)));
    inferAndCheck(m18);
    assertEquals(shape("N", 2, 5, 8), axes.shape());

    Model m10 = model(10);
    Value x10 = input(m10, "x", "N", 2, 5, 5);
    Value attr = op(m10, "Pad", "attr", List.of(x10), longs("pads", 0, 0, 1, 1, 0, 0, 1, 1));
    inferAndCheck(m10);
    assertEquals(shape("N", 2, 7, 7), attr.shape());
  }

  @Test
  void resizeByScalesFloorsAndBySizesTakesThem() {
    Model m = model(13);
    Value x = input(m, "x", "N", 3, 5, 7);
    Value doubled = op(m, "Resize", "doubled", Arrays.asList(x, null, floats(m, "s2", 1, 1, 2, 2)));
    Value half = op(m, "Resize", "half", Arrays.asList(x, null, floats(m, "s15", 1, 1, 1.5f, 1.5f)));
    Value shp = op(m, "Shape", "shp", List.of(x));
    Value nc = op(m, "Slice", "nc", List.of(shp, ints(m, "st", 0), ints(m, "en", 2)));
    Value sizes = op(m, "Concat", "sizes", List.of(nc, ints(m, "hw", 8, 9)), attr("axis", 0));
    Value sized = op(m, "Resize", "sized", Arrays.asList(x, null, null, sizes));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 10, 14), doubled.shape());
    assertEquals(shape("N", 3, 7, 10), half.shape()); // floor(7.5), floor(10.5)
    assertEquals(shape("N", 3, 8, 9), sized.shape());
  }

  @Test
  void resizeKeepAspectRatioPoliciesOnAxesFromOpset18() {
    Model m = model(18);
    Value x = input(m, "x", "N", 3, 10, 20);
    Value notLarger = op(m, "Resize", "notLarger", Arrays.asList(x, null, null, ints(m, "s1", 5, 5)),
        longs("axes", 2, 3), attr("keep_aspect_ratio_policy", "not_larger"));
    Value notSmaller = op(m, "Resize", "notSmaller", Arrays.asList(x, null, null, ints(m, "s2", 5, 5)),
        longs("axes", 2, 3), attr("keep_aspect_ratio_policy", "not_smaller"));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 3, 5), notLarger.shape()); // scale 0.25: round(2.5) = 3
    assertEquals(shape("N", 3, 5, 10), notSmaller.shape());
  }

  @Test
  void expandBroadcastsAndTileRepeats() {
    Model m = model(13);
    Value x = input(m, "x", "N", 1, 4);
    Value expanded = op(m, "Expand", "expanded", List.of(x, ints(m, "s", 1, 3, 1)));
    Value tiled = op(m, "Tile", "tiled", List.of(x, ints(m, "r", 1, 2, 3)));
    inferAndCheck(m);
    assertEquals(shape("N", 3, 4), expanded.shape());
    assertEquals(shape("N", 2, 12), tiled.shape());
  }

  @Test
  void reshapeWithUnknownTargetStillKnowsTheRank() {
    Model m = model(13);
    Value x = input(m, "x", 2, 6);
    Value target = m.graph().addInput("target", new dev.onnxprune.graph.ValueType.TensorType(
        dev.onnxprune.graph.DataType.INT64, shape(3)));
    Value y = op(m, "Reshape", "y", List.of(x, target));
    ShapeReport r = ShapeInference.infer(m);
    assertEquals(shape("?", "?", "?"), y.shape());
    assertTrue(r.unknown().get(0).reason().startsWith("output 'y' is FLOAT[?, ?, ?]"), r.unknown().toString());
    assertNull(r.constantOf(y));
  }
}
