package dev.onnxprune.graph.cost;

import dev.onnxprune.graph.Node;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The table of cost rules, keyed by op type of the default ONNX domain (the numbers are the
 * convention documented on {@link CostModel}). Registering an op twice fails at class load.
 */
final class OpCosts {
  private OpCosts() {}

  /** One FLOP per output element: activations and unary math. */
  static final List<String> ONE_PER_ELEMENT = List.of(
      "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu",
      "Softplus", "Softsign", "Mish", "Gelu", "ThresholdedRelu", "Clip", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg",
      "Reciprocal", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Not", "Hardmax", "Resize", "Upsample",
      // binary elementwise: one operation per output element
      "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
      "Or", "Xor", "Where", "BitShift");

  /** Ops that only move, select or describe data: 0 FLOPs. */
  static final List<String> FREE = List.of(
      "Identity", "Dropout", "Reshape", "Flatten", "Transpose", "Concat", "Split", "Slice", "Squeeze", "Unsqueeze",
      "Pad", "Expand", "Tile", "Gather", "GatherElements", "Shape", "Size", "Constant", "ConstantOfShape", "Cast",
      "CastLike", "DepthToSpace", "SpaceToDepth", "Range", "GatherND", "ScatterND", "ScatterElements");

  /** Normalizations that compute statistics at run time: 7 FLOPs per element. */
  static final List<String> RUNTIME_NORMS = List.of("InstanceNormalization", "LayerNormalization",
      "GroupNormalization", "MeanVarianceNormalization");

  /** Reductions: one FLOP per input element. */
  static final List<String> REDUCTIONS = List.of("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
      "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
      "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool");

  // After the lists above: static fields initialise in textual order.
  private static final Map<String, CostRule> TABLE = build();

  private static Map<String, CostRule> build() {
    Map<String, CostRule> t = new HashMap<>();
    put(t, "Conv", OpCosts::conv);
    put(t, "ConvTranspose", OpCosts::convTranspose);
    put(t, "Gemm", OpCosts::gemm);
    put(t, "MatMul", OpCosts::matMul);
    put(t, "LSTM", OpCosts::recurrent);
    put(t, "GRU", OpCosts::recurrent);
    put(t, "RNN", OpCosts::recurrent);
    put(t, "BatchNormalization", (n, s) -> flops(2 * s.outputElements(n)));
    for (String op : RUNTIME_NORMS) {
      put(t, op, (n, s) -> flops(7 * s.outputElements(n)));
    }
    for (String op : ONE_PER_ELEMENT) {
      put(t, op, (n, s) -> flops(s.outputElements(n)));
    }
    put(t, "Sum", (n, s) -> flops((n.inputCount() - 1) * s.outputElements(n)));
    put(t, "Max", (n, s) -> flops((n.inputCount() - 1) * s.outputElements(n)));
    put(t, "Min", (n, s) -> flops((n.inputCount() - 1) * s.outputElements(n)));
    put(t, "Mean", (n, s) -> flops(n.inputCount() * s.outputElements(n)));
    put(t, "Softmax", (n, s) -> flops(3 * s.outputElements(n)));
    put(t, "LogSoftmax", (n, s) -> flops(3 * s.outputElements(n)));
    for (String op : List.of("MaxPool", "AveragePool", "LpPool")) {
      put(t, op, OpCosts::pool);
    }
    for (String op : REDUCTIONS) {
      put(t, op, (n, s) -> flops(s.inputElements(n, 0)));
    }
    for (String op : FREE) {
      put(t, op, (n, s) -> flops(0));
    }
    return Map.copyOf(t);
  }

  private static void put(Map<String, CostRule> t, String op, CostRule rule) {
    if (t.putIfAbsent(op, rule) != null) {
      throw new IllegalStateException("two cost rules registered for op " + op);
    }
  }

  static CostRule get(String opType) {
    return TABLE.get(opType);
  }

  private static long[] flops(long f) {
    return new long[] {0, f};
  }

  private static long[] macs(long m) {
    return new long[] {m, Math.multiplyExact(2, m)};
  }

  /** Output elements x (Cin / group) x kernel elements, i.e. N*Cout*Hout*Wout*(Cin/group)*kH*kW. */
  static long[] conv(Node n, Sizes s) {
    long[] w = s.dims(n.input(1));
    long perOutput = 1;
    for (int i = 1; i < w.length; i++) {
      perOutput = Math.multiplyExact(perOutput, w[i]);
    }
    return macs(Math.multiplyExact(s.outputElements(n), perOutput));
  }

  /** Input elements x (Cout / group) x kernel elements: each input element is scattered into the output. */
  static long[] convTranspose(Node n, Sizes s) {
    long[] w = s.dims(n.input(1));
    long perInput = 1;
    for (int i = 1; i < w.length; i++) {
      perInput = Math.multiplyExact(perInput, w[i]);
    }
    return macs(Math.multiplyExact(s.inputElements(n, 0), perInput));
  }

  /** M x N x K. */
  static long[] gemm(Node n, Sizes s) {
    long[] a = s.dims(n.input(0));
    long k = a[n.attrLong("transA", 0) != 0 ? 0 : 1];
    return macs(Math.multiplyExact(s.outputElements(n), k));
  }

  /**
   * RNN, GRU, LSTM: the gate products of every step, seq x batch x directions x gates x hidden x
   * (input + hidden) MACs (W by x_t and R by h_{t-1}; gates: LSTM 4, GRU 3, RNN 1); the
   * element-wise gate arithmetic is not counted.
   */
  static long[] recurrent(Node n, Sizes s) {
    long[] x = s.dims(n.input(0));
    long[] w = s.dims(n.input(1));
    long hidden = n.attrLong("hidden_size", -1);
    if (x.length != 3 || w.length != 3 || hidden <= 0) {
      throw new Sizes.UnknownSize("X, W or hidden_size of " + n.describe());
    }
    // W is [directions, gates * hidden, input]; X's first two axes are seq and batch in either layout
    long steps = Math.multiplyExact(x[0], x[1]);
    return macs(Math.multiplyExact(Math.multiplyExact(steps, Math.multiplyExact(w[0], w[1])), w[2] + hidden));
  }

  /** Output elements x K (K = the first operand's last dim). */
  static long[] matMul(Node n, Sizes s) {
    long[] a = s.dims(n.input(0));
    return macs(Math.multiplyExact(s.outputElements(n), a[a.length - 1]));
  }

  /** Kernel elements per output element. */
  static long[] pool(Node n, Sizes s) {
    long[] kernel = n.attrLongs("kernel_shape");
    long k = 1;
    for (long x : kernel == null ? new long[0] : kernel) {
      k *= x;
    }
    return flops(Math.multiplyExact(s.outputElements(n), k));
  }
}
