package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OrtTensorsTest {
  private static final long[] SHAPE = {2, 3};

  /** x + x for FLOAT, DOUBLE, INT64 and INT32; Not for BOOL; Identity for UINT8 and INT8. */
  private static Model arithmetic() {
    Graph g = new Graph("types");
    for (DataType t : List.of(DataType.FLOAT, DataType.DOUBLE, DataType.INT64, DataType.INT32, DataType.BOOL,
        DataType.UINT8, DataType.INT8)) {
      String name = t.name().toLowerCase();
      Value x = g.addInput(name, new ValueType.TensorType(t, Shape.of(SHAPE)));
      Value y = switch (t) {
        case BOOL -> g.addNode("Not", name + "_op", List.of(x), List.of(name + "_out")).output(0);
        case UINT8, INT8 -> g.addNode("Identity", name + "_op", List.of(x), List.of(name + "_out")).output(0);
        default -> g.addNode("Add", name + "_op", List.of(x, x), List.of(name + "_out")).output(0);
      };
      y.setType(new ValueType.TensorType(t, Shape.of(SHAPE)));
      g.addOutput(y);
    }
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  @Test
  void everyElementTypeReachesOrtInNativeOrderAndComesBack() throws Exception {
    Map<String, HostTensor> feeds = Map.of(
        "float", HostTensor.floats(new float[] {1.5f, -2, 3, 1e-3f, 7, -0.25f}, SHAPE),
        "double", HostTensor.doubles(new double[] {1e300, -2, 3, 4, 5, 6}, SHAPE),
        "int64", HostTensor.longs(new long[] {1L << 40, -2, 3, 4, 5, 99}, SHAPE),
        "int32", HostTensor.ints(new int[] {1 << 20, -2, 3, 4, 5, 6}, SHAPE),
        "bool", HostTensor.bools(new boolean[] {true, false, true, true, false, false}, SHAPE),
        "uint8", HostTensor.bytes(DataType.UINT8, new byte[] {0, 1, (byte) 200, 3, 4, (byte) 255}, SHAPE),
        "int8", HostTensor.bytes(DataType.INT8, new byte[] {0, -1, -128, 3, 4, 127}, SHAPE));
    try (OrtSession s = Sessions.cpu().open(arithmetic())) {
      Map<String, HostTensor> out = OrtTensors.run(s, feeds, Set.of());
      assertArrayEquals(new float[] {3, -4, 6, 2e-3f, 14, -0.5f}, out.get("float_out").floats());
      assertEquals(2e300, out.get("double_out").get(0));
      assertArrayEquals(new long[] {1L << 41, -4, 6, 8, 10, 198}, out.get("int64_out").longs());
      assertArrayEquals(new int[] {1 << 21, -4, 6, 8, 10, 12}, (int[]) out.get("int32_out").data());
      assertArrayEquals(new boolean[] {false, true, false, false, true, true}, (boolean[]) out.get("bool_out").data());
      assertEquals(200, out.get("uint8_out").get(2));
      assertEquals(DataType.UINT8, out.get("uint8_out").type());
      assertEquals(-128, out.get("int8_out").get(2));
      for (HostTensor t : out.values()) {
        assertArrayEquals(SHAPE, t.shape());
      }
    }
  }

  @Test
  void initializerDataIsFedFromItsLittleEndianBytes() throws Exception {
    Tensor w = Tensor.ofFloats(SHAPE, new float[] {1, 2, 3, 4, 5, 6});
    try (OnnxTensor t = OrtTensors.create(w)) {
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, OrtTensors.floats(t));
      assertArrayEquals(SHAPE, t.getInfo().getShape());
    }
    Tensor ids = Tensor.ofLongs(new long[] {3}, new long[] {7, -1, 1L << 33});
    try (OnnxTensor t = OrtTensors.create(ids)) {
      assertArrayEquals(new long[] {7, -1, 1L << 33}, OrtTensors.read(t).longs());
    }
  }

  @Test
  void wrapRefusesBuffersOrtWouldMisread() throws Exception {
    FloatBuffer heap = FloatBuffer.wrap(new float[6]);
    FloatBuffer bigEndian = ByteBuffer.allocateDirect(24).order(ByteOrder.BIG_ENDIAN).asFloatBuffer();
    String nativeOrder = ByteOrder.nativeOrder().toString();
    IllegalArgumentException e1 = assertThrows(IllegalArgumentException.class, () -> OrtTensors.wrap(heap, SHAPE));
    assertEquals("ONNX Runtime reads a tensor's buffer in place: it must be direct and in native byte order ("
        + nativeOrder + "), not a heap buffer", e1.getMessage());
    if (ByteOrder.nativeOrder() != ByteOrder.BIG_ENDIAN) {
      IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
          () -> OrtTensors.wrap(bigEndian, SHAPE));
      assertTrue(e2.getMessage().endsWith("not BIG_ENDIAN"), e2.getMessage());
    }
    FloatBuffer ok = OrtTensors.floatBuffer(6).put(new float[] {1, 2, 3, 4, 5, 6}).flip();
    try (OnnxTensor t = OrtTensors.wrap(ok, SHAPE)) {
      ok.put(0, 9f); // read in place: the tensor sees the change
      assertEquals(9f, OrtTensors.floats(t)[0]);
    }
    assertEquals("shape [2, 3] holds 6 values, the buffer has 5", assertThrows(IllegalArgumentException.class,
        () -> OrtTensors.wrap(OrtTensors.floatBuffer(5), SHAPE)).getMessage());
  }

  @Test
  void slotReusesItsTensorForTheSameShapeAndConvertsToItsType() throws Exception {
    try (OrtTensors.Slot slot = new OrtTensors.Slot(DataType.INT32)) {
      OnnxTensor a = slot.fill(HostTensor.longs(new long[] {1, 2, 3, 4, 5, 6}, SHAPE));
      assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6}, (int[]) OrtTensors.read(a).data());
      OnnxTensor b = slot.fill(HostTensor.longs(new long[] {6, 5, 4, 3, 2, 1}, SHAPE));
      assertSame(a, b);
      assertArrayEquals(new int[] {6, 5, 4, 3, 2, 1}, (int[]) OrtTensors.read(b).data());
      OnnxTensor c = slot.fill(HostTensor.longs(new long[] {7, 8}, 1, 2));
      assertNotSame(a, c);
      assertArrayEquals(new long[] {1, 2}, c.getInfo().getShape());
      assertArrayEquals(new int[] {7, 8}, (int[]) OrtTensors.read(c).data());
    }
    try (OrtTensors.Slot mask = new OrtTensors.Slot(DataType.BOOL)) {
      OnnxTensor m = mask.fill(HostTensor.longs(new long[] {0, 1, 5}, 3));
      assertArrayEquals(new boolean[] {false, true, true}, (boolean[]) OrtTensors.read(m).data());
    }
  }

  @Test
  void hostTensorsCheckTheirShapeAndConvert() {
    assertEquals("shape [2, 3] holds 6 values, the array has 5", assertThrows(IllegalArgumentException.class,
        () -> HostTensor.floats(new float[5], SHAPE)).getMessage());
    assertEquals("INT64 values must be a long[], not float[]", assertThrows(IllegalArgumentException.class,
        () -> new HostTensor(DataType.INT64, new float[6], SHAPE)).getMessage());
    HostTensor ids = HostTensor.longs(new long[] {1, 2, 3, 4, 5, 6}, SHAPE);
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, ids.as(DataType.FLOAT).floats());
    assertSame(ids, ids.as(DataType.INT64));
    assertArrayEquals(new long[] {4, 5, 6}, ids.rows(1, 2).longs());
    assertArrayEquals(new long[] {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, ids.repeat(2).longs());
    assertArrayEquals(new long[] {4, 3}, ids.repeat(2).shape());
  }
}
