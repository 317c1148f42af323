package dev.onnxprune.runtime;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Use;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Random inputs that a model accepts, each runtime input in its own element type and shape: what
 * checks that run a model on made-up data (the equivalence check of pruning) feed it.
 * <ul>
 *   <li><b>Floats</b> (FLOAT, DOUBLE): standard normal.
 *   <li><b>Token ids</b>: an integer input used, directly or through Cast, Reshape, Unsqueeze,
 *       Squeeze, Flatten, Identity, Expand or Transpose, as the indices of a Gather into a
 *       constant table {@code [V, ...]} (a word, position or segment embedding) is drawn
 *       uniformly in {@code [0, V)}, V the smallest such table.
 *   <li><b>Masks</b>: any other integer input (an attention mask feeding arithmetic, Cast or
 *       Where) is all ones; a BOOL input all true.
 *   <li><b>Sizes</b>: declared sizes as they are; a symbolic or unknown axis 0 is 2 (the batch);
 *       any other symbolic or unknown dim is the sequence length {@code min(8, P)}, P the
 *       smallest position table: a constant sliced up to a size read from an input's shape, or a
 *       constant table gathered at positions from {@code Range} (8 when the model has none); in
 *       a model without position tables, the other dims of float inputs of rank 3 or more
 *       (images) are 64. A symbol has one size wherever it appears.
 * </ul>
 */
public final class RandomInputs {
  /** Batch size for a symbolic or unknown axis 0. */
  public static final long BATCH = 2;
  /** Longest sequence drawn (position tables may allow less). */
  public static final long SEQUENCE = 8;
  /** Spatial size of images with symbolic height and width. */
  public static final long IMAGE = 64;
  /** The most elements one input's draw may have (one Java array of 8-byte values). */
  static final long MAX_ELEMENTS = (Integer.MAX_VALUE - 8) / 8;

  /** How an input's values are drawn. */
  public enum Kind {
    /** Standard normal floats. */
    NORMAL,
    /** Integers uniform in {@code [0, bound)}. */
    INDEX,
    /** All ones (true for BOOL). */
    ONES
  }

  /**
   * One input: name, element type, the shape drawn, and how its values are drawn ({@code bound}
   * is V for {@link Kind#INDEX}, else 0).
   */
  public record Input(String name, DataType type, long[] shape, Kind kind, long bound) {
    @Override
    public String toString() {
      String what = switch (kind) {
        case NORMAL -> "standard normal";
        case INDEX -> "ids in [0, " + bound + ")";
        case ONES -> type == DataType.BOOL ? "true" : "ones";
      };
      return name + " " + type + Arrays.toString(shape) + " " + what;
    }
  }

  private static final Set<String> PASS_THROUGH = Set.of("Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten",
      "Identity", "Expand", "Transpose");

  private final List<Input> inputs;

  private RandomInputs(List<Input> inputs) {
    this.inputs = List.copyOf(inputs);
  }

  /**
   * What to feed each runtime input of {@code model}.
   *
   * @throws IllegalArgumentException when an input's type or shape is not declared, its element
   *     type cannot be drawn (strings, FLOAT16, ...), or it has more than {@link #MAX_ELEMENTS}
   * @throws dev.onnxprune.errors.InvalidModelException when an input declares a negative dimension
   */
  public static RandomInputs of(Model model) {
    List<Value> ins = model.graph().runtimeInputs();
    long positions = dev.onnxprune.graph.PositionTables.smallest(model);
    Map<String, Long> symbols = new HashMap<>();
    for (Value in : ins) {
      Shape s = in.shape();
      if (s != null && s.rank() > 0 && s.dim(0).isSymbolic()) {
        symbols.putIfAbsent(s.dim(0).param(), BATCH);
      }
    }
    List<Input> out = new ArrayList<>();
    for (Value in : ins) {
      ValueType.TensorType t = in.tensorType();
      if (t == null || t.shape() == null) {
        throw new IllegalArgumentException("input '" + in.name() + "' has no known shape; cannot make test inputs");
      }
      DataType type = t.elemType();
      if (!HostTensor.supports(type)) {
        throw new IllegalArgumentException("input '" + in.name() + "' is " + type + "; test inputs are drawn for"
            + " FLOAT, DOUBLE, INT64, INT32, INT8, UINT8 and BOOL only");
      }
      boolean image = type.isFloatingPoint() && t.shape().rank() >= 3 && positions < 0;
      long other = positions >= 0 ? Math.min(SEQUENCE, positions) : image ? IMAGE : SEQUENCE;
      long[] dims = new long[t.shape().rank()];
      for (int i = 0; i < dims.length; i++) {
        Dim d = t.shape().dim(i);
        long fallback = i == 0 ? BATCH : other;
        dims[i] = d.isKnown() ? d.get() : d.isSymbolic() ? symbols.computeIfAbsent(d.param(), k -> fallback) : fallback;
        if (dims[i] < 0) {
          throw new dev.onnxprune.errors.InvalidModelException(model.source(), List.of("input '" + in.name()
              + "' declares dimension " + dims[i] + " at axis " + i + "; dimensions are at least 0"));
        }
      }
      long elements = 1;
      for (long d : dims) {
        elements = d != 0 && elements > MAX_ELEMENTS / d ? MAX_ELEMENTS + 1 : elements * d;
      }
      if (elements > MAX_ELEMENTS) {
        throw new IllegalArgumentException("input '" + in.name() + "' " + Arrays.toString(dims) + " has more than "
            + MAX_ELEMENTS + " elements, more than one test batch can hold");
      }
      Kind kind;
      long bound = 0;
      if (type.isFloatingPoint()) {
        kind = Kind.NORMAL;
      } else if (type != DataType.BOOL && (bound = tableRows(in)) > 0) {
        kind = Kind.INDEX;
      } else {
        kind = Kind.ONES;
        bound = 0;
      }
      out.add(new Input(in.name(), type, dims, kind, bound));
    }
    return new RandomInputs(out);
  }

  /** The inputs, in graph order. */
  public List<Input> inputs() {
    return inputs;
  }

  /** One draw for every input, by name, from {@code random}. */
  public Map<String, HostTensor> draw(Random random) {
    Map<String, HostTensor> out = new LinkedHashMap<>();
    for (Input in : inputs) {
      int n = Math.toIntExact(HostTensor.count(in.shape()));
      HostTensor t = switch (in.kind()) {
        case NORMAL -> {
          float[] x = new float[n];
          for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
          }
          yield HostTensor.floats(x, in.shape());
        }
        case INDEX -> {
          long[] x = new long[n];
          for (int i = 0; i < n; i++) {
            x[i] = (long) (random.nextDouble() * in.bound());
          }
          yield HostTensor.longs(x, in.shape());
        }
        case ONES -> HostTensor.filled(in.type(), 1, in.shape());
      };
      out.put(in.name(), t.as(in.type()));
    }
    return out;
  }

  @Override
  public String toString() {
    return inputs.toString();
  }

  /** The fewest rows of a constant table that {@code v} indexes through a Gather; 0 when none. */
  private static long tableRows(Value v) {
    long best = 0;
    List<Value> work = new ArrayList<>(List.of(v));
    for (int k = 0; k < work.size() && k < 64; k++) {
      for (Use u : work.get(k).uses()) {
        Node n = u.node();
        if (n.is("Gather") && u.index() == 1) {
          Tensor table = constant(n.input(0));
          if (table != null && table.rank() > 0) {
            long axis = n.attrLong("axis", 0);
            long rows = table.dim((int) (axis < 0 ? axis + table.rank() : axis));
            best = best == 0 ? rows : Math.min(best, rows);
          }
        } else if (PASS_THROUGH.contains(n.opType()) && u.index() == 0 && n.output(0) != null) {
          work.add(n.output(0));
        }
      }
    }
    return best;
  }

  /** The constant behind {@code v}: an initializer or Constant, through Identity nodes. */
  private static Tensor constant(Value v) {
    Value c = v == null ? null : v.behindIdentity();
    return c == null ? null : c.constantValue();
  }
}
