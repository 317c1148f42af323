package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The state of one reverse-mode sweep over a graph, and the node-building helpers the gradient
 * rules share. Gradients are accumulated per forward value (several uses add up with {@code
 * Sum}) and materialised when the producer of that value is reached in reverse topological
 * order, so every consumer has contributed by then.
 */
final class GradContext {
  /** A backward that replaces the table rule of one node (a forward pattern emitted as several nodes). */
  @FunctionalInterface
  interface CustomBackward {
    void backward(GradContext ctx);
  }

  final Model model;
  final Graph g;
  final long opset;
  private final Map<Value, List<Value>> contributions = new IdentityHashMap<>();
  private final Map<Value, Value> materialized = new IdentityHashMap<>();
  private final Map<Node, CustomBackward> custom = new IdentityHashMap<>();
  private final Map<String, Value> constants = new HashMap<>();
  private final Set<String> nodeNames = new HashSet<>();
  private Set<Value> dependent = Collections.emptySet();
  private Set<Value> reachesLoss = Collections.emptySet();
  private String prefix = "grad";
  private Node anchor;
  /** Shape data of the forward graph (integer tensors computed from shapes), when given. */
  private dev.onnxprune.graph.shape.ShapeReport shapeData;
  /** Running statistics rewritten by training-mode forward ops: old value to updated value. */
  final Map<Value, Value> bufferUpdates = new java.util.LinkedHashMap<>();

  GradContext(Model model) {
    this.model = model;
    this.g = model.graph();
    this.opset = model.defaultOpsetVersion();
    for (Node n : g.nodes()) {
      if (n.name() != null) {
        nodeNames.add(n.name());
      }
    }
  }

  // ------------------------------------------------------------------ the sweep

  /**
   * Differentiates: {@code seeds} maps values to their incoming gradient (dL/dv); returns the
   * gradient of every value of {@code wrt} (a zero tensor when the loss does not depend on it).
   *
   * @throws GradientException naming the node when an op on the path has no rule
   */
  Map<Value, Value> differentiate(Map<Value, Value> seeds, Collection<Value> wrt) {
    List<Node> order = new ArrayList<>(g.nodes());
    dependent = forwardClosure(wrt);
    reachesLoss = backwardClosure(seeds.keySet());
    for (Map.Entry<Value, Value> s : seeds.entrySet()) {
      addGrad(s.getKey(), s.getValue());
    }
    for (int i = order.size() - 1; i >= 0; i--) {
      Node n = order.get(i);
      boolean any = false;
      for (Value out : n.outputs()) {
        if (out != null && contributions.containsKey(out)) {
          any = true;
          break;
        }
      }
      if (!any) {
        continue;
      }
      prefix = "grad/" + (n.name() == null || n.name().isEmpty() ? n.opType() : n.name());
      CustomBackward c = custom.get(n);
      if (c != null) {
        c.backward(this);
        continue;
      }
      GradRule rule = GradRules.rule(n);
      if (rule == null) {
        throw new GradientException(Messages.noRule(n, GradRules.supported()));
      }
      rule.backward(this, n);
    }
    prefix = "grad";
    Map<Value, Value> out = new IdentityHashMap<>();
    for (Value v : wrt) {
      Value gv = grad(v);
      out.put(v, gv != null ? gv : zerosLike(v));
    }
    return out;
  }

  /** Floating-point values computed from {@code roots} (the roots included). */
  private static Set<Value> forwardClosure(Collection<Value> roots) {
    Set<Value> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Value> work = new ArrayDeque<>();
    for (Value r : roots) {
      if (seen.add(r)) {
        work.add(r);
      }
    }
    while (!work.isEmpty()) {
      Value v = work.poll();
      for (Node n : v.consumers()) {
        for (Value out : n.outputs()) {
          if (out != null && isFloat(out) && seen.add(out)) {
            work.add(out);
          }
        }
      }
    }
    return seen;
  }

  /** Values that {@code roots} depend on (the roots included). */
  private static Set<Value> backwardClosure(Collection<Value> roots) {
    Set<Value> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Value> work = new ArrayDeque<>(roots);
    seen.addAll(roots);
    while (!work.isEmpty()) {
      Value v = work.poll();
      Node p = v.producer();
      if (p == null) {
        continue;
      }
      for (Value in : p.inputs()) {
        if (in != null && seen.add(in)) {
          work.add(in);
        }
      }
    }
    return seen;
  }

  private static boolean isFloat(Value v) {
    ValueType.TensorType t = v.tensorType();
    return t == null || t.elemType().isFloatingPoint();
  }

  /** True when the loss depends on {@code v} and {@code v} depends on a value being differentiated. */
  boolean needsGrad(Value v) {
    return v != null && dependent.contains(v) && reachesLoss.contains(v);
  }

  /** Adds a contribution to dL/dv (ignored when {@code v} needs no gradient). */
  void addGrad(Value v, Value grad) {
    if (!needsGrad(v) || grad == null) {
      return;
    }
    if (materialized.containsKey(v)) {
      throw new IllegalStateException("gradient of '" + v.name() + "' was read before all its uses contributed");
    }
    if (grad.type() == null && v.type() != null) {
      grad.setType(v.type());
    }
    contributions.computeIfAbsent(v, k -> new ArrayList<>()).add(grad);
  }

  /** dL/dv, summing the contributions of its uses; null when nothing flows into it. */
  Value grad(Value v) {
    Value m = materialized.get(v);
    if (m != null) {
      return m;
    }
    List<Value> parts = contributions.get(v);
    if (parts == null || parts.isEmpty()) {
      return null;
    }
    Value sum = parts.size() == 1 ? parts.get(0) : op("Sum", parts);
    if (sum.type() == null) {
      sum.setType(v.type());
    }
    materialized.put(v, sum);
    return sum;
  }

  /** Uses {@code backward} instead of the table rule when {@code node} is reached. */
  void setCustomBackward(Node node, CustomBackward backward) {
    custom.put(node, backward);
  }

  // ------------------------------------------------------------------ shapes

  DataType dtype(Value v) {
    ValueType.TensorType t = v.tensorType();
    if (t == null) {
      throw new GradientException(Messages.unknownType(v));
    }
    return t.elemType();
  }

  int rank(Value v) {
    return dims(v).length;
  }

  /** Sizes of {@code v}, -1 where a dimension is symbolic or unknown. */
  long[] dims(Value v) {
    Shape s = v.shape();
    if (s == null) {
      throw new GradientException(Messages.unknownShape(v));
    }
    long[] d = new long[s.rank()];
    for (int i = 0; i < d.length; i++) {
      d[i] = s.dim(i).isKnown() ? s.dim(i).get() : -1;
    }
    return d;
  }

  /** Sizes of {@code v}, failing with a message naming {@code what} when one is not known. */
  long[] staticDims(Value v, String what) {
    long[] d = dims(v);
    for (long x : d) {
      if (x < 0) {
        throw new GradientException(Messages.needsStaticShape(v, what));
      }
    }
    return d;
  }

  static boolean isStatic(long[] dims) {
    for (long d : dims) {
      if (d < 0) {
        return false;
      }
    }
    return true;
  }

  /** The shape of {@code v} as an INT64 vector: a constant when static, else {@code Shape(v)}. */
  Value shapeOf(Value v) {
    long[] d = dims(v);
    return isStatic(d) ? ints(d) : op("Shape", List.of(v));
  }

  // ------------------------------------------------------------------ emitting nodes

  /** Appends a single-output node. */
  Value op(String opType, List<Value> inputs, Attribute... attrs) {
    return opN(opType, inputs, 1, attrs)[0];
  }

  /** Appends a node with {@code outputs} outputs. */
  Value[] opN(String opType, List<Value> inputs, int outputs, Attribute... attrs) {
    List<String> names = new ArrayList<>(outputs);
    String base = prefix + "/" + opType;
    for (int i = 0; i < outputs; i++) {
      names.add(g.uniqueName(base + (outputs > 1 ? "_" + i : "")));
    }
    String nodeName = names.get(0);
    for (int i = 1; !nodeNames.add(nodeName); i++) {
      nodeName = names.get(0) + "_n" + i;
    }
    Node n = anchor != null ? g.addNodeBefore(anchor, opType, nodeName, inputs, names, attrs)
        : g.addNode(opType, nodeName, inputs, names, attrs);
    Value[] out = new Value[outputs];
    for (int i = 0; i < outputs; i++) {
      out[i] = n.output(i);
    }
    return out;
  }

  /**
   * Makes {@link #op} place nodes right before {@code node} (forward rewrites), or at the end
   * again when null, and names them after {@code namePrefix}.
   */
  void insertBefore(Node node, String namePrefix) {
    anchor = node;
    prefix = namePrefix;
  }

  /** A scalar constant of type {@code type} (FLOAT, DOUBLE or FLOAT16). */
  Value scalar(double value, DataType type) {
    String key = type + ":" + Double.doubleToLongBits(value);
    Value c = constants.get(key);
    if (c == null) {
      c = g.addInitializer(g.uniqueName("grad/const_" + type.name().toLowerCase() + "_" + fmt(value)),
          scalarTensor(value, type));
      constants.put(key, c);
    }
    return c;
  }

  /** A scalar constant of the element type of {@code like}. */
  Value scalarLike(double value, Value like) {
    return scalar(value, dtype(like));
  }

  static Tensor scalarTensor(double value, DataType type) {
    return tensorOf(type, new long[0], new double[] {value});
  }

  /** A tensor of {@code type} (FLOAT or DOUBLE) with the given values. */
  static Tensor tensorOf(DataType type, long[] dims, double[] values) {
    return switch (type) {
      case DOUBLE -> Tensor.ofDoubles(dims, values);
      case FLOAT -> {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
          f[i] = (float) values[i];
        }
        yield Tensor.ofFloats(dims, f);
      }
      default -> throw new GradientException("gradients are computed for FLOAT and DOUBLE tensors, not " + type);
    };
  }

  /** A 1-D INT64 constant. */
  Value ints(long... values) {
    String key = "i64:" + Arrays.toString(values);
    Value c = constants.get(key);
    if (c == null) {
      c = g.addInitializer(g.uniqueName("grad/ints"), Tensor.vector(values));
      constants.put(key, c);
    }
    return c;
  }

  /** A named constant tensor (not shared). */
  Value constant(String base, Tensor t) {
    return g.addInitializer(g.uniqueName(prefix + "/" + base), t);
  }

  private static String fmt(double v) {
    String s = v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    return s.replace('-', 'm').replace('.', 'p');
  }

  // ------------------------------------------------------------------ op helpers (opset-aware)

  Value reduceSum(Value x, long[] axes, boolean keepDims) {
    return op("ReduceSum", List.of(x, ints(axes)), Attribute.of("keepdims", keepDims ? 1L : 0L));
  }

  Value reduceMean(Value x, long[] axes, boolean keepDims) {
    if (opset >= 18) {
      return op("ReduceMean", List.of(x, ints(axes)), Attribute.of("keepdims", keepDims ? 1L : 0L));
    }
    return op("ReduceMean", List.of(x), Attribute.of("axes", axes), Attribute.of("keepdims", keepDims ? 1L : 0L));
  }

  Value reshape(Value x, Value shape) {
    return op("Reshape", List.of(x, shape));
  }

  Value reshape(Value x, long... shape) {
    return reshape(x, ints(shape));
  }

  /**
   * Transpose by {@code perm}; {@code x} itself for the identity permutation (ONNX Runtime 1.29
   * ran a 2-D identity Transpose of a Gemm's output as a swap of its axes in vit_tiny's training
   * step: the class token's gradient came out [64, N] instead of [N, 64]).
   */
  Value transpose(Value x, long... perm) {
    boolean identity = true;
    for (int i = 0; i < perm.length; i++) {
      identity &= perm[i] == i;
    }
    if (identity) {
      return x;
    }
    return op("Transpose", List.of(x), Attribute.of("perm", perm));
  }

  Value unsqueeze(Value x, long... axes) {
    return op("Unsqueeze", List.of(x, ints(axes)));
  }

  Value mul(Value a, Value b) {
    return op("Mul", List.of(a, b));
  }

  Value add(Value a, Value b) {
    return op("Add", List.of(a, b));
  }

  Value sub(Value a, Value b) {
    return op("Sub", List.of(a, b));
  }

  Value div(Value a, Value b) {
    return op("Div", List.of(a, b));
  }

  Value neg(Value a) {
    return op("Neg", List.of(a));
  }

  /** {@code cond ? a : 0} elementwise, zeros of the element type of {@code like}. */
  Value where(Value cond, Value a, Value like) {
    return op("Where", List.of(cond, a, scalarLike(0, like)));
  }

  /** Zeros with the shape and element type of {@code like}. */
  Value zerosLike(Value like) {
    Tensor zero = tensorOf(dtype(like), new long[] {1}, new double[] {0});
    Value z = op("ConstantOfShape", List.of(shapeOf(like)), Attribute.of("value", zero));
    z.setType(like.type());
    return z;
  }

  /** Element count of {@code v} as a scalar of {@code type} (constant when static). */
  Value count(Value v, DataType type) {
    long[] d = dims(v);
    if (isStatic(d)) {
      long n = 1;
      for (long x : d) {
        n *= x;
      }
      return scalar(n, type);
    }
    return op("Cast", List.of(op("Size", List.of(v))), Attribute.of("to", (long) type.code()));
  }

  /**
   * Sums {@code grad} (shaped like {@code gradOf}, a node output) down to the shape of {@code
   * target}, which was broadcast to it (numpy rules): the leading extra axes and the axes where
   * {@code target} has size 1 are summed.
   */
  Value sumTo(Value grad, Value gradOf, Value target) {
    return sumTo(grad, dims(gradOf), target);
  }

  /** {@link #sumTo(Value, Value, Value)} with the sizes of {@code grad} given. */
  Value sumTo(Value grad, long[] from, Value target) {
    long[] to = dims(target);
    int lead = from.length - to.length;
    List<Long> axes = new ArrayList<>();
    for (int i = 0; i < from.length; i++) {
      if (i < lead || (to[i - lead] == 1 && from[i] != 1)) {
        axes.add((long) i);
      }
    }
    if (axes.isEmpty()) {
      return lead == 0 ? grad : reshape(grad, shapeOf(target));
    }
    long[] ax = axes.stream().mapToLong(Long::longValue).toArray();
    Value r = reduceSum(grad, ax, true);
    if (lead > 0 || to.length == 0) {
      r = reshape(r, shapeOf(target));
    }
    r.setType(target.type());
    return r;
  }

  /** Attribute of {@code n} as longs, or {@code dflt} (copied) when absent. */
  static long[] longs(Node n, String attr, long[] dflt) {
    long[] v = n.attrLongs(attr);
    return v != null ? v : dflt.clone();
  }

  /**
   * Makes {@link #longs} also read the integer data that shape inference computed from shapes
   * (a Slice's run-time starts in PyTorch's attention export); {@code report} is the inference
   * of the forward graph as differentiated.
   */
  void useShapeData(dev.onnxprune.graph.shape.ShapeReport report) {
    this.shapeData = report;
  }

  /**
   * The data of input {@code i} of {@code n} as longs: a constant, or data that shape inference
   * computed from static sizes ({@link #useShapeData}); null when the input is absent.
   */
  long[] longs(Node n, int i, String what) {
    Value v = n.input(i);
    if (v != null && v.constantValue() == null && shapeData != null) {
      long[] known = shapeData.constantOf(v);
      if (known != null) {
        return known;
      }
    }
    return constantLongs(n, i, what);
  }

  /** The constant data of input {@code i} of {@code n} as longs (or null when absent). */
  static long[] constantLongs(Node n, int i, String what) {
    Value v = n.input(i);
    if (v == null) {
      return null;
    }
    Tensor t = v.constantValue();
    if (t == null) {
      throw new GradientException(Messages.needsConstant(n, what));
    }
    return t.toLongArray();
  }

  /** The constant data of input {@code i} of {@code n} as doubles (or null when absent or not constant). */
  static double[] constantDoubles(Node n, int i) {
    Value v = n.input(i);
    if (v == null) {
      return null;
    }
    Tensor t = v.constantValue();
    return t == null ? null : t.toDoubleArray();
  }

  static long[] normalizeAxes(long[] axes, int rank) {
    long[] out = new long[axes.length];
    for (int i = 0; i < axes.length; i++) {
      out[i] = axes[i] < 0 ? axes[i] + rank : axes[i];
    }
    Arrays.sort(out);
    return out;
  }

  static long[] range(int from, int to) {
    long[] r = new long[to - from];
    for (int i = 0; i < r.length; i++) {
      r[i] = from + i;
    }
    return r;
  }

  static long[] filled(int n, long v) {
    long[] r = new long[n];
    Arrays.fill(r, v);
    return r;
  }
}
