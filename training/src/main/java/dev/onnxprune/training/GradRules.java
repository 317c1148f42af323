package dev.onnxprune.training;

import dev.onnxprune.graph.Node;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The gradient rules, keyed by op type (default ONNX domain). One enum constant per op, bound
 * to a method of its family class, so a misspelt rule does not compile; the math of each rule
 * is in its family's class comment.
 */
enum GradRules {
  CONV("Conv", ConvGrads::conv),
  CONV_TRANSPOSE("ConvTranspose", ConvGrads::convTranspose),
  GEMM("Gemm", LinearGrads::gemm),
  MAT_MUL("MatMul", LinearGrads::matMul),
  BATCH_NORMALIZATION("BatchNormalization", NormGrads::inference),
  RELU("Relu", ActivationGrads::relu),
  LEAKY_RELU("LeakyRelu", ActivationGrads::leakyRelu),
  CLIP("Clip", ActivationGrads::clip),
  SIGMOID("Sigmoid", ActivationGrads::sigmoid),
  HARD_SIGMOID("HardSigmoid", ActivationGrads::hardSigmoid),
  HARD_SWISH("HardSwish", ActivationGrads::hardSwish),
  TANH("Tanh", ActivationGrads::tanh),
  ADD("Add", ArithmeticGrads::add),
  SUB("Sub", ArithmeticGrads::sub),
  MUL("Mul", ArithmeticGrads::mul),
  DIV("Div", ArithmeticGrads::div),
  NEG("Neg", ArithmeticGrads::neg),
  MAX_POOL("MaxPool", PoolGrads::maxPool),
  AVERAGE_POOL("AveragePool", PoolGrads::averagePool),
  GLOBAL_AVERAGE_POOL("GlobalAveragePool", PoolGrads::globalAveragePool),
  REDUCE_MEAN("ReduceMean", ReduceGrads::reduceMean),
  REDUCE_SUM("ReduceSum", ReduceGrads::reduceSum),
  CONCAT("Concat", LayoutGrads::concat),
  SPLIT("Split", LayoutGrads::split),
  SLICE("Slice", LayoutGrads::slice),
  FLATTEN("Flatten", LayoutGrads::reshapeLike),
  RESHAPE("Reshape", LayoutGrads::reshapeLike),
  SQUEEZE("Squeeze", LayoutGrads::reshapeLike),
  UNSQUEEZE("Unsqueeze", LayoutGrads::reshapeLike),
  TRANSPOSE("Transpose", LayoutGrads::transpose),
  PAD("Pad", LayoutGrads::pad),
  DROPOUT("Dropout", LayoutGrads::dropout),
  IDENTITY("Identity", LayoutGrads::identity),
  SOFTMAX("Softmax", SoftmaxGrads::softmax),
  LOG_SOFTMAX("LogSoftmax", SoftmaxGrads::logSoftmax),
  LAYER_NORMALIZATION("LayerNormalization", NormGrads::layerNormalization),
  ERF("Erf", ActivationGrads::erf),
  SQRT("Sqrt", ActivationGrads::sqrt),
  EXP("Exp", ActivationGrads::exp),
  LOG("Log", ActivationGrads::log),
  RECIPROCAL("Reciprocal", ActivationGrads::reciprocal),
  POW("Pow", ArithmeticGrads::pow),
  WHERE("Where", ArithmeticGrads::where),
  EXPAND("Expand", LayoutGrads::expand),
  GATHER("Gather", LayoutGrads::gather),
  CAST("Cast", LayoutGrads::cast);

  private static final Map<String, GradRules> BY_OP = new HashMap<>();

  static {
    for (GradRules r : values()) {
      BY_OP.put(r.opType, r);
    }
  }

  final String opType;
  private final GradRule rule;

  GradRules(String opType, GradRule rule) {
    this.opType = opType;
    this.rule = rule;
  }

  /** The rule for {@code n}, or null when it has none (or is outside the default domain). */
  static GradRule rule(Node n) {
    if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) {
      return null;
    }
    GradRules r = BY_OP.get(n.opType());
    return r == null ? null : r.rule;
  }

  /** Op types that have a rule, sorted. */
  static List<String> supported() {
    List<String> ops = new ArrayList<>(BY_OP.keySet());
    Collections.sort(ops);
    return ops;
  }
}
