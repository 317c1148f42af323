package dev.onnxprune.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A cheap structural check of a model, run after every pass in tests and debug mode:
 * <ol>
 *   <li>every node input is visible from the node's graph and lists the node among its uses;
 *   <li>every recorded use points back at a node input that holds the value;
 *   <li>nodes are in topological order (inputs are graph inputs, initializers, outer-scope
 *       values, or outputs of earlier nodes);
 *   <li>every node output names its producer, and graph outputs are defined;
 *   <li>weights match their ops where shapes are known: Conv/ConvTranspose {@code group} at
 *       least 1, weight rank and input channels (with {@code group}), bias length;
 *       BatchNormalization parameter lengths;
 *       Gemm inner dimensions.
 * </ol>
 */
public final class GraphVerifier {
  private GraphVerifier() {}

  /** Problems found, one line each; empty when the model is consistent. */
  public static List<String> check(Model model) {
    List<String> problems = new ArrayList<>();
    checkGraph(model.graph(), problems);
    return problems;
  }

  /**
   * Checks the model and throws when it is inconsistent.
   *
   * @throws GraphException listing every problem found
   */
  public static void verify(Model model) {
    List<String> problems = check(model);
    if (!problems.isEmpty()) {
      throw new GraphException("graph verification failed (" + problems.size() + " problem"
          + (problems.size() == 1 ? "" : "s") + "):\n  " + String.join("\n  ", problems));
    }
  }

  private static void checkGraph(Graph g, List<String> problems) {
    String where = "graph '" + g.name() + "'";
    Set<Value> available = Collections.newSetFromMap(new IdentityHashMap<>());
    available.addAll(g.inputs());
    available.addAll(g.initializers());
    available.addAll(g.sparseInitializers());
    Map<Node, Boolean> inGraph = new IdentityHashMap<>();
    for (Node n : g.nodes()) {
      inGraph.put(n, true);
    }
    for (Node n : g.nodes()) {
      if (n.graph() != g) {
        problems.add(where + ": " + n.describe() + " is listed but belongs to " + n.graph());
      }
      for (int i = 0; i < n.inputCount(); i++) {
        Value v = n.input(i);
        if (v == null) {
          continue;
        }
        if (g.lookup(v.name()) != v) {
          problems.add(where + ": " + n.describe() + " input " + i + " '" + v.name() + "' is not visible here");
        }
        if (!v.uses().contains(new Use(n, i))) {
          problems.add(where + ": value '" + v.name() + "' does not record its use by " + n.describe() + " input " + i);
        }
        if (v.graph() == g && !available.contains(v)) {
          problems.add(where + ": " + n.describe() + " reads '" + v.name() + "' before it is computed"
              + (v.producer() == null ? " (no producer)" : " by " + v.producer().describe()));
        }
      }
      for (int i = 0; i < n.outputCount(); i++) {
        Value out = n.output(i);
        if (out == null) {
          continue;
        }
        if (out.producer() != n || out.producerIndex() != i) {
          problems.add(where + ": output " + i + " '" + out.name() + "' of " + n.describe() + " names another producer");
        }
        if (g.value(out.name()) != out) {
          problems.add(where + ": output '" + out.name() + "' of " + n.describe() + " is not registered in the graph");
        }
        available.add(out);
      }
      checkWeights(n, problems);
      for (Graph sub : n.subgraphs()) {
        if (sub.parent() != n) {
          problems.add(where + ": subgraph '" + sub.name() + "' of " + n.describe() + " has another parent");
        }
        checkGraph(sub, problems);
      }
    }
    for (Value v : g.values()) {
      for (Use u : v.uses()) {
        if (u.node().input(u.index()) != v) {
          problems.add(where + ": value '" + v.name() + "' records a stale use " + u);
        } else if (u.node().graph() == g && !inGraph.containsKey(u.node())) {
          problems.add(where + ": value '" + v.name() + "' is used by " + u.node().describe()
              + ", which is not in the graph");
        }
      }
    }
    for (Value out : g.outputs()) {
      if (g.lookup(out.name()) != out) {
        problems.add(where + ": graph output '" + out.name() + "' is not defined");
      }
    }
  }

  /** The weight rules (5 above) for {@code n}; {@link ModelChecker} runs them too. */
  static void checkWeights(Node n, List<String> problems) {
    if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) {
      return;
    }
    switch (n.opType()) {
      case "Conv", "ConvTranspose" -> checkConv(n, problems);
      case "BatchNormalization" -> checkBatchNorm(n, problems);
      case "Gemm" -> checkGemm(n, problems);
      default -> { }
    }
  }

  private static long[] dims(Value v) {
    if (v == null) {
      return null;
    }
    Tensor t = v.constantValue();
    if (t != null) {
      return t.dims();
    }
    Shape s = v.shape();
    if (s == null) {
      return null;
    }
    long[] out = new long[s.rank()];
    for (int i = 0; i < out.length; i++) {
      out[i] = s.dim(i).isKnown() ? s.dim(i).get() : -1;
    }
    return out;
  }

  private static void checkConv(Node n, List<String> problems) {
    long[] w = dims(n.input(1));
    if (w == null) {
      return;
    }
    if (w.length < 3) {
      problems.add(n.describe() + ": weight '" + n.input(1).name() + "' has rank " + w.length + ", needs at least 3");
      return;
    }
    long group = n.attrLong("group", 1);
    if (group < 1) {
      problems.add(n.describe() + ": attribute 'group' is " + group + "; it must be at least 1");
      return;
    }
    long[] x = dims(n.input(0));
    boolean transpose = n.opType().equals("ConvTranspose");
    if (x != null && x.length == w.length && x[1] >= 0 && w[transpose ? 0 : 1] >= 0) {
      long inChannels = transpose ? w[0] : w[1] * group;
      if (inChannels != x[1]) {
        problems.add(n.describe() + ": input has " + x[1] + " channels but weight '" + n.input(1).name()
            + "' " + java.util.Arrays.toString(w) + " with group " + group + " expects " + inChannels);
      }
    }
    long outChannels = transpose ? w[1] * group : w[0];
    if (!transpose && w[0] % group != 0) {
      problems.add(n.describe() + ": " + w[0] + " output channels are not divisible by group " + group);
    }
    if (transpose && w[0] % group != 0) {
      problems.add(n.describe() + ": " + w[0] + " input channels are not divisible by group " + group);
    }
    long[] b = dims(n.input(2));
    if (b != null && (b.length != 1 || b[0] != outChannels)) {
      problems.add(n.describe() + ": bias '" + n.input(2).name() + "' " + java.util.Arrays.toString(b)
          + " does not match " + outChannels + " output channels");
    }
  }

  private static void checkBatchNorm(Node n, List<String> problems) {
    long[] scale = dims(n.input(1));
    if (scale == null || scale.length != 1) {
      return;
    }
    for (int i = 2; i <= 4; i++) {
      long[] p = dims(n.input(i));
      if (p != null && (p.length != 1 || p[0] != scale[0])) {
        problems.add(n.describe() + ": parameter '" + n.input(i).name() + "' " + java.util.Arrays.toString(p)
            + " does not match scale length " + scale[0]);
      }
    }
    long[] x = dims(n.input(0));
    if (x != null && x.length >= 2 && x[1] >= 0 && x[1] != scale[0]) {
      problems.add(n.describe() + ": input has " + x[1] + " channels, scale has " + scale[0]);
    }
  }

  private static void checkGemm(Node n, List<String> problems) {
    long[] a = dims(n.input(0));
    long[] b = dims(n.input(1));
    if (a == null || b == null || a.length != 2 || b.length != 2) {
      return;
    }
    long k1 = n.attrLong("transA", 0) == 0 ? a[1] : a[0];
    long k2 = n.attrLong("transB", 0) == 0 ? b[0] : b[1];
    if (k1 >= 0 && k2 >= 0 && k1 != k2) {
      problems.add(n.describe() + ": inner dimensions differ: A gives " + k1 + ", B '" + n.input(1).name() + "' gives " + k2);
    }
  }
}
