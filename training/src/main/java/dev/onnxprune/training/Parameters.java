package dev.onnxprune.training;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainable parameters and buffers of a model (see {@link TrainingOptions} for which
 * initializers they are), and turning them into graph inputs of the same names.
 */
final class Parameters {
  enum Kind { PARAMETER, BUFFER }

  /** One parameter or buffer: its name in the generated graphs, the value it replaces, its initial data. */
  record Entry(String name, Value value, Tensor initial, Kind kind) {}

  final List<Entry> parameters = new ArrayList<>();
  final List<Entry> buffers = new ArrayList<>();
  /** Lifted graph inputs by name. */
  final Map<String, Value> inputs = new LinkedHashMap<>();

  private Parameters() {}

  /** Classifies the initializers of {@code work} and replaces parameters and buffers by graph inputs. */
  static Parameters lift(Model work, TrainingOptions o) {
    Graph g = work.graph();
    Map<String, Entry> found = new LinkedHashMap<>();
    for (Node n : g.nodes()) {
      int[] params = paramSlots(n);
      for (int i : params) {
        consider(n.input(i), Kind.PARAMETER, found);
      }
      if (n.is("BatchNormalization") && o.batchNormMode() == BatchNormMode.TRAINING) {
        consider(n.input(3), Kind.BUFFER, found);
        consider(n.input(4), Kind.BUFFER, found);
      }
    }
    for (String name : o.trainable()) {
      Value v = g.lookup(name);
      if (v == null || source(v) == null) {
        throw new GradientException(Messages.unknownName("trainable initializer", name, Models.names(g.initializers())));
      }
      found.putIfAbsent(name, new Entry(name, v, source(v), Kind.PARAMETER));
    }
    for (String name : o.frozen()) {
      Entry e = found.get(name);
      boolean any = false;
      if (e != null && e.kind == Kind.PARAMETER) {
        found.remove(name);
        any = true;
      }
      // Freezing a shared initializer freezes its Identity copies too.
      Value v = g.lookup(name);
      for (Entry other : new ArrayList<>(found.values())) {
        if (other.kind == Kind.PARAMETER && v != null && v.isInitializer() && root(other.value) == v) {
          found.remove(other.name);
          any = true;
        }
      }
      if (!any && (v == null || !v.isInitializer())) {
        List<String> names = new ArrayList<>();
        for (Entry p : found.values()) {
          if (p.kind == Kind.PARAMETER) {
            names.add(p.name);
          }
        }
        throw new GradientException(Messages.unknownName("parameter to freeze", name, names));
      }
    }
    Parameters ps = new Parameters();
    for (Entry e : found.values()) {
      (e.kind == Kind.PARAMETER ? ps.parameters : ps.buffers).add(e);
    }
    for (String name : o.weightMasks().keySet()) {
      if (ps.parameters.stream().noneMatch(p -> p.name.equals(name))) {
        throw new GradientException(Messages.unknownName("masked parameter", name, Models.names(
            ps.parameters.stream().map(Entry::value).toList())));
      }
    }
    // Identity copies first: lifting their source initializer must not rewire them.
    List<Entry> order = new ArrayList<>(found.values());
    order.sort((a, b) -> Boolean.compare(a.value.isInitializer(), b.value.isInitializer()));
    for (Entry e : order) {
      ps.inputs.put(e.name, liftOne(g, e));
    }
    return ps;
  }

  /** Input slots of {@code n} that hold weights or biases. */
  private static int[] paramSlots(Node n) {
    int[] t = transformerSlots(n);
    if (t.length > 0) {
      return t;
    }
    if (n.is("Conv") || n.is("ConvTranspose")) {
      return new int[] {1, 2};
    }
    if (n.is("Gemm")) {
      return new int[] {0, 1, 2};
    }
    if (n.is("MatMul")) {
      return new int[] {0, 1};
    }
    if (n.is("BatchNormalization")) {
      return new int[] {1, 2};
    }
    return new int[0];
  }

  /**
   * The learned tensors of transformers that are not a layer's weight: the bias of a Linear
   * exported as MatMul then Add, an embedding table (a
   * Gather's data), LayerNormalization's scale and bias, the affine of a LayerNorm or RMSNorm
   * decomposed by the exporter (a Mul by a tensor of the value just divided by a square root,
   * and the Add of a tensor right after it), and a learned token or position table {@code [1,
   * tokens, width]} concatenated to or added onto the token sequence (ViT's class token and
   * position embedding). Scalars (GELU's 0.5, a norm's epsilon, attention's 1/sqrt(d)) stay
   * constants.
   */
  private static int[] transformerSlots(Node n) {
    if (n.is("Gather")) {
      return new int[] {0};
    }
    if (n.is("LayerNormalization")) {
      return new int[] {1, 2};
    }
    if (n.is("Mul") && n.inputCount() == 2) {
      for (int i = 0; i < 2; i++) {
        if (isTensorConstant(n.input(1 - i)) && dividedBySqrt(n.input(i), 2)) {
          return new int[] {1 - i};
        }
      }
    }
    if (n.is("Add") && n.inputCount() == 2) {
      for (int i = 0; i < 2; i++) {
        Node p = n.input(i).producer();
        if (isTensorConstant(n.input(1 - i)) && p != null && p.is("Mul") && transformerSlots(p).length > 0) {
          return new int[] {1 - i};
        }
        if (isTensorConstant(n.input(1 - i)) && p != null && p.is("MatMul") && source(p.input(1)) != null) {
          return new int[] {1 - i}; // a Linear's bias after its MatMul
        }
        if (isTokenTable(n.input(1 - i)) && p != null && p.is("Concat")) {
          return new int[] {1 - i};
        }
      }
    }
    if (n.is("Expand") && isTokenTable(n.input(0))) {
      Node c = n.output(0).consumers().isEmpty() ? null : n.output(0).consumers().get(0);
      if (c != null && c.is("Concat")) {
        return new int[] {0};
      }
    }
    return new int[0];
  }

  /** True when {@code v} is, or is a Mul by, the quotient of a division by a Sqrt (a norm's normalised value). */
  private static boolean dividedBySqrt(Value v, int depth) {
    Node p = v == null ? null : v.producer();
    if (p == null || depth == 0) {
      return false;
    }
    if (p.is("Div") && p.input(1).producer() != null && p.input(1).producer().is("Sqrt")) {
      return true;
    }
    return p.is("Mul") && (dividedBySqrt(p.input(0), depth - 1) || dividedBySqrt(p.input(1), depth - 1));
  }

  private static boolean isTensorConstant(Value v) {
    Tensor t = v == null ? null : source(v);
    return t != null && t.dataType().isFloatingPoint() && t.elementCount() > 1;
  }

  private static boolean isTokenTable(Value v) {
    Tensor t = v == null ? null : source(v);
    return t != null && t.dataType().isFloatingPoint() && t.rank() == 3 && t.dim(0) == 1 && t.dim(2) > 1;
  }

  private static void consider(Value v, Kind kind, Map<String, Entry> found) {
    if (v == null || found.containsKey(v.name())) {
      return;
    }
    Tensor t = source(v);
    if (t != null && t.dataType().isFloatingPoint()) {
      found.put(v.name(), new Entry(v.name(), v, t, kind));
    }
  }

  /** The initializer data of {@code v}, directly or through Identity nodes; null when not constant. */
  static Tensor source(Value v) {
    Value r = root(v);
    return r.isInitializer() ? r.initializer() : null;
  }

  private static Value root(Value v) {
    Value r = v;
    while (r.producer() != null && r.producer().is("Identity")) {
      r = r.producer().input(0);
    }
    return r;
  }

  private static Value liftOne(Graph g, Entry e) {
    Value v = e.value;
    Value in = g.addInput(g.uniqueName(e.name + "__lifted"),
        new ValueType.TensorType(e.initial.dataType(), e.initial.shape()));
    v.replaceAllUsesWith(in);
    for (int i = 0; i < g.outputs().size(); i++) {
      if (g.outputs().get(i) == v) {
        g.setOutput(i, in);
      }
    }
    if (v.isInitializer()) {
      g.removeInitializer(v);
    } else {
      g.removeNode(v.producer());
    }
    in.rename(e.name);
    return in;
  }

}
