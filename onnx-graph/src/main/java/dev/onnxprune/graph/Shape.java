package dev.onnxprune.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** An immutable tensor shape of {@link Dim}s (possibly symbolic). */
public final class Shape {
  private final List<Dim> dims;

  private Shape(List<Dim> dims) {
    this.dims = List.copyOf(dims);
  }

  /** The shape of a scalar (rank 0). */
  public static Shape scalar() {
    return new Shape(List.of());
  }

  public static Shape of(List<Dim> dims) {
    return new Shape(dims);
  }

  public static Shape of(long... sizes) {
    List<Dim> d = new ArrayList<>(sizes.length);
    for (long s : sizes) {
      d.add(Dim.of(s));
    }
    return new Shape(d);
  }

  public static Shape of(Dim... dims) {
    return new Shape(Arrays.asList(dims));
  }

  public int rank() {
    return dims.size();
  }

  public Dim dim(int axis) {
    return dims.get(axis);
  }

  public List<Dim> dims() {
    return dims;
  }

  /** True when every dimension is a known size. */
  public boolean isStatic() {
    for (Dim d : dims) {
      if (!d.isKnown()) {
        return false;
      }
    }
    return true;
  }

  /** Known sizes; throws when any dimension is not known. */
  public long[] toArray() {
    long[] out = new long[dims.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = dims.get(i).get();
    }
    return out;
  }

  /** Product of the known sizes of dims {@code [from, rank)}; -1 when any of them is unknown. */
  public long elementsFrom(int from) {
    long n = 1;
    for (int i = from; i < dims.size(); i++) {
      if (!dims.get(i).isKnown()) {
        return -1;
      }
      n *= dims.get(i).get();
    }
    return n;
  }

  /** Number of elements, or -1 when a dimension is not known. */
  public long elementCount() {
    return elementsFrom(0);
  }

  /** This shape with {@code axis} replaced by {@code dim}. */
  public Shape with(int axis, Dim dim) {
    List<Dim> d = new ArrayList<>(dims);
    d.set(axis, dim);
    return new Shape(d);
  }

  /** Same sizes and parameters (denotations ignored). */
  public boolean sameDims(Shape other) {
    if (other == null || other.rank() != rank()) {
      return false;
    }
    for (int i = 0; i < rank(); i++) {
      Dim a = dims.get(i);
      Dim b = other.dims.get(i);
      if (!java.util.Objects.equals(a.value(), b.value()) || !java.util.Objects.equals(a.param(), b.param())) {
        return false;
      }
    }
    return true;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Shape s && s.dims.equals(dims);
  }

  @Override
  public int hashCode() {
    return dims.hashCode();
  }

  @Override
  public String toString() {
    return dims.stream().map(Dim::toString).collect(Collectors.joining(", ", "[", "]"));
  }
}
