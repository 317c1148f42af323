package dev.onnxprune.graph;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * An immutable tensor: element type, dimensions and data.
 *
 * <p>Data stays in the bytes it was read from: a slice of the model file's bytes, a
 * memory-mapped external-data file, or the typed fields of the original TensorProto, and is
 * only decoded when asked for. Editing produces a new tensor ({@link #ofFloats}, ...), so
 * {@link Model#copy()} shares tensors instead of copying their data.
 *
 * <p>Data in an external-data file stays off the heap: {@link #buffer()} and the
 * {@code to*Array} methods read the mapping directly, and writing copies it from the mapping.
 * Only {@link #rawBytes()} puts it on the heap, because a protobuf {@code ByteString} (since
 * protobuf-java 4) cannot wrap a mapping; prefer {@link #buffer()} for large tensors.
 */
public final class Tensor {
  private final String name;
  private final DataType dataType;
  private final long[] dims;
  private final String docString;
  private ByteString raw; // little-endian element bytes, when known
  private final Supplier<ByteString> lazyRaw; // typed fields, decoded on demand
  private final ByteBuffer mapped; // little-endian element bytes in a mapped external-data file, or null
  private final ExternalLocation external;
  /** Serde's record of the TensorProto this was read from; null for tensors built in memory. */
  final Object protoOrigin;

  /** Where an external-data tensor's bytes lie, as read from the file. */
  public record ExternalLocation(String location, long offset, long length) {}

  Tensor(String name, DataType dataType, long[] dims, String docString, ByteString raw,
      Supplier<ByteString> lazyRaw, ExternalLocation external, Object protoOrigin) {
    this(name, dataType, dims, docString, raw, lazyRaw, null, external, protoOrigin);
  }

  private Tensor(String name, DataType dataType, long[] dims, String docString, ByteString raw,
      Supplier<ByteString> lazyRaw, ByteBuffer mapped, ExternalLocation external, Object protoOrigin) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims.clone();
    this.docString = docString;
    this.raw = raw;
    this.lazyRaw = lazyRaw;
    this.mapped = mapped;
    this.external = external;
    this.protoOrigin = protoOrigin;
  }

  /** A tensor read from an external-data file: {@code mapped} holds exactly its element bytes. */
  static Tensor external(String name, DataType dataType, long[] dims, String docString, ByteBuffer mapped,
      ExternalLocation external, Object protoOrigin) {
    return new Tensor(name, dataType, dims, docString, null, null, mapped.asReadOnlyBuffer(), external, protoOrigin);
  }

  /** A tensor over existing little-endian element bytes (not copied). */
  public static Tensor ofRaw(DataType type, long[] dims, ByteString rawLittleEndian) {
    long expected = type.byteSize(count(dims));
    if (type != DataType.STRING && rawLittleEndian.size() != expected) {
      throw new IllegalArgumentException("tensor of " + type + Arrays.toString(dims) + " needs " + expected
          + " bytes, got " + rawLittleEndian.size());
    }
    return new Tensor(null, type, dims, null, rawLittleEndian, null, null, null);
  }

  public static Tensor ofFloats(long[] dims, float[] data) {
    checkCount(dims, data.length);
    ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(data);
    return ofRaw(DataType.FLOAT, dims, UnsafeByteOperations.unsafeWrap(b.array()));
  }

  public static Tensor ofDoubles(long[] dims, double[] data) {
    checkCount(dims, data.length);
    ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asDoubleBuffer().put(data);
    return ofRaw(DataType.DOUBLE, dims, UnsafeByteOperations.unsafeWrap(b.array()));
  }

  public static Tensor ofLongs(long[] dims, long[] data) {
    checkCount(dims, data.length);
    ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asLongBuffer().put(data);
    return ofRaw(DataType.INT64, dims, UnsafeByteOperations.unsafeWrap(b.array()));
  }

  public static Tensor ofInts(long[] dims, int[] data) {
    checkCount(dims, data.length);
    ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(data);
    return ofRaw(DataType.INT32, dims, UnsafeByteOperations.unsafeWrap(b.array()));
  }

  /** A 1-D INT64 tensor, as shape and axes inputs use. */
  public static Tensor vector(long... values) {
    return ofLongs(new long[] {values.length}, values);
  }

  /** A FLOAT scalar (rank 0). */
  public static Tensor scalar(float value) {
    return ofFloats(new long[0], new float[] {value});
  }

  private static void checkCount(long[] dims, int n) {
    if (count(dims) != n) {
      throw new IllegalArgumentException("dims " + Arrays.toString(dims) + " hold " + count(dims)
          + " elements, data has " + n);
    }
  }

  static long count(long[] dims) {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    return n;
  }

  /** The same data under another name (names matter inside Constant attributes). */
  public Tensor withName(String newName) {
    return new Tensor(newName, dataType, dims, docString, raw, lazyRaw, mapped, external, protoOrigin);
  }

  /** The TensorProto name, or null. For initializers the value's name is what counts. */
  public String name() {
    return name;
  }

  public DataType dataType() {
    return dataType;
  }

  public long[] dims() {
    return dims.clone();
  }

  public int rank() {
    return dims.length;
  }

  public long dim(int axis) {
    return dims[axis];
  }

  public Shape shape() {
    return Shape.of(dims);
  }

  public String docString() {
    return docString;
  }

  public long elementCount() {
    return count(dims);
  }

  /** Size of the element data in bytes (as raw_data). */
  public long byteSize() {
    return dataType.byteSize(elementCount());
  }

  /** The external-data location this tensor was read from, or null when its data was inline. */
  public ExternalLocation externalLocation() {
    return external;
  }

  /**
   * Little-endian element bytes. Typed data is decoded on first use; external data is copied
   * from its mapping onto the heap on first use and kept (see the class comment).
   */
  public synchronized ByteString rawBytes() {
    if (raw == null) {
      raw = bytesForWriting();
    }
    return raw;
  }

  /** The element bytes for serialization, without keeping a heap copy of mapped data in this tensor. */
  synchronized ByteString bytesForWriting() {
    if (raw != null) {
      return raw;
    }
    if (mapped != null) {
      return ByteString.copyFrom(mapped.duplicate());
    }
    if (lazyRaw == null) {
      throw new IllegalStateException("tensor " + name + " has no data");
    }
    raw = lazyRaw.get();
    return raw;
  }

  /** True when the data is already in memory or mapped (no decoding needed). */
  synchronized boolean hasRaw() {
    return raw != null || mapped != null;
  }

  /**
   * Copies {@code length} element bytes from byte {@code offset} into {@code dst} (a plain
   * array copy for data in memory).
   */
  public void copyBytes(long offset, byte[] dst, int dstOffset, int length) {
    ByteString r;
    synchronized (this) {
      r = raw;
    }
    if (r == null && mapped == null) {
      r = rawBytes();
    }
    if (r != null) {
      r.copyTo(dst, Math.toIntExact(offset), dstOffset, length);
    } else {
      buffer().get(Math.toIntExact(offset), dst, dstOffset, length);
    }
  }

  /** A read-only little-endian view of the element bytes (of the mapping itself for external data). */
  public ByteBuffer buffer() {
    synchronized (this) {
      if (raw == null && mapped != null) {
        return mapped.duplicate().slice().order(ByteOrder.LITTLE_ENDIAN);
      }
    }
    // slice(): a ByteString over part of an array starts its buffer at an offset; absolute
    // indexing must start at 0.
    return rawBytes().asReadOnlyByteBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Elements as floats, converting from DOUBLE, FLOAT16, BFLOAT16 and integer types. */
  public float[] toFloatArray() {
    int n = Math.toIntExact(elementCount());
    float[] out = new float[n];
    ByteBuffer b = buffer();
    switch (dataType) {
      case FLOAT -> b.asFloatBuffer().get(out);
      case DOUBLE -> {
        for (int i = 0; i < n; i++) {
          out[i] = (float) b.getDouble(i * 8);
        }
      }
      case FLOAT16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = halfToFloat(b.getShort(i * 2));
        }
      }
      case BFLOAT16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
        }
      }
      default -> {
        long[] l = toLongArray();
        for (int i = 0; i < n; i++) {
          out[i] = l[i];
        }
      }
    }
    return out;
  }

  /** Elements as doubles (floating types only, or integers converted). */
  public double[] toDoubleArray() {
    int n = Math.toIntExact(elementCount());
    double[] out = new double[n];
    if (dataType == DataType.DOUBLE) {
      buffer().asDoubleBuffer().get(out);
      return out;
    }
    float[] f = toFloatArray();
    for (int i = 0; i < n; i++) {
      out[i] = f[i];
    }
    return out;
  }

  /** Elements as longs, from any integer or BOOL type. */
  public long[] toLongArray() {
    int n = Math.toIntExact(elementCount());
    long[] out = new long[n];
    ByteBuffer b = buffer();
    switch (dataType) {
      case INT64, UINT64 -> b.asLongBuffer().get(out);
      case INT32 -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.getInt(i * 4);
        }
      }
      case UINT32 -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.getInt(i * 4) & 0xffffffffL;
        }
      }
      case INT16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.getShort(i * 2);
        }
      }
      case UINT16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.getShort(i * 2) & 0xffff;
        }
      }
      case INT8 -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.get(i);
        }
      }
      case UINT8, BOOL -> {
        for (int i = 0; i < n; i++) {
          out[i] = b.get(i) & 0xff;
        }
      }
      case FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> {
        float[] f = toFloatArray();
        for (int i = 0; i < n; i++) {
          out[i] = (long) f[i];
        }
      }
      default -> throw new IllegalStateException("tensor " + name + " of " + dataType + " has no integer view");
    }
    return out;
  }

  /** IEEE 754 binary16 bits to float. */
  static float halfToFloat(short bits) {
    int h = bits & 0xffff;
    int sign = (h >>> 15) << 31;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f; // subnormal or zero
      return sign == 0 ? v : -v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  @Override
  public String toString() {
    return "Tensor(" + (name == null ? "" : name + " ") + dataType + Arrays.toString(dims) + ")";
  }
}
