package dev.onnxprune.runtime;

import dev.onnxprune.graph.DataType;
import java.util.Arrays;

/**
 * A tensor held in a Java array, row-major with its shape: what {@link OrtTensors} feeds to and
 * reads back from ONNX Runtime. The array type follows the element type: FLOAT {@code float[]},
 * DOUBLE {@code double[]}, INT64 {@code long[]}, INT32 {@code int[]}, BOOL {@code boolean[]},
 * UINT8 and INT8 {@code byte[]}. The array is held, not copied.
 *
 * @param type element type
 * @param data the values: an array of the type's Java type
 * @param shape dimensions; their product is the number of values
 */
public record HostTensor(DataType type, Object data, long[] shape) implements java.io.Serializable {
  public HostTensor {
    Class<?> want = arrayClass(type);
    if (data == null || data.getClass() != want) {
      throw new IllegalArgumentException(type + " values must be a " + want.getSimpleName() + ", not "
          + (data == null ? "null" : data.getClass().getSimpleName()));
    }
    long n = count(shape);
    if (n != java.lang.reflect.Array.getLength(data)) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n + " values, the array has "
          + java.lang.reflect.Array.getLength(data));
    }
  }

  public static HostTensor floats(float[] data, long... shape) {
    return new HostTensor(DataType.FLOAT, data, shape);
  }

  public static HostTensor doubles(double[] data, long... shape) {
    return new HostTensor(DataType.DOUBLE, data, shape);
  }

  public static HostTensor longs(long[] data, long... shape) {
    return new HostTensor(DataType.INT64, data, shape);
  }

  public static HostTensor ints(int[] data, long... shape) {
    return new HostTensor(DataType.INT32, data, shape);
  }

  public static HostTensor bools(boolean[] data, long... shape) {
    return new HostTensor(DataType.BOOL, data, shape);
  }

  /** UINT8 or INT8 values. */
  public static HostTensor bytes(DataType type, byte[] data, long... shape) {
    return new HostTensor(type, data, shape);
  }

  /** True for the element types a host tensor can hold. */
  public static boolean supports(DataType type) {
    return switch (type) {
      case FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8, INT8 -> true;
      default -> false;
    };
  }

  /** A tensor of {@code type} and {@code shape} whose every value is {@code value} (1 is true for BOOL). */
  public static HostTensor filled(DataType type, double value, long... shape) {
    int n = Math.toIntExact(count(shape));
    Object data = java.lang.reflect.Array.newInstance(arrayClass(type).getComponentType(), n);
    HostTensor t = new HostTensor(type, data, shape.clone());
    for (int i = 0; i < n; i++) {
      t.set(i, value);
    }
    return t;
  }

  /** Number of values. */
  public int size() {
    return java.lang.reflect.Array.getLength(data);
  }

  /** Length of axis 0 (1 for a scalar). */
  public int rows() {
    return shape.length == 0 ? 1 : Math.toIntExact(shape[0]);
  }

  /** The FLOAT values. */
  public float[] floats() {
    return (float[]) require(DataType.FLOAT);
  }

  /** The INT64 values. */
  public long[] longs() {
    return (long[]) require(DataType.INT64);
  }

  /** Value {@code i} as a double (BOOL: 0 or 1; UINT8 unsigned). */
  public double get(int i) {
    return switch (type) {
      case FLOAT -> ((float[]) data)[i];
      case DOUBLE -> ((double[]) data)[i];
      case INT64 -> ((long[]) data)[i];
      case INT32 -> ((int[]) data)[i];
      case BOOL -> ((boolean[]) data)[i] ? 1 : 0;
      case UINT8 -> ((byte[]) data)[i] & 0xff;
      case INT8 -> ((byte[]) data)[i];
      default -> throw new IllegalStateException(type.toString());
    };
  }

  private void set(int i, double v) {
    switch (type) {
      case FLOAT -> ((float[]) data)[i] = (float) v;
      case DOUBLE -> ((double[]) data)[i] = v;
      case INT64 -> ((long[]) data)[i] = (long) v;
      case INT32 -> ((int[]) data)[i] = (int) v;
      case BOOL -> ((boolean[]) data)[i] = v != 0;
      case UINT8, INT8 -> ((byte[]) data)[i] = (byte) (long) v;
      default -> throw new IllegalStateException(type.toString());
    }
  }

  /**
   * These values as {@code target} (this tensor when it is already of that type): integers and
   * floats convert as a C cast does (floats toward zero), BOOL is value != 0.
   */
  public HostTensor as(DataType target) {
    if (target == type) {
      return this;
    }
    if (type == DataType.INT32 && target == DataType.INT64) {
      return longs(Arrays.stream((int[]) data).asLongStream().toArray(), shape.clone());
    }
    HostTensor out = filled(target, 0, shape);
    for (int i = 0; i < size(); i++) {
      out.set(i, get(i));
    }
    return out;
  }

  /** Rows {@code [from, to)} of axis 0, copied. */
  public HostTensor rows(int from, int to) {
    int per = perRow();
    long[] s = shape.clone();
    s[0] = to - from;
    Object part = java.lang.reflect.Array.newInstance(data.getClass().getComponentType(), (to - from) * per);
    System.arraycopy(data, from * per, part, 0, (to - from) * per);
    return new HostTensor(type, part, s);
  }

  /** The rows of axis 0 repeated {@code times} times, one copy after the other. */
  public HostTensor repeat(int times) {
    int n = size();
    Object out = java.lang.reflect.Array.newInstance(data.getClass().getComponentType(), n * times);
    for (int t = 0; t < times; t++) {
      System.arraycopy(data, 0, out, t * n, n);
    }
    long[] s = shape.clone();
    s[0] *= times;
    return new HostTensor(type, out, s);
  }

  private int perRow() {
    if (shape.length == 0) {
      throw new IllegalStateException("a scalar has no rows");
    }
    return shape[0] == 0 ? 0 : size() / rows();
  }

  private Object require(DataType want) {
    if (type != want) {
      throw new IllegalStateException("the tensor holds " + type + ", not " + want);
    }
    return data;
  }

  /** Product of the dims. */
  static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
      }
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  private static Class<?> arrayClass(DataType type) {
    return switch (type) {
      case FLOAT -> float[].class;
      case DOUBLE -> double[].class;
      case INT64 -> long[].class;
      case INT32 -> int[].class;
      case BOOL -> boolean[].class;
      case UINT8, INT8 -> byte[].class;
      default -> throw new IllegalArgumentException("element type " + type + " is not supported in host tensors"
          + " (FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8, INT8 are)");
    };
  }

  @Override
  public String toString() {
    return type + Arrays.toString(shape);
  }
}
