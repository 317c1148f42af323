package dev.onnxprune.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The one place that moves tensors in and out of ONNX Runtime: host arrays ({@link HostTensor})
 * of FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8 and INT8 become tensors over direct buffers in
 * native byte order, and outputs come back as host arrays.
 *
 * <p>ONNX Runtime reads a direct buffer in place, without copying, and takes its bytes in the
 * machine's order: a direct buffer left big-endian (Java's default) is read as garbage with no
 * error. Every buffer made here is in native order, and {@link #wrap} refuses one that is not.
 * A tensor over a buffer is valid only while the buffer is; closing the tensor frees ONNX
 * Runtime's side of it.
 */
public final class OrtTensors {
  private OrtTensors() {}

  /** A direct buffer of {@code bytes} bytes in native order. */
  public static ByteBuffer buffer(long bytes) {
    return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.nativeOrder());
  }

  /** A direct buffer of {@code n} floats in native order. */
  public static FloatBuffer floatBuffer(int n) {
    return buffer(Math.multiplyExact((long) n, Float.BYTES)).asFloatBuffer();
  }

  /** A direct buffer of {@code n} longs in native order. */
  public static LongBuffer longBuffer(int n) {
    return buffer(Math.multiplyExact((long) n, Long.BYTES)).asLongBuffer();
  }

  /**
   * A FLOAT tensor over {@code buffer}'s remaining values, without copying: it reads what the
   * buffer holds when a session runs, and must not outlive the buffer.
   *
   * @throws IllegalArgumentException when the buffer is not direct in native order, or its
   *     remaining values are not what {@code shape} holds
   */
  public static OnnxTensor wrap(FloatBuffer buffer, long[] shape) throws OrtException {
    check(buffer.isDirect(), buffer.order(), buffer.remaining(), shape);
    return OnnxTensor.createTensor(Sessions.environment(), buffer, shape.clone());
  }

  /** An INT64 tensor over {@code buffer}'s remaining values, without copying; as {@link #wrap(FloatBuffer, long[])}. */
  public static OnnxTensor wrap(LongBuffer buffer, long[] shape) throws OrtException {
    check(buffer.isDirect(), buffer.order(), buffer.remaining(), shape);
    return OnnxTensor.createTensor(Sessions.environment(), buffer, shape.clone());
  }

  private static void check(boolean direct, ByteOrder order, int remaining, long[] shape) {
    if (!direct || order != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("ONNX Runtime reads a tensor's buffer in place: it must be direct and in"
          + " native byte order (" + ByteOrder.nativeOrder() + "), not " + (direct ? order : "a heap buffer"));
    }
    if (HostTensor.count(shape) != remaining) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + HostTensor.count(shape)
          + " values, the buffer has " + remaining);
    }
  }

  /** A tensor holding a copy of {@code t}'s values. */
  public static OnnxTensor create(HostTensor t) throws OrtException {
    Slot slot = new Slot(t.type());
    slot.fill(t);
    // the tensor owns nothing but the slot's buffer, which it keeps reachable
    return slot.tensor;
  }

  /** A FLOAT tensor holding a copy of {@code values}. */
  public static OnnxTensor create(float[] values, long... shape) throws OrtException {
    return create(HostTensor.floats(values, shape));
  }

  /** An INT64 tensor holding a copy of {@code values}. */
  public static OnnxTensor create(long[] values, long... shape) throws OrtException {
    return create(HostTensor.longs(values, shape));
  }

  /**
   * A tensor holding a copy of the initializer data {@code t} (FLOAT, DOUBLE, INT64, INT32,
   * BOOL, UINT8 or INT8), straight from its little-endian bytes.
   */
  public static OnnxTensor create(Tensor t) throws OrtException {
    DataType type = t.dataType();
    if (!HostTensor.supports(type)) {
      throw new IllegalArgumentException("a tensor of " + type + " cannot be fed to ONNX Runtime here");
    }
    ByteBuffer src = t.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer b = buffer(t.byteSize());
    switch (type) {
      case FLOAT -> b.asFloatBuffer().put(src.asFloatBuffer());
      case DOUBLE -> b.asDoubleBuffer().put(src.asDoubleBuffer());
      case INT64 -> b.asLongBuffer().put(src.asLongBuffer());
      case INT32 -> b.asIntBuffer().put(src.asIntBuffer());
      default -> b.put(src).flip();
    }
    return OnnxTensor.createTensor(Sessions.environment(), b, t.dims(), javaType(type));
  }

  /** A FLOAT scalar tensor. */
  public static OnnxTensor scalar(float v) throws OrtException {
    return OnnxTensor.createTensor(Sessions.environment(), v);
  }

  /** An INT64 scalar tensor. */
  public static OnnxTensor scalar(long v) throws OrtException {
    return OnnxTensor.createTensor(Sessions.environment(), v);
  }

  /**
   * A copy of a tensor's values and shape.
   *
   * @throws IllegalArgumentException when {@code v} is not a tensor of a type {@link HostTensor}
   *     holds (strings, sequences, maps, FLOAT16, ...)
   */
  public static HostTensor read(OnnxValue v) {
    if (!(v instanceof OnnxTensor t)) {
      throw new IllegalArgumentException("expected a tensor, got " + v.getInfo());
    }
    long[] shape = t.getInfo().getShape();
    return switch (t.getInfo().type) {
      case FLOAT -> HostTensor.floats(floats(t), shape);
      case DOUBLE -> {
        DoubleBuffer b = t.getDoubleBuffer();
        double[] d = new double[b.remaining()];
        b.get(d);
        yield HostTensor.doubles(d, shape);
      }
      case INT64 -> {
        LongBuffer b = t.getLongBuffer();
        long[] d = new long[b.remaining()];
        b.get(d);
        yield HostTensor.longs(d, shape);
      }
      case INT32 -> {
        IntBuffer b = t.getIntBuffer();
        int[] d = new int[b.remaining()];
        b.get(d);
        yield HostTensor.ints(d, shape);
      }
      case BOOL -> {
        ByteBuffer b = t.getByteBuffer();
        boolean[] d = new boolean[b.remaining()];
        for (int i = 0; i < d.length; i++) {
          d[i] = b.get(i) != 0;
        }
        yield HostTensor.bools(d, shape);
      }
      case UINT8, INT8 -> {
        ByteBuffer b = t.getByteBuffer();
        byte[] d = new byte[b.remaining()];
        b.get(d);
        yield HostTensor.bytes(t.getInfo().type == OnnxJavaType.UINT8 ? DataType.UINT8 : DataType.INT8, d, shape);
      }
      default -> throw new IllegalArgumentException("cannot read a tensor of " + t.getInfo().type);
    };
  }

  /**
   * A copy of a FLOAT tensor's values, row-major.
   *
   * @throws IllegalArgumentException when {@code v} is not a FLOAT tensor
   */
  public static float[] floats(OnnxValue v) {
    if (!(v instanceof OnnxTensor t) || t.getInfo().type != OnnxJavaType.FLOAT) {
      throw new IllegalArgumentException("expected a FLOAT tensor, got " + v.getInfo());
    }
    FloatBuffer b = t.getFloatBuffer();
    float[] out = new float[b.remaining()];
    b.get(out);
    return out;
  }

  /** Closes every tensor (nulls skipped); ONNX Runtime's close does not fail. */
  public static void closeAll(Iterable<? extends OnnxValue> values) {
    for (OnnxValue v : values) {
      if (v != null) {
        v.close();
      }
    }
  }

  /**
   * Runs {@code session} on {@code feeds} (copied into tensors that are closed before returning)
   * and reads back the outputs named in {@code outputs} (all outputs when empty), by name in the
   * order the session gives them.
   */
  public static Map<String, HostTensor> run(OrtSession session, Map<String, HostTensor> feeds, Set<String> outputs)
      throws OrtException {
    Map<String, OnnxTensor> in = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, HostTensor> e : feeds.entrySet()) {
        in.put(e.getKey(), create(e.getValue()));
      }
      Map<String, HostTensor> out = new LinkedHashMap<>();
      try (OrtSession.Result res = outputs.isEmpty() ? session.run(in) : session.run(in, outputs)) {
        for (Map.Entry<String, OnnxValue> e : res) {
          out.put(e.getKey(), read(e.getValue()));
        }
      }
      return out;
    } finally {
      closeAll(in.values());
    }
  }

  /** ONNX Runtime's Java type for {@code type}. */
  static OnnxJavaType javaType(DataType type) {
    return switch (type) {
      case FLOAT -> OnnxJavaType.FLOAT;
      case DOUBLE -> OnnxJavaType.DOUBLE;
      case INT64 -> OnnxJavaType.INT64;
      case INT32 -> OnnxJavaType.INT32;
      case BOOL -> OnnxJavaType.BOOL;
      case UINT8 -> OnnxJavaType.UINT8;
      case INT8 -> OnnxJavaType.INT8;
      default -> throw new IllegalArgumentException("element type " + type + " is not supported");
    };
  }

  /** The element type of ONNX Runtime's tensor type {@code t}, or null when a host tensor cannot hold it. */
  public static DataType dataType(TensorInfo.OnnxTensorType t) {
    return switch (t) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> DataType.FLOAT;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE -> DataType.DOUBLE;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 -> DataType.INT64;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 -> DataType.INT32;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL -> DataType.BOOL;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 -> DataType.UINT8;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8 -> DataType.INT8;
      default -> null;
    };
  }

  /**
   * One input fed batch after batch: a direct buffer of its element type, reused across batches
   * and reallocated only when a batch is larger than any before, and the tensor over it, made
   * again only when the shape changes. Values of another type are converted while copied (a C
   * cast; BOOL is value != 0); values of the slot's own type are copied in one bulk put. Not
   * thread-safe; {@link #close()} closes the tensor.
   */
  public static final class Slot implements AutoCloseable {
    private final DataType type;
    private final int width;
    private ByteBuffer bytes;
    private OnnxTensor tensor;
    private long[] shape;

    /** A slot for inputs of element type {@code type} (one a {@link HostTensor} holds). */
    public Slot(DataType type) {
      this.type = type;
      this.width = (int) type.byteSize(1);
      javaType(type); // refuses types a host tensor cannot hold
    }

    public DataType type() {
      return type;
    }

    /**
     * Copies {@code values} into the slot and returns the tensor over them; the tensor belongs
     * to the slot (valid until the next {@code fill} with another shape, or {@link #close()}).
     */
    public OnnxTensor fill(HostTensor values) throws OrtException {
      int n = values.size();
      if (bytes == null || bytes.capacity() < (long) n * width) {
        close();
        bytes = buffer(Math.max(1L, (long) n * width));
      }
      if (tensor == null || !Arrays.equals(shape, values.shape())) {
        if (tensor != null) {
          tensor.close();
        }
        shape = values.shape().clone();
        // exactly n values: ONNX Runtime takes the whole view
        ByteBuffer view = bytes.duplicate().order(ByteOrder.nativeOrder()).position(0).limit(n * width).slice()
            .order(ByteOrder.nativeOrder());
        tensor = switch (type) {
          case FLOAT -> OnnxTensor.createTensor(Sessions.environment(), view.asFloatBuffer(), shape);
          case DOUBLE -> OnnxTensor.createTensor(Sessions.environment(), view.asDoubleBuffer(), shape);
          case INT64 -> OnnxTensor.createTensor(Sessions.environment(), view.asLongBuffer(), shape);
          case INT32 -> OnnxTensor.createTensor(Sessions.environment(), view.asIntBuffer(), shape);
          default -> OnnxTensor.createTensor(Sessions.environment(), view, shape, javaType(type));
        };
      }
      copy(values, n);
      return tensor;
    }

    private void copy(HostTensor v, int n) {
      ByteBuffer b = bytes.duplicate().order(ByteOrder.nativeOrder()).clear();
      if (v.type() == type) {
        switch (type) {
          case FLOAT -> b.asFloatBuffer().put((float[]) v.data(), 0, n);
          case DOUBLE -> b.asDoubleBuffer().put((double[]) v.data(), 0, n);
          case INT64 -> b.asLongBuffer().put((long[]) v.data(), 0, n);
          case INT32 -> b.asIntBuffer().put((int[]) v.data(), 0, n);
          case BOOL -> {
            boolean[] d = (boolean[]) v.data();
            for (int i = 0; i < n; i++) {
              b.put(i, (byte) (d[i] ? 1 : 0));
            }
          }
          default -> b.put((byte[]) v.data(), 0, n);
        }
        return;
      }
      switch (type) {
        case FLOAT -> {
          FloatBuffer f = b.asFloatBuffer();
          for (int i = 0; i < n; i++) {
            f.put(i, (float) v.get(i));
          }
        }
        case DOUBLE -> {
          DoubleBuffer f = b.asDoubleBuffer();
          for (int i = 0; i < n; i++) {
            f.put(i, v.get(i));
          }
        }
        case INT64 -> {
          LongBuffer f = b.asLongBuffer();
          for (int i = 0; i < n; i++) {
            f.put(i, (long) v.get(i));
          }
        }
        case INT32 -> {
          IntBuffer f = b.asIntBuffer();
          for (int i = 0; i < n; i++) {
            f.put(i, (int) v.get(i));
          }
        }
        case BOOL -> {
          for (int i = 0; i < n; i++) {
            b.put(i, (byte) (v.get(i) != 0 ? 1 : 0));
          }
        }
        default -> {
          for (int i = 0; i < n; i++) {
            b.put(i, (byte) (long) v.get(i));
          }
        }
      }
    }

    /** Closes the tensor; the slot can be filled again. */
    @Override
    public void close() {
      if (tensor != null) {
        tensor.close();
        tensor = null;
        shape = null;
      }
    }
  }
}
