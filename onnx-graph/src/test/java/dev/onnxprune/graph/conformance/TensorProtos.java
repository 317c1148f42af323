package dev.onnxprune.graph.conformance;

import com.google.protobuf.ByteString;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * Test-side decoding of ONNX {@code TensorProto}s (the {@code input_N.pb}/{@code output_N.pb}
 * files of ONNX's test corpus) and ONNX's element-wise comparison. Written independently of
 * the reader under test so it can serve as an oracle.
 */
public final class TensorProtos {
  private TensorProtos() {}

  /**
   * A decoded tensor: ONNX element type code, dims, and either little-endian element bytes or
   * (for STRING) the strings.
   */
  public record Decoded(int dataType, long[] dims, ByteBuffer littleEndian, List<ByteString> strings) {
    public long count() {
      long n = 1;
      for (long d : dims) {
        n *= d;
      }
      return n;
    }

    @Override
    public String toString() {
      DataType t = DataType.forNumber(dataType);
      return (t == null ? "type " + dataType : t.name()) + Arrays.toString(dims);
    }
  }

  /** Bytes per element of a fixed-size type, or 0 for types without one (STRING, sub-byte, unknown). */
  public static int elementSize(int dataType) {
    DataType t = DataType.forNumber(dataType);
    if (t == null) {
      return 0;
    }
    return switch (t) {
      case FLOAT, INT32, UINT32 -> 4;
      case DOUBLE, INT64, UINT64, COMPLEX64 -> 8;
      case COMPLEX128 -> 16;
      case INT16, UINT16, FLOAT16, BFLOAT16 -> 2;
      case INT8, UINT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ -> 1;
      default -> 0;
    };
  }

  /**
   * Decodes raw_data or the typed field that ONNX's spec assigns to the element type.
   *
   * @throws IllegalArgumentException for external data, sub-byte types, or a count that does not match dims
   */
  public static Decoded decode(TensorProto t) {
    long[] dims = new long[t.getDimsCount()];
    long n = 1;
    for (int i = 0; i < dims.length; i++) {
      dims[i] = t.getDims(i);
      n *= dims[i];
    }
    int count = Math.toIntExact(n);
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      throw new IllegalArgumentException("tensor '" + t.getName() + "' has external data");
    }
    if (t.getDataType() == DataType.STRING_VALUE) {
      if (t.getStringDataCount() != count) {
        throw new IllegalArgumentException("tensor '" + t.getName() + "' has " + t.getStringDataCount()
            + " strings for dims " + Arrays.toString(dims));
      }
      return new Decoded(t.getDataType(), dims, null, List.copyOf(t.getStringDataList()));
    }
    int size = elementSize(t.getDataType());
    if (size == 0) {
      throw new IllegalArgumentException("tensor '" + t.getName() + "': cannot decode element type " + t.getDataType());
    }
    ByteBuffer b = ByteBuffer.allocate(count * size).order(ByteOrder.LITTLE_ENDIAN);
    if (t.hasRawData()) {
      if (t.getRawData().size() != b.capacity()) {
        throw new IllegalArgumentException("tensor '" + t.getName() + "' has " + t.getRawData().size()
            + " bytes of raw_data, dims need " + b.capacity());
      }
      t.getRawData().copyTo(b);
      return new Decoded(t.getDataType(), dims, b.flip(), null);
    }
    DataType type = DataType.forNumber(t.getDataType());
    switch (type) {
      case FLOAT, COMPLEX64 -> t.getFloatDataList().forEach(b::putFloat);
      case DOUBLE, COMPLEX128 -> t.getDoubleDataList().forEach(b::putDouble);
      case INT64 -> t.getInt64DataList().forEach(b::putLong);
      case UINT64 -> t.getUint64DataList().forEach(b::putLong);
      case UINT32 -> t.getUint64DataList().forEach(v -> b.putInt((int) (long) v));
      case INT32 -> t.getInt32DataList().forEach(b::putInt);
      case INT16, UINT16, FLOAT16, BFLOAT16 -> t.getInt32DataList().forEach(v -> b.putShort((short) (int) v));
      default -> t.getInt32DataList().forEach(v -> b.put((byte) (int) v));
    }
    if (b.hasRemaining()) {
      throw new IllegalArgumentException("tensor '" + t.getName() + "' has " + b.position() / size
          + " typed elements, dims " + Arrays.toString(dims) + " need " + count);
    }
    return new Decoded(t.getDataType(), dims, b.flip(), null);
  }

  /** True for the element types compared with a tolerance. */
  public static boolean isFloating(int dataType) {
    return dataType == DataType.FLOAT_VALUE || dataType == DataType.DOUBLE_VALUE || dataType == DataType.FLOAT16_VALUE
        || dataType == DataType.BFLOAT16_VALUE || dataType == DataType.COMPLEX64_VALUE
        || dataType == DataType.COMPLEX128_VALUE;
  }

  /**
   * Compares {@code actual} with {@code expected} as ONNX's backend test runner does
   * ({@code numpy.testing.assert_allclose}: |a - e| <= atol + rtol * |e|, NaN equals NaN)
   * for floating types, exactly otherwise. Returns null when they agree, else the first
   * difference.
   */
  public static String compare(Decoded expected, Decoded actual, double rtol, double atol) {
    if (expected.dataType() != actual.dataType()) {
      return "element type " + actual + ", expected " + expected;
    }
    if (!Arrays.equals(expected.dims(), actual.dims())) {
      return "shape " + Arrays.toString(actual.dims()) + ", expected " + Arrays.toString(expected.dims());
    }
    if (expected.strings() != null) {
      for (int i = 0; i < expected.strings().size(); i++) {
        if (!expected.strings().get(i).equals(actual.strings().get(i))) {
          return "string " + i + " is '" + actual.strings().get(i).toStringUtf8() + "', expected '"
              + expected.strings().get(i).toStringUtf8() + "'";
        }
      }
      return null;
    }
    ByteBuffer e = expected.littleEndian().duplicate().order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer a = actual.littleEndian().duplicate().order(ByteOrder.LITTLE_ENDIAN);
    if (!isFloating(expected.dataType())) {
      int mismatch = e.mismatch(a);
      if (mismatch < 0) {
        return null;
      }
      int size = elementSize(expected.dataType());
      return "element " + mismatch / size + " differs (byte " + mismatch + ")";
    }
    double[] ev = asDoubles(expected.dataType(), e);
    double[] av = asDoubles(expected.dataType(), a);
    for (int i = 0; i < ev.length; i++) {
      double x = av[i];
      double y = ev[i];
      boolean ok = Double.isNaN(y) ? Double.isNaN(x)
          : Double.isInfinite(y) ? x == y : Math.abs(x - y) <= atol + rtol * Math.abs(y);
      if (!ok) {
        return "element " + i + " is " + x + ", expected " + y + " (rtol " + rtol + ", atol " + atol + ")";
      }
    }
    return null;
  }

  /** Floating elements (complex parts interleaved) as doubles. */
  public static double[] asDoubles(int dataType, ByteBuffer littleEndian) {
    ByteBuffer b = littleEndian.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int size = elementSize(dataType);
    DataType t = DataType.forNumber(dataType);
    int parts = t == DataType.COMPLEX64 || t == DataType.COMPLEX128 ? 2 : 1;
    int n = b.remaining() / size * parts;
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = switch (t) {
        case FLOAT, COMPLEX64 -> b.getFloat();
        case DOUBLE, COMPLEX128 -> b.getDouble();
        case FLOAT16 -> halfToFloat(b.getShort());
        case BFLOAT16 -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
        default -> throw new IllegalArgumentException("not a floating type: " + t);
      };
    }
    return out;
  }

  /** IEEE 754 binary16 to float, by the definition (independent of the main code's conversion). */
  static float halfToFloat(short bits) {
    int h = bits & 0xffff;
    int exp = (h >> 10) & 0x1f;
    int mant = h & 0x3ff;
    double sign = (h & 0x8000) != 0 ? -1 : 1;
    if (exp == 0x1f) {
      return mant == 0 ? (float) (sign * Double.POSITIVE_INFINITY) : Float.NaN;
    }
    if (exp == 0) {
      return (float) (sign * Math.scalb((double) mant, -24));
    }
    return (float) (sign * Math.scalb(1024.0 + mant, exp - 25));
  }
}
