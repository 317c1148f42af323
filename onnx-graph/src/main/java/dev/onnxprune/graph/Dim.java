package dev.onnxprune.graph;

/**
 * One dimension of a tensor shape: a known size, a symbolic name (e.g. {@code "batch"}), or
 * unknown. {@code denotation} is ONNX's optional dimension denotation, kept for round trips.
 */
public record Dim(Long value, String param, String denotation) {
  private static final Dim UNKNOWN = new Dim(null, null, null);

  public Dim {
    if (value != null && param != null) {
      throw new IllegalArgumentException("a dimension is a value or a parameter, not both: " + value + ", " + param);
    }
  }

  public static Dim of(long value) {
    return new Dim(value, null, null);
  }

  public static Dim symbolic(String param) {
    return new Dim(null, param, null);
  }

  public static Dim unknown() {
    return UNKNOWN;
  }

  public boolean isKnown() {
    return value != null;
  }

  public boolean isSymbolic() {
    return param != null;
  }

  /** The known size; throws when the dimension is symbolic or unknown. */
  public long get() {
    if (value == null) {
      throw new IllegalStateException("dimension " + this + " is not a known size");
    }
    return value;
  }

  @Override
  public String toString() {
    return value != null ? value.toString() : param != null ? param : "?";
  }
}
