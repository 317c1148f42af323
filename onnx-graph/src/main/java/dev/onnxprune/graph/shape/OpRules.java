package dev.onnxprune.graph.shape;

import java.util.HashMap;
import java.util.Map;

/**
 * The table of shape rules, keyed by op type of the default ONNX domain. Each op family
 * registers its rules; registering an op twice fails when the class loads, so a typo or a
 * copy-paste duplicate cannot silently shadow a rule.
 */
final class OpRules {
  private static final Map<String, OpRule> TABLE = build();

  private OpRules() {}

  private static Map<String, OpRule> build() {
    Map<String, OpRule> t = new HashMap<>();
    ConvRules.register(t);
    PoolRules.register(t);
    LinearRules.register(t);
    ElementwiseRules.register(t);
    ReduceRules.register(t);
    LayoutRules.register(t);
    ResizeRules.register(t);
    ShapeDataRules.register(t);
    ControlFlowRules.register(t);
    RecurrentRules.register(t);
    return Map.copyOf(t);
  }

  static void put(Map<String, OpRule> table, String opType, OpRule rule) {
    if (table.putIfAbsent(opType, rule) != null) {
      throw new IllegalStateException("two shape rules registered for op " + opType);
    }
  }

  /** The rule for an op of the default domain, or null when there is none. */
  static OpRule get(String opType) {
    return TABLE.get(opType);
  }

  /** Op types that have a rule. */
  static java.util.Set<String> opTypes() {
    return TABLE.keySet();
  }
}
