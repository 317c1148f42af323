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
 * <p>Data stays in the bytes it was read from: a slice of the model file's bytes, a range of an
 * external-data file, or the typed fields of the original TensorProto, and is only decoded when
 * asked for. Editing produces a new tensor ({@link #ofFloats}, ...), so {@link Model#copy()}
 * shares tensors instead of copying their data.
 *
 * <p>Data in an external-data file stays in that file ({@link #fileSlice()}): {@link #buffer()}
 * and the {@code to*Array} methods read it onto the heap for the caller, each call anew, and
 * nothing keeps it, so a model over 2 GiB costs this process memory only for the tensors in use
 * (see {@link ExternalDataFile}); writing streams it in chunks. Only {@link #rawBytes()} keeps a
 * heap copy; prefer {@link #buffer()} for large tensors.
 */
public final class Tensor {
  private final String name;
  private final DataType dataType;
  private final long[] dims;
  private final String docString;
  private ByteString raw; // little-endian element bytes, when known
  private final Supplier<ByteString> lazyRaw; // typed fields, decoded on demand
  private final FileSlice file; // little-endian element bytes in an external-data file, or null
  private final ExternalLocation external;
  /** Serde's record of the TensorProto this was read from; null for tensors built in memory. */
  final Object protoOrigin;

  /** Where an external-data tensor's bytes lie, as read from the file. */
  public record ExternalLocation(String location, long offset, long length) {}

  /** Bytes {@code [offset, offset + length)} of an open external data file. */
  public record FileSlice(ExternalDataFile file, long offset, long length) {}

  Tensor(String name, DataType dataType, long[] dims, String docString, ByteString raw,
      Supplier<ByteString> lazyRaw, ExternalLocation external, Object protoOrigin) {
    this(name, dataType, dims, docString, raw, lazyRaw, null, external, protoOrigin);
  }

  private Tensor(String name, DataType dataType, long[] dims, String docString, ByteString raw,
      Supplier<ByteString> lazyRaw, FileSlice file, ExternalLocation external, Object protoOrigin) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims.clone();
    this.docString = docString;
    this.raw = raw;
    this.lazyRaw = lazyRaw;
    this.file = file;
    this.external = external;
    this.protoOrigin = protoOrigin;
  }

  /** A tensor read from an external-data file: {@code file} holds exactly its element bytes. */
  static Tensor external(String name, DataType dataType, long[] dims, String docString, FileSlice file,
      ExternalLocation external, Object protoOrigin) {
    return new Tensor(name, dataType, dims, docString, null, null, file, external, protoOrigin);
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
    return new Tensor(newName, dataType, dims, docString, raw, lazyRaw, file, external, protoOrigin);
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
   * The range of an external data file that holds this tensor's data, or null when the data is
   * in memory (inline when read, or made in memory). A consumer that can read files (ONNX
   * Runtime) can be pointed at it instead of a copy.
   */
  public FileSlice fileSlice() {
    return file;
  }

  /**
   * Little-endian element bytes. Typed data is decoded on first use; external data is read onto
   * the heap on first use and kept (see the class comment).
   */
  public synchronized ByteString rawBytes() {
    if (raw == null) {
      raw = bytesForWriting();
    }
    return raw;
  }

  /** The element bytes for serialization, without keeping a heap copy of external data in this tensor. */
  synchronized ByteString bytesForWriting() {
    if (raw != null) {
      return raw;
    }
    if (file != null) {
      return UnsafeByteOperations.unsafeWrap(readFile());
    }
    if (lazyRaw == null) {
      throw new IllegalStateException("tensor " + name + " has no data");
    }
    raw = lazyRaw.get();
    return raw;
  }

  /** True when the data is already in memory or in its external file (no decoding needed). */
  synchronized boolean hasRaw() {
    return raw != null || file != null;
  }

  /** The external data read onto the heap (a fresh buffer, little-endian, position 0). */
  private ByteBuffer readFile() {
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(file.length())).order(ByteOrder.LITTLE_ENDIAN);
    file.file().read(file.offset(), b);
    return b.flip();
  }

  /**
   * Hands {@code sink} the element bytes in order, in buffers of at most {@code chunk} bytes
   * (each valid only during its call): external data is read chunk by chunk into one buffer, so
   * a writer needs {@code chunk} bytes of memory, not the tensor's size.
   */
  void forEachChunk(int chunk, java.util.function.Consumer<ByteBuffer> sink) {
    synchronized (this) {
      if (raw == null && file != null) {
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(chunk, Math.max(1, file.length())));
        for (long at = 0; at < file.length(); at += b.capacity()) {
          b.clear().limit((int) Math.min(b.capacity(), file.length() - at));
          file.file().read(file.offset() + at, b);
          sink.accept(b.flip());
        }
        return;
      }
    }
    ByteBuffer all = buffer();
    for (int at = 0; at < all.limit(); at += chunk) {
      sink.accept(all.slice(at, Math.min(chunk, all.limit() - at)));
    }
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
    if (r == null && file == null) {
      r = rawBytes();
    }
    if (r != null) {
      r.copyTo(dst, Math.toIntExact(offset), dstOffset, length);
    } else {
      file.file().read(file.offset() + offset, ByteBuffer.wrap(dst, dstOffset, length));
    }
  }

  /**
   * A little-endian view of the element bytes, read-only for data in memory; for external data a
   * fresh heap copy read from its file (call it once per use, not per element).
   */
  public ByteBuffer buffer() {
    synchronized (this) {
      if (raw == null && file != null) {
        return readFile();
      }
    }
    // slice(): a ByteString over part of an array starts its buffer at an offset; absolute
    // indexing must start at 0.
    return rawBytes().asReadOnlyByteBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * A reader of this tensor's elements in order, for element types of 4 bytes (FLOAT, INT32,
   * UINT32). External data is read a window of at most {@link Reader#WINDOW} bytes at a time, so
   * walking a 256 MB weight costs 1 MiB of heap, not 256 MB.
   *
   * @throws IllegalStateException for other element types
   */
  public Reader reader() {
    if (dataType.bits() != 32) {
      throw new IllegalStateException("tensor " + name + " of " + dataType + " has no 4-byte element reader");
    }
    synchronized (this) {
      if (raw == null && file != null) {
        return new Reader(file, null);
      }
    }
    return new Reader(null, buffer());
  }

  /** Reads 4-byte elements in order; see {@link #reader()}. Not thread-safe. */
  public static final class Reader {
    /** Bytes read from an external data file at a time. */
    public static final int WINDOW = 1 << 20;
    private final FileSlice file;
    private final ByteBuffer window;
    private long filled; // bytes of the file slice read into windows so far

    private Reader(FileSlice file, ByteBuffer whole) {
      this.file = file;
      if (file != null) {
        window = ByteBuffer.allocate((int) Math.min(WINDOW, Math.max(4, file.length()))).order(ByteOrder.LITTLE_ENDIAN);
        window.limit(0);
      } else {
        window = whole.order(ByteOrder.LITTLE_ENDIAN);
      }
    }

    private void fill() {
      if (file == null || filled >= file.length()) {
        throw new java.nio.BufferUnderflowException();
      }
      window.clear().limit((int) Math.min(window.capacity(), file.length() - filled));
      file.file().read(file.offset() + filled, window);
      filled += window.flip().limit();
    }

    /** The next {@code len} elements as ints into {@code dst} from {@code off}. */
    public void get(int[] dst, int off, int len) {
      while (len > 0) {
        if (window.remaining() < 4) {
          fill();
        }
        int n = Math.min(len, window.remaining() / 4);
        if (n < 64) { // a view per call costs more than a few reads (a criterion reads one element at a time)
          for (int k = 0; k < n; k++) {
            dst[off + k] = window.getInt();
          }
        } else {
          window.asIntBuffer().get(dst, off, n);
          window.position(window.position() + 4 * n);
        }
        off += n;
        len -= n;
      }
    }

    /** The next {@code len} elements as floats into {@code dst} from {@code off}. */
    public void get(float[] dst, int off, int len) {
      while (len > 0) {
        if (window.remaining() < 4) {
          fill();
        }
        int n = Math.min(len, window.remaining() / 4);
        if (n < 64) { // a view per call costs more than a few reads (a criterion reads one element at a time)
          for (int k = 0; k < n; k++) {
            dst[off + k] = window.getFloat();
          }
        } else {
          window.asFloatBuffer().get(dst, off, n);
          window.position(window.position() + 4 * n);
        }
        off += n;
        len -= n;
      }
    }

    /** Passes over the next {@code count} elements. */
    public void skip(long count) {
      long bytes = 4 * count;
      int inWindow = (int) Math.min(bytes, window.remaining());
      window.position(window.position() + inWindow);
      bytes -= inWindow;
      if (bytes > 0) {
        if (file == null || filled + bytes > file.length()) {
          throw new java.nio.BufferUnderflowException();
        }
        filled += bytes;
      }
    }
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
