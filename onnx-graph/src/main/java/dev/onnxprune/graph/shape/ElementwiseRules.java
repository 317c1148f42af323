package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BinaryOperator;

/**
 * Ops whose output has their input's shape (activations, unary math, normalizations, Softmax,
 * Clip, Dropout, Identity, Cast) and the broadcasting elementwise ops (arithmetic, comparison,
 * logic, Where, variadic Sum/Max/Min/Mean). Integer arithmetic on known (or symbolic) shape data
 * is evaluated so Shape chains stay known.
 */
final class ElementwiseRules {
  private ElementwiseRules() {}

  /** Ops whose output 0 has input 0's type and shape. */
  static final List<String> SAME_SHAPE = List.of(
      "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu",
      "Softplus", "Softsign", "Mish", "Gelu", "ThresholdedRelu", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg",
      "Reciprocal", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
      "Asinh", "Acosh", "Atanh", "Clip", "Softmax", "LogSoftmax", "Hardmax", "Shrink", "LRN",
      "InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization", "LpNormalization", "CumSum",
      "Trilu", "ReverseSequence", "ScatterElements", "ScatterND", "Scatter", "BitwiseNot");

  /** Broadcasting ops whose output has input 0's element type. */
  static final List<String> BROADCAST_ARITHMETIC = List.of(
      "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "BitShift", "BitwiseAnd", "BitwiseOr",
      "BitwiseXor");

  /** Broadcasting ops with a BOOL output. */
  static final List<String> BROADCAST_BOOL = List.of(
      "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor");

  static void register(Map<String, OpRule> table) {
    for (String op : SAME_SHAPE) {
      OpRules.put(table, op, ElementwiseRules::sameShape);
    }
    for (String op : BROADCAST_ARITHMETIC) {
      OpRules.put(table, op, c -> broadcast(c, c.elemType(0)));
    }
    for (String op : BROADCAST_BOOL) {
      OpRules.put(table, op, c -> broadcast(c, DataType.BOOL));
    }
    OpRules.put(table, "Not", c -> c.set(0, DataType.BOOL, ShapeMath.plain(c.requireShape(0))));
    OpRules.put(table, "IsNaN", c -> c.set(0, DataType.BOOL, ShapeMath.plain(c.requireShape(0))));
    OpRules.put(table, "IsInf", c -> c.set(0, DataType.BOOL, ShapeMath.plain(c.requireShape(0))));
    OpRules.put(table, "Where", ElementwiseRules::where);
    OpRules.put(table, "Identity", ElementwiseRules::identity);
    OpRules.put(table, "Dropout", ElementwiseRules::dropout);
    OpRules.put(table, "Cast", ElementwiseRules::cast);
    OpRules.put(table, "CastLike", ElementwiseRules::castLike);
    OpRules.put(table, "BatchNormalization", ElementwiseRules::batchNorm);
    OpRules.put(table, "LayerNormalization", ElementwiseRules::layerNorm);
    OpRules.put(table, "QuantizeLinear", ElementwiseRules::quantize);
    OpRules.put(table, "DequantizeLinear", c -> c.set(0, c.elemType(1), ShapeMath.plain(c.requireShape(0))));
  }

  static void sameShape(InferenceContext c) {
    c.set(0, c.elemType(0), ShapeMath.plain(c.requireShape(0)));
  }

  /** Identity passes type and known data through. */
  static void identity(InferenceContext c) {
    c.setWithData(0, c.elemType(0), ShapeMath.plain(c.requireShape(0)), c.data(0));
  }

  /** Output 0 as the input; the optional mask output has the input's shape and BOOL. */
  static void dropout(InferenceContext c) {
    Shape x = ShapeMath.plain(c.requireShape(0));
    c.setWithData(0, c.elemType(0), x, c.data(0));
    c.set(1, DataType.BOOL, x);
  }

  /** Element type from attribute {@code to}; integer data survives casts between integer types. */
  static void cast(InferenceContext c) {
    Shape x = ShapeMath.plain(c.requireShape(0));
    long to = c.node().attrLong("to", -1);
    DataType t = DataType.fromCode((int) to);
    if (t == null || t == DataType.UNDEFINED) {
      throw c.fail("attribute to=" + to + " is not an ONNX data type");
    }
    List<Dim> data = c.data(0);
    if (data != null && ConstantData.isInteger(t) && t != DataType.BOOL && ConstantData.isInteger(c.elemType(0))) {
      c.setWithData(0, t, x, data);
    } else {
      c.set(0, t, x);
    }
  }

  static void castLike(InferenceContext c) {
    c.set(0, c.elemType(1), ShapeMath.plain(c.requireShape(0)));
  }

  /**
   * Y has X's shape. Optional outputs 1-4 (running or saved mean and variance, whichever the
   * opset defines) are per-channel vectors [C] of the mean's type.
   */
  static void batchNorm(InferenceContext c) {
    Shape x = c.requireShape(0);
    c.set(0, c.elemType(0), ShapeMath.plain(x));
    if (c.node().outputCount() > 1) {
      if (x.rank() < 2) {
        throw c.fail("input " + x + " has no channel axis");
      }
      DataType statType = c.type(3) != null ? c.elemType(3) : c.elemType(0);
      for (int i = 1; i < c.node().outputCount(); i++) {
        c.set(i, statType, Shape.of(ShapeMath.plain(x.dim(1))));
      }
    }
  }

  /** Y has X's shape; Mean and InvStdDev keep X's dims before {@code axis} and 1 after, in stash_type. */
  static void layerNorm(InferenceContext c) {
    Shape x = c.requireShape(0);
    c.set(0, c.elemType(0), ShapeMath.plain(x));
    if (c.node().outputCount() > 1) {
      int axis = c.axis(c.node().attrLong("axis", -1), x.rank());
      List<Dim> stat = ShapeMath.dims(x, 0, axis);
      for (int i = axis; i < x.rank(); i++) {
        stat.add(Dim.of(1));
      }
      DataType stash = DataType.fromCode((int) c.node().attrLong("stash_type", 1));
      c.set(1, stash, Shape.of(stat));
      c.set(2, stash, Shape.of(stat));
    }
  }

  /** Y has X's shape; its type is output_dtype (opset 21), else the zero point's, else UINT8. */
  static void quantize(InferenceContext c) {
    Shape x = ShapeMath.plain(c.requireShape(0));
    long outputDtype = c.node().attrLong("output_dtype", 0);
    DataType t = outputDtype != 0 ? DataType.fromCode((int) outputDtype) : c.has(2) ? c.elemType(2) : DataType.UINT8;
    c.set(0, t, x);
  }

  /** Multidirectional broadcast of all inputs; integer data of rank <= 1 is evaluated. */
  static void broadcast(InferenceContext c, DataType outType) {
    List<Shape> shapes = new ArrayList<>();
    for (int i = 0; i < c.inputCount(); i++) {
      if (!c.has(i)) {
        throw c.fail("input " + i + " is missing");
      }
      shapes.add(c.requireShape(i));
    }
    Shape out = ShapeMath.broadcast(c, shapes);
    c.setWithData(0, outType, out, evaluate(c, out));
  }

  /** Where(cond, x, y): broadcast of all three; type of x. */
  static void where(InferenceContext c) {
    Shape out = ShapeMath.broadcast(c, List.of(c.requireShape(0), c.requireShape(1), c.requireShape(2)));
    List<Dim> data = null;
    List<Dim> cond = c.data(0);
    List<Dim> x = c.data(1);
    List<Dim> y = c.data(2);
    if (out.rank() <= 1 && cond != null && x != null && y != null) {
      int n = Math.max(cond.size(), Math.max(x.size(), y.size()));
      data = new ArrayList<>();
      for (int i = 0; i < n && data != null; i++) {
        Dim k = at(cond, i);
        if (!k.isKnown()) {
          data = null;
        } else {
          data.add(k.get() != 0 ? at(x, i) : at(y, i));
        }
      }
    }
    c.setWithData(0, c.elemType(1), out, data);
  }

  /** Evaluates integer binary ops on known data of rank <= 1 (null when not applicable). */
  private static List<Dim> evaluate(InferenceContext c, Shape out) {
    if (out.rank() > 1 || c.inputCount() != 2) {
      return null;
    }
    List<Dim> a = c.data(0);
    List<Dim> b = c.data(1);
    if (a == null || b == null || !ConstantData.isInteger(c.elemType(0))) {
      return null;
    }
    BinaryOperator<Dim> op = switch (c.node().opType()) {
      case "Add" -> SymbolicDims::add;
      case "Sub" -> (x, y) -> y.isKnown() ? SymbolicDims.add(x, -y.get())
          : x.equals(y) && x.isSymbolic() ? Dim.of(0) : Dim.unknown();
      case "Mul" -> SymbolicDims::multiply;
      case "Div" -> (x, y) -> x.isKnown() && y.isKnown()
          ? (y.get() == 0 ? Dim.unknown() : Dim.of(x.get() / y.get())) : SymbolicDims.divide(x, y);
      case "Max" -> (x, y) -> x.isKnown() && y.isKnown() ? Dim.of(Math.max(x.get(), y.get())) : Dim.unknown();
      case "Min" -> (x, y) -> x.isKnown() && y.isKnown() ? Dim.of(Math.min(x.get(), y.get())) : Dim.unknown();
      case "Equal" -> (x, y) -> x.isKnown() && y.isKnown() ? Dim.of(x.get() == y.get() ? 1 : 0)
          : x.isSymbolic() && x.equals(y) ? Dim.of(1)
          : negativeVsSize(x, y) || negativeVsSize(y, x) ? Dim.of(0) : Dim.unknown();
      case "Less" -> (x, y) -> x.isKnown() && y.isKnown() ? Dim.of(x.get() < y.get() ? 1 : 0)
          : negativeVsSize(y, x) ? Dim.of(0) : negativeVsSize(x, y) ? Dim.of(1) : Dim.unknown();
      case "Greater" -> (x, y) -> x.isKnown() && y.isKnown() ? Dim.of(x.get() > y.get() ? 1 : 0)
          : negativeVsSize(y, x) ? Dim.of(1) : negativeVsSize(x, y) ? Dim.of(0) : Dim.unknown();
      case "Mod" -> (x, y) -> x.isKnown() && y.isKnown() && y.get() != 0
          ? Dim.of(c.node().attrLong("fmod", 0) != 0 ? x.get() % y.get() : Math.floorMod(x.get(), y.get()))
          : Dim.unknown();
      default -> null;
    };
    if (op == null) {
      return null;
    }
    int n = Math.max(a.size(), b.size());
    if ((a.size() != n && a.size() != 1) || (b.size() != n && b.size() != 1)) {
      return null;
    }
    List<Dim> out2 = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out2.add(op.apply(at(a, i), at(b, i)));
    }
    return out2;
  }

  /**
   * True when {@code neg} is a known negative number and {@code size} a symbolic size (which is
   * never negative): exporters compare sizes read by Shape with -1, e.g. to pick the entries of an
   * Expand target to keep (ViT's class token expanded to the batch).
   */
  private static boolean negativeVsSize(Dim neg, Dim size) {
    return neg.isKnown() && neg.get() < 0 && size.isSymbolic() && SymbolicDims.isNonNegative(size);
  }

  private static Dim at(List<Dim> d, int i) {
    return d.size() == 1 ? d.get(0) : d.get(i);
  }
}
