package dev.onnxprune.graph;

/** ONNX tensor element types, with ONNX's numeric codes ({@code TensorProto.DataType}). */
public enum DataType {
  UNDEFINED(0, 0),
  FLOAT(1, 32),
  UINT8(2, 8),
  INT8(3, 8),
  UINT16(4, 16),
  INT16(5, 16),
  INT32(6, 32),
  INT64(7, 64),
  STRING(8, 0),
  BOOL(9, 8),
  FLOAT16(10, 16),
  DOUBLE(11, 64),
  UINT32(12, 32),
  UINT64(13, 64),
  COMPLEX64(14, 64),
  COMPLEX128(15, 128),
  BFLOAT16(16, 16),
  FLOAT8E4M3FN(17, 8),
  FLOAT8E4M3FNUZ(18, 8),
  FLOAT8E5M2(19, 8),
  FLOAT8E5M2FNUZ(20, 8),
  UINT4(21, 4),
  INT4(22, 4),
  FLOAT4E2M1(23, 4),
  FLOAT8E8M0(24, 8),
  UINT2(25, 2),
  INT2(26, 2);

  private static final DataType[] BY_CODE = new DataType[27];

  static {
    for (DataType t : values()) {
      BY_CODE[t.code] = t;
    }
  }

  private final int code;
  private final int bits;

  DataType(int code, int bits) {
    this.code = code;
    this.bits = bits;
  }

  /** ONNX's numeric code. */
  public int code() {
    return code;
  }

  /** Bits per element in raw_data (0 for STRING and UNDEFINED). */
  public int bits() {
    return bits;
  }

  /** Bytes that {@code count} elements occupy in raw_data (sub-byte types are packed). */
  /**
   * Bytes of {@code count} elements (sub-byte types packed, rounded up).
   *
   * @throws ArithmeticException when that overflows a long (never silently wrong)
   */
  public long byteSize(long count) {
    return Math.addExact(Math.multiplyExact(count, (long) bits), 7) / 8;
  }

  public boolean isFloatingPoint() {
    return this == FLOAT || this == DOUBLE || this == FLOAT16 || this == BFLOAT16;
  }

  /** The type with ONNX code {@code code}, or null when the code is not one ONNX defines. */
  public static DataType fromCode(int code) {
    return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
  }
}
