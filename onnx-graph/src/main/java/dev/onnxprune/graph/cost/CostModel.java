package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.PositionTables;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.graph.shape.SymbolicDims;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Static cost of a model: per node MACs, FLOPs, parameters and output bytes, and their totals.
 *
 * <p><b>Convention.</b>
 * <ul>
 *   <li><b>MACs</b> (multiply-accumulates) are counted for Conv, ConvTranspose, Gemm and MatMul
 *       only: Conv {@code N*Cout*Hout*Wout*(Cin/group)*kH*kW} (any number of spatial dims);
 *       ConvTranspose {@code N*Cin*Hin*Win*(Cout/group)*kH*kW}; Gemm {@code M*N*K}; MatMul
 *       {@code (batch*M*N)*K}. Bias additions (and Gemm's alpha/beta scaling) are not counted,
 *       neither as MACs nor as FLOPs.
 *   <li><b>FLOPs</b> are {@code 2 x MACs} for those four ops. Every other op counts one FLOP per
 *       output element per arithmetic operation: BatchNormalization (inference: scale and shift)
 *       2 per element; activations and unary math (Relu, Sigmoid, Clip, HardSwish, Erf, Sqrt, ...)
 *       1; binary elementwise ops (Add, Mul, Div, Pow, comparisons, Where) 1; variadic Sum/Max/Min
 *       {@code inputs - 1}, Mean {@code inputs}; MaxPool/AveragePool/LpPool the kernel's element
 *       count per output element; GlobalAveragePool/GlobalMaxPool and the Reduce family and
 *       ArgMax/ArgMin one per <em>input</em> element; Softmax/LogSoftmax 3; Resize/Upsample 1;
 *       InstanceNormalization/LayerNormalization/GroupNormalization 7 (mean, subtract, square,
 *       variance sum, normalize, scale, shift). Ops that only move or describe data (Reshape,
 *       Flatten, Identity, Dropout, Concat, Split, Slice, Transpose, Squeeze, Unsqueeze, Pad,
 *       Gather, GatherND, ScatterND, ScatterElements, Shape, Constant, Cast, Expand, Tile, ...) are 0.
 *   <li><b>Parameters</b> of a node: elements of the initializers it reads, directly or through
 *       Identity nodes, each counted once per node. {@link CostReport#totalParams()} is the
 *       element count of all the model's initializers (all graphs, any element type), each once.
 *   <li><b>Output bytes</b>: elements of each node output times its element size (sub-byte types
 *       packed); the total is their sum.
 *   <li><b>Batch</b>: a symbolic dim named like axis 0 of a graph input counts as 1 (also inside a
 *       derived name such as {@code "N*3"}, see {@link SymbolicDims}).
 *   <li><b>Sequence</b>: every other symbolic dim of a graph input (a token model's sequence
 *       length) counts as the sequence length: the one given to {@link #analyze(Model, long)},
 *       else the rows of the model's smallest position table ({@link PositionTables#smallest}),
 *       the longest sequence it accepts; a model without one leaves them unbound. Any unbound
 *       symbolic or unknown dim the count needs makes that node's cost unknown
 *       ({@link NodeCost#known()} false, counted as 0 in the totals).
 * </ul>
 *
 * <p>Only the main graph's nodes are costed; nodes with subgraphs (If, Loop, Scan) and ops
 * without a rule (other domains, e.g. LRN, Einsum) are unknown.
 */
public final class CostModel {
  private CostModel() {}

  /**
   * Costs every node of the main graph. Runs {@link ShapeInference#infer(Model)} first when a
   * node output has no known shape (which writes the inferred types to the model's values).
   */
  public static CostReport analyze(Model model) {
    return analyze(model, 0);
  }

  /**
   * Costs every node of the main graph with the symbolic dims of its inputs other than the batch
   * bound to {@code sequenceLength} (0: the smallest position table's rows, see the class
   * comment). Runs {@link ShapeInference#infer(Model)} first when a node output has no known shape.
   *
   * @throws IllegalArgumentException when {@code sequenceLength} is negative
   */
  public static CostReport analyze(Model model, long sequenceLength) {
    if (sequenceLength < 0) {
      throw new IllegalArgumentException("the sequence length must be positive (0 for the position table's): "
          + sequenceLength);
    }
    Graph g = model.graph();
    if (needsInference(g)) {
      ShapeInference.infer(model);
    }
    long sequence = sequenceLength > 0 ? sequenceLength : PositionTables.smallest(model);
    Sizes sizes = new Sizes(bindings(g, sequence));
    List<NodeCost> costs = new ArrayList<>(g.nodes().size());
    long macs = 0;
    long flops = 0;
    long bytes = 0;
    for (Node n : g.nodes()) {
      NodeCost c = cost(n, sizes);
      costs.add(c);
      try {
        // the report sums these: they must not overflow there either
        macs = Math.addExact(macs, c.macs());
        flops = Math.addExact(flops, c.flops());
        bytes = Math.addExact(bytes, c.outputBytes());
      } catch (ArithmeticException e) {
        throw n.invalid("the model's cost overflows 64-bit arithmetic when this node's is added (its own: "
            + c.macs() + " MACs, " + c.outputBytes() + " output bytes)");
      }
    }
    return new CostReport(costs, totalParams(model));
  }

  private static boolean needsInference(Graph g) {
    for (Node n : g.nodes()) {
      for (Value v : n.outputs()) {
        if (v != null && v.shape() == null && !(v.type() instanceof ValueType.OtherType)) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * The symbols on axis 0 of the graph's runtime inputs bound to 1; their other symbols to
   * {@code sequence} when it is positive.
   */
  private static Map<String, Long> bindings(Graph g, long sequence) {
    Map<String, Long> b = new HashMap<>();
    for (Value in : g.runtimeInputs()) {
      Shape s = in.shape();
      if (s != null && s.rank() > 0 && s.dim(0).isSymbolic()) {
        b.put(s.dim(0).param(), 1L);
      }
    }
    if (sequence > 0) {
      for (Value in : g.runtimeInputs()) {
        Shape s = in.shape();
        for (int i = 1; s != null && i < s.rank(); i++) {
          if (s.dim(i).isSymbolic()) {
            b.putIfAbsent(s.dim(i).param(), sequence);
          }
        }
      }
    }
    return b;
  }

  /**
   * @throws dev.onnxprune.errors.InvalidModelException when a count overflows 64 bits (dimensions
   *     such as 2^40 along several axes): it names the node and the shapes of its inputs and outputs
   */
  private static NodeCost cost(Node n, Sizes sizes) {
    try {
      return costOf(n, sizes);
    } catch (ArithmeticException e) {
      StringBuilder shapes = new StringBuilder();
      for (Value v : n.inputs()) {
        shapes.append(shapes.length() == 0 ? "" : ", ").append(v == null ? "-" : "'" + v.name() + "' " + v.shape());
      }
      for (Value v : n.outputs()) {
        shapes.append(" -> ").append(v == null ? "-" : "'" + v.name() + "' " + v.shape());
      }
      throw n.invalid("its cost overflows 64-bit arithmetic: the shapes are too large (" + shapes + ")");
    }
  }

  private static NodeCost costOf(Node n, Sizes sizes) {
    long params = params(n);
    boolean known = true;
    long bytes = 0;
    for (Value out : n.outputs()) {
      if (out == null) {
        continue;
      }
      try {
        ValueType.TensorType t = out.tensorType();
        if (t == null) {
          throw new Sizes.UnknownSize("type of '" + out.name() + "'");
        }
        bytes = Math.addExact(bytes, t.elemType().byteSize(sizes.elements(out)));
      } catch (Sizes.UnknownSize e) {
        known = false;
      }
    }
    long macs = 0;
    long flops = 0;
    CostRule rule = n.domain().isEmpty() || n.domain().equals("ai.onnx") ? OpCosts.get(n.opType()) : null;
    if (rule == null || !n.subgraphs().isEmpty()) {
      known = false;
    } else {
      try {
        long[] c = rule.count(n, sizes);
        macs = c[0];
        flops = c[1];
      } catch (Sizes.UnknownSize e) {
        known = false;
      }
    }
    return new NodeCost(n, macs, flops, params, bytes, known);
  }

  /** Elements of the distinct initializers {@code n} reads, directly or through Identity chains. */
  private static long params(Node n) {
    Set<Value> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    long total = 0;
    for (Value in : n.inputs()) {
      Value v = in == null ? null : in.behindIdentity();
      if (v != null && v.isInitializer() && seen.add(v)) {
        total += v.initializer().elementCount();
      }
    }
    return total;
  }

  private static long totalParams(Model model) {
    long total = 0;
    for (Graph g : model.allGraphs()) {
      for (Value init : g.initializers()) {
        total += init.initializer().elementCount();
      }
    }
    return total;
  }
}
