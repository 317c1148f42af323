package dev.onnxprune.graph;

import dev.onnxprune.errors.InvalidModelException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What ONNX's checker refuses in a model that reads. Reading and writing keep such a model as it
 * is (lossless); this says what is wrong with it, so that {@code convert} can warn and {@code
 * prune} refuse. The rules, each problem one line naming the node and attribute:
 * <ol>
 *   <li>{@code ir_version} is set, at most the newest IR version ONNX defines, below 3 only without
 *       opset imports and from 3 on with at least one;
 *   <li>the default domain ({@code ""} or {@code ai.onnx}) is imported once, at a version ONNX
 *       defines (1 to the newest), and every node's domain is imported;
 *   <li>every node of the default domain names an operator that its opset defines and has not
 *       deprecated (the table {@code onnx-operators.txt}, generated from ONNX's
 *       {@code operator_sets.h} by {@code onnx-graph/tools/onnx-operators.sh});
 *   <li>nodes are in topological order, and no nodes form a cycle (each named with its path);
 *   <li>weights match their ops where shapes are known ({@link GraphVerifier}'s weight rules:
 *       Conv/ConvTranspose {@code group} at least 1 and dividing the channels, bias, BatchNorm
 *       parameters, Gemm inner dimensions);
 *   <li>Conv's and pooling's {@code strides}, {@code dilations} and {@code kernel_shape} are at
 *       least 1, and {@code pads} are at least 0, a begin and an end per axis;
 *   <li>no declared dimension (of an input, output or value_info) is negative.
 * </ol>
 * Subgraphs are checked with their parent model's imports. Functions are not checked.
 */
public final class ModelChecker {
  private ModelChecker() {}

  /** The operator table: op -> since versions (ascending), a negative entry -v: deprecated from v. */
  private static final Map<String, long[]> OPS = new HashMap<>();
  private static final long MAX_OPSET;
  private static final long MAX_IR_VERSION;

  static {
    long maxOpset = 0;
    long maxIr = 0;
    try (InputStream in = ModelChecker.class.getResourceAsStream("onnx-operators.txt")) {
      if (in == null) {
        throw new IllegalStateException("onnx-operators.txt is missing from the onnx-graph jar");
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.trim().split("\\s+");
        switch (f[0]) {
          case "max-opset" -> maxOpset = Long.parseLong(f[1]);
          case "max-ir-version" -> maxIr = Long.parseLong(f[1]);
          default -> {
            long[] v = new long[f.length - 1];
            for (int i = 1; i < f.length; i++) {
              v[i - 1] = f[i].endsWith("!") ? -Long.parseLong(f[i].substring(0, f[i].length() - 1))
                  : Long.parseLong(f[i]);
            }
            OPS.put(f[0], v);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    MAX_OPSET = maxOpset;
    MAX_IR_VERSION = maxIr;
  }

  /** The newest opset of the default domain that ONNX defines. */
  public static long maxOpset() {
    return MAX_OPSET;
  }

  /** The newest IR version that ONNX defines. */
  public static long maxIrVersion() {
    return MAX_IR_VERSION;
  }

  /** What is invalid in {@code model}, one line each; empty for a valid model. */
  public static List<String> check(Model model) {
    List<String> problems = new ArrayList<>();
    long opset = checkVersions(model, problems);
    Set<String> domains = new LinkedHashSet<>();
    for (OpsetId o : model.opsets()) {
      domains.add(o.isDefaultDomain() ? "" : o.domain());
    }
    for (Graph g : model.allGraphs()) {
      for (Node n : g.nodes()) {
        checkOperator(n, opset, domains, problems);
        try {
          GraphVerifier.checkWeights(n, problems);
          checkWindow(n, problems);
        } catch (InvalidModelException e) {
          problems.addAll(e.problems()); // an attribute of another type
        }
      }
      checkOrder(g, problems);
      checkDims(g, problems);
      for (Value v : g.initializers()) {
        if (v.initializer().dataType() == DataType.UNDEFINED) {
          problems.add("initializer '" + v.name() + "' has data type UNDEFINED; ONNX needs a tensor's type set");
        }
      }
    }
    return problems;
  }

  /**
   * Refuses an invalid model: an {@link InvalidModelException} naming its file ({@link
   * Model#source()}) and every problem.
   */
  public static void requireValid(Model model) {
    List<String> problems = check(model);
    if (!problems.isEmpty()) {
      throw new InvalidModelException(model.source(), problems);
    }
  }

  /** Checks ir_version and the opset imports; returns the default domain's version (-1: none). */
  private static long checkVersions(Model m, List<String> problems) {
    Long ir = m.irVersion();
    boolean imports = !m.opsets().isEmpty();
    if (ir == null || ir <= 0) {
      problems.add("ir_version is " + (ir == null ? "not set" : ir) + "; ONNX needs 1 to " + MAX_IR_VERSION
          + " (3 or later for a model with opset imports)");
    } else if (ir > MAX_IR_VERSION) {
      problems.add("ir_version " + ir + " is newer than any ONNX defines (1 to " + MAX_IR_VERSION + ")");
    } else if (ir < 3 && imports) {
      problems.add("ir_version " + ir + " cannot have opset imports; they came with IR version 3");
    } else if (ir >= 3 && !imports) {
      problems.add("ir_version " + ir + " needs an opset import for the default domain (ai.onnx)");
    }
    long opset = -1;
    Set<String> seen = new LinkedHashSet<>();
    for (OpsetId o : m.opsets()) {
      String d = o.isDefaultDomain() ? "" : o.domain();
      if (!seen.add(d)) {
        problems.add("opset import of domain '" + (d.isEmpty() ? "ai.onnx" : d) + "' is given twice");
        continue;
      }
      if (o.isDefaultDomain()) {
        opset = o.version();
        if (opset < 1 || opset > MAX_OPSET) {
          problems.add("opset " + opset + " of the default domain (ai.onnx) is outside the versions ONNX defines"
              + " (1 to " + MAX_OPSET + ")");
        }
      } else if (o.version() < 1) {
        problems.add("opset " + o.version() + " of domain '" + o.domain() + "' is not a version (they start at 1)");
      }
    }
    return opset;
  }

  private static void checkOperator(Node n, long opset, Set<String> domains, List<String> problems) {
    boolean dflt = n.domain().isEmpty() || n.domain().equals("ai.onnx");
    if (!domains.contains(dflt ? "" : n.domain())) {
      problems.add(n.describe() + ": its domain '" + (dflt ? "ai.onnx" : n.domain()) + "' is not imported"
          + " (the model's opset imports: " + String.join(", ", domains) + ")");
      return;
    }
    if (!dflt || opset < 1 || opset > MAX_OPSET) {
      return; // another domain's operators, or an opset already reported
    }
    long[] since = OPS.get(n.opType());
    if (since == null) {
      problems.add(n.describe() + ": ONNX defines no operator '" + n.opType() + "' in its default domain");
      return;
    }
    long schema = 0;
    for (long s : since) {
      if (Math.abs(s) <= opset) {
        schema = s;
      }
    }
    if (schema == 0) {
      problems.add(n.describe() + ": operator " + n.opType() + " came with opset " + Math.abs(since[0])
          + "; the model imports opset " + opset);
    } else if (schema < 0) {
      problems.add(n.describe() + ": operator " + n.opType() + " is deprecated from opset " + -schema
          + "; the model imports opset " + opset);
    }
  }

  private static final Set<String> WINDOWED = Set.of("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool",
      "ConvInteger", "QLinearConv");

  /** Conv's and pooling's window: strides, dilations and kernel sizes of at least 1, pads of at least 0 in pairs. */
  private static void checkWindow(Node n, List<String> problems) {
    if (!(n.domain().isEmpty() || n.domain().equals("ai.onnx")) || !WINDOWED.contains(n.opType())) {
      return;
    }
    for (String attr : List.of("strides", "dilations", "kernel_shape", "pads")) {
      long[] v = n.attrLongs(attr);
      if (v == null) {
        continue;
      }
      long min = attr.equals("pads") ? 0 : 1;
      for (long x : v) {
        if (x < min) {
          problems.add(n.describe() + ": attribute '" + attr + "' " + java.util.Arrays.toString(v) + " holds " + x
              + "; its values must be at least " + min);
          break;
        }
      }
      if (attr.equals("pads") && v.length % 2 != 0) {
        problems.add(n.describe() + ": attribute 'pads' has " + v.length + " values; it takes a begin and an end per"
            + " spatial axis");
      }
    }
  }

  /** Declared dimensions (of inputs, outputs and value_info) below 0. */
  private static void checkDims(Graph g, List<String> problems) {
    Set<Value> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    for (List<Value> list : List.of(g.inputs(), g.outputs(), g.valueInfos())) {
      for (Value v : list) {
        Shape s = v.shape();
        if (s == null || !seen.add(v)) {
          continue;
        }
        for (int i = 0; i < s.rank(); i++) {
          if (s.dim(i).isKnown() && s.dim(i).get() < 0) {
            problems.add("value '" + v.name() + "' declares dimension " + s.dim(i).get() + " at axis " + i
                + "; dimensions are at least 0");
          }
        }
      }
    }
  }

  /**
   * Nodes that read a value of their graph before the node that computes it; when they close a
   * cycle, the cycle, named node by node. Values a subgraph reads from this graph count as its
   * node's inputs.
   */
  private static void checkOrder(Graph g, List<String> problems) {
    Map<Node, Integer> position = new IdentityHashMap<>();
    List<Node> nodes = g.nodes();
    for (int i = 0; i < nodes.size(); i++) {
      position.put(nodes.get(i), i);
    }
    Map<Node, List<Node>> reads = new IdentityHashMap<>();
    List<String> early = new ArrayList<>();
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      List<Node> producers = new ArrayList<>();
      for (Value v : outerReads(n, g)) {
        Node p = v.producer();
        if (p != null && position.containsKey(p)) {
          producers.add(p);
          if (position.get(p) >= i) {
            early.add(n.describe() + " reads '" + v.name() + "' before " + p.describe() + " computes it");
          }
        }
      }
      reads.put(n, producers);
    }
    if (early.isEmpty()) {
      return;
    }
    List<List<Node>> cycles = cycles(nodes, reads);
    String where = g.parent() == null ? "graph '" + g.name() + "'" : "subgraph '" + g.name() + "' of "
        + g.parent().describe();
    for (List<Node> cycle : cycles) {
      // named from the node that comes first in the file
      int first = 0;
      for (int i = 1; i < cycle.size(); i++) {
        first = position.get(cycle.get(i)) < position.get(cycle.get(first)) ? i : first;
      }
      List<Node> c = new ArrayList<>(cycle.subList(first, cycle.size()));
      c.addAll(cycle.subList(0, first));
      StringBuilder sb = new StringBuilder(where + ": nodes form a cycle: ");
      for (Node n : c) {
        sb.append(n.describe()).append(" -> ");
      }
      problems.add(sb.append(c.get(0).describe()).toString());
    }
    if (cycles.isEmpty()) {
      problems.add(where + ": nodes are not in topological order: " + early.get(0)
          + (early.size() > 1 ? " (and " + (early.size() - 1) + " more)" : ""));
    }
  }

  /** Values of {@code g} that {@code n} reads, through its inputs or its subgraphs. */
  private static Set<Value> outerReads(Node n, Graph g) {
    Set<Value> out = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Node> todo = new ArrayDeque<>(List.of(n));
    while (!todo.isEmpty()) {
      Node x = todo.pop();
      for (int i = 0; i < x.inputCount(); i++) {
        Value v = x.input(i);
        if (v != null && v.graph() == g) {
          out.add(v);
        }
      }
      for (Graph sub : x.subgraphs()) {
        todo.addAll(sub.nodes());
        for (Value v : sub.outputs()) {
          if (v.graph() == g) {
            out.add(v);
          }
        }
      }
    }
    return out;
  }

  /**
   * One cycle per strongly connected part of the read graph that has one (Tarjan's algorithm,
   * iterative), each as the nodes along it in read order.
   */
  private static List<List<Node>> cycles(List<Node> nodes, Map<Node, List<Node>> reads) {
    Map<Node, Integer> index = new IdentityHashMap<>();
    Map<Node, Integer> low = new IdentityHashMap<>();
    Set<Node> onStack = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Node> stack = new ArrayDeque<>();
    List<List<Node>> out = new ArrayList<>();
    int[] counter = {0};
    for (Node root : nodes) {
      if (index.containsKey(root)) {
        continue;
      }
      Deque<Object[]> work = new ArrayDeque<>();
      work.push(new Object[] {root, 0});
      index.put(root, counter[0]);
      low.put(root, counter[0]++);
      stack.push(root);
      onStack.add(root);
      while (!work.isEmpty()) {
        Object[] frame = work.peek();
        Node v = (Node) frame[0];
        int next = (Integer) frame[1];
        List<Node> succ = reads.get(v);
        if (next < succ.size()) {
          frame[1] = next + 1;
          Node w = succ.get(next);
          if (!index.containsKey(w)) {
            index.put(w, counter[0]);
            low.put(w, counter[0]++);
            stack.push(w);
            onStack.add(w);
            work.push(new Object[] {w, 0});
          } else if (onStack.contains(w)) {
            low.put(v, Math.min(low.get(v), index.get(w)));
          }
          continue;
        }
        work.pop();
        if (!work.isEmpty()) {
          Node parent = (Node) work.peek()[0];
          low.put(parent, Math.min(low.get(parent), low.get(v)));
        }
        if (low.get(v).equals(index.get(v))) {
          List<Node> part = new ArrayList<>();
          Node w;
          do {
            w = stack.pop();
            onStack.remove(w);
            part.add(w);
          } while (w != v);
          if (part.size() > 1 || reads.get(v).contains(v)) {
            Set<Node> members = Collections.newSetFromMap(new IdentityHashMap<>());
            members.addAll(part);
            out.add(cycleWithin(v, members, reads));
          }
        }
      }
    }
    return out;
  }

  /** A cycle through {@code start} inside {@code part} (a strongly connected set), by breadth-first search. */
  private static List<Node> cycleWithin(Node start, Set<Node> part, Map<Node, List<Node>> reads) {
    Map<Node, Node> from = new IdentityHashMap<>();
    Deque<Node> queue = new ArrayDeque<>(List.of(start));
    while (!queue.isEmpty()) {
      Node v = queue.poll();
      for (Node w : reads.get(v)) {
        if (w == start) {
          List<Node> path = new ArrayList<>();
          for (Node x = v; x != null; x = from.get(x)) {
            path.add(x);
          }
          // v, the node v was reached from, ..., start: each one's output is read by the next, as data flows
          return path;
        }
        if (part.contains(w) && !from.containsKey(w) && w != start) {
          from.put(w, v);
          queue.add(w);
        }
      }
    }
    return List.of(start);
  }
}
