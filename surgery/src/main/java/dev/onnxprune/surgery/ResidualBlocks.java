package dev.onnxprune.surgery;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Residual blocks as whole pruning units (depth pruning): a residual {@code Add(x, f(x))} whose
 * branch {@code f} can be replaced by the identity, so that the Add's output becomes {@code x} and
 * the branch's nodes go.
 *
 * <p>A block is an {@code Add} one of whose operands, the skip {@code x}, is an ancestor of the
 * other, the branch output {@code y}, where the branch (the nodes that depend on {@code x} and that
 * {@code y} depends on) holds at least one weighted node (Conv, MatMul, Gemm with a constant
 * weight): a ResNet basic or bottleneck block, a transformer's attention sub-block and its MLP
 * sub-block. An Add without a weighted branch (the {@code x + 0.044715 x^3} of a tanh GELU) is no
 * block. A block is removable when the branch's output and the Add's output have the skip's
 * shape. A downsampling ResNet block is listed but not removable: its shortcut is itself a
 * computation of the block's input (a strided 1x1 convolution and BatchNorm, the projection), so
 * the Add has no identity operand, and the block's output has another shape (fewer positions, more
 * channels) than its input; dropping its branch would leave the projection, a different function.
 *
 * <p>Masked equivalence: the model with the removed blocks' branch outputs multiplied by zero
 * ({@link #maskBranches}) computes exactly what the pruned model ({@link #remove}) computes, as
 * {@code x + 0 * y = x} for finite {@code y}.
 */
public final class ResidualBlocks {
  private ResidualBlocks() {}

  /**
   * One residual block.
   *
   * @param id index in {@link #find}'s list (graph order)
   * @param add the residual Add node's name
   * @param input the skip value (the block's input)
   * @param branchOutput the branch's output value (the Add's other operand)
   * @param output the Add's output (the block's output)
   * @param kind "attention" (the branch has a Softmax), "mlp" (MatMul/Gemm branch) or "conv"
   * @param nodes the branch's node names, in graph order
   * @param weights the branch's weight initializer names (inputs of at least 2 dimensions)
   * @param removable whether the branch can be replaced by the identity
   * @param reason why not, in words; null when removable
   */
  public record Block(int id, String add, String input, String branchOutput, String output, String kind,
      List<String> nodes, List<String> weights, boolean removable, String reason) {}

  /** The residual blocks of {@code model}'s main graph, in graph order; shapes are inferred first. */
  public static List<Block> find(Model model) {
    ShapeInference.infer(model);
    Graph g = model.graph();
    Map<Node, Integer> order = new IdentityHashMap<>();
    for (int i = 0; i < g.nodes().size(); i++) {
      order.put(g.nodes().get(i), i);
    }
    List<Block> out = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (!n.is("Add") || n.inputCount() != 2 || n.input(0) == null || n.input(1) == null || n.output(0) == null) {
        continue;
      }
      Value a = n.input(0);
      Value b = n.input(1);
      if (a.constantValue() != null || b.constantValue() != null) {
        continue;
      }
      Set<Node> ancA = ancestors(a);
      Set<Node> ancB = ancestors(b);
      Value x = null;
      Value y = null;
      if (dependsOn(ancB, b, a)) {
        x = a;
        y = b;
      } else if (dependsOn(ancA, a, b)) {
        x = b;
        y = a;
      }
      if (x != null) {
        List<Node> branch = branch(x, y == a ? ancA : ancB, order);
        List<String> weights = weights(branch);
        if (weights.isEmpty()) {
          continue; // an elementwise expression of x, not a block
        }
        String reason = shapeProblem(x, y, n.output(0));
        out.add(new Block(out.size(), n.name(), x.name(), y.name(), n.output(0).name(), kind(branch),
            names(branch), weights, reason == null, reason));
        continue;
      }
      // neither operand is an ancestor of the other: a projection shortcut when both compute from a common input
      Set<Node> common = new LinkedHashSet<>(ancA);
      common.retainAll(ancB);
      if (common.isEmpty()) {
        continue;
      }
      Node last = Collections.max(common, java.util.Comparator.comparingInt(order::get));
      Value in = last.output(0);
      List<Node> sideA = branch(in, ancA, order);
      List<Node> sideB = branch(in, ancB, order);
      List<Node> shortcut = sideA.size() <= sideB.size() ? sideA : sideB;
      List<Node> main = shortcut == sideA ? sideB : sideA;
      if (weights(main).isEmpty()) {
        continue;
      }
      List<Node> all = new ArrayList<>(main);
      all.addAll(shortcut);
      all.sort(java.util.Comparator.comparingInt(order::get));
      String ops = String.join(" + ", shortcut.stream().map(Node::opType).toList());
      out.add(new Block(out.size(), n.name(), in.name(), (shortcut == sideA ? b : a).name(), n.output(0).name(),
          kind(main), names(all), weights(all), false,
          "its shortcut is not the identity but a computation of the block's input (" + (ops.isEmpty() ? "none" : ops)
              + ", a projection" + (shapeOf(in).equals(shapeOf(n.output(0))) ? ")" : "), and its input "
                  + shapeOf(in) + " and output " + shapeOf(n.output(0)) + " differ in shape")
              + ": replacing the branch by the identity would still leave the projection, another function"));
    }
    return out;
  }

  /** Replaces each block's branch by the identity: the Add's output becomes its input; dead nodes go. */
  public static void remove(Model model, List<Block> blocks) {
    Graph g = model.graph();
    // a block's input may be the output of a block removed before it: follow what replaced it
    Map<String, Value> replaced = new java.util.HashMap<>();
    for (Block b : blocks) {
      if (!b.removable()) {
        throw new IllegalArgumentException("block " + b.id() + " (" + b.add() + ") is not removable: " + b.reason());
      }
      Node add = node(g, b.add());
      Value x = replaced.containsKey(b.input()) ? replaced.get(b.input()) : g.value(b.input());
      Value o = add.output(0);
      for (Map.Entry<String, Value> e : replaced.entrySet()) {
        if (e.getValue() == o) {
          e.setValue(x);
        }
      }
      if (!o.isGraphOutput()) {
        replaced.put(o.name(), x);
      }
      if (o.isGraphOutput()) {
        // keep the output's name: an Identity from the block's input takes the Add's place
        Node id = g.addNodeBefore(add, "Identity", g.uniqueNodeName(add.name() + "_identity"), List.of(x),
            List.of(g.uniqueName(o.name() + "_skip")));
        o.replaceAllUsesWith(id.output(0));
        g.setOutput(g.outputs().indexOf(o), id.output(0));
        String name = o.name();
        g.removeNode(add);
        id.output(0).rename(name);
      } else {
        o.replaceAllUsesWith(x);
        g.removeNode(add);
      }
    }
    g.removeDeadCode();
  }

  /** Multiplies each block's branch output by zero where it enters the Add (the masked reference). */
  public static void maskBranches(Model model, List<Block> blocks) {
    Graph g = model.graph();
    for (Block b : blocks) {
      Node add = node(g, b.add());
      Value y = g.value(b.branchOutput());
      DataType t = y.tensorType() != null ? y.tensorType().elemType() : DataType.FLOAT;
      Value zero = g.addInitializer(g.uniqueName("onnxprune_block_zero_" + b.id()),
          t == DataType.DOUBLE ? Tensor.ofDoubles(new long[0], new double[] {0}) : Tensor.scalar(0f));
      Node mul = g.addNodeBefore(add, "Mul", g.uniqueNodeName(add.name() + "_block_mask"), List.of(y, zero),
          List.of(g.uniqueName(y.name() + "_masked")));
      for (int i = 0; i < add.inputCount(); i++) {
        if (add.input(i) == y) {
          add.replaceInput(i, mul.output(0));
        }
      }
    }
  }

  private static Node node(Graph g, String name) {
    for (Node n : g.nodes()) {
      if (name.equals(n.name())) {
        return n;
      }
    }
    throw new IllegalArgumentException("no node '" + name + "' in the model");
  }

  private static String shapeProblem(Value x, Value y, Value o) {
    Shape sx = shapeOf(x);
    Shape sy = shapeOf(y);
    Shape so = shapeOf(o);
    if (sx == null || sy == null || so == null) {
      return "the shapes of its input and output are not known";
    }
    if (!sx.sameDims(so) || !sy.sameDims(sx)) {
      return "its branch output " + sy + " or output " + so + " has another shape than its input " + sx;
    }
    return null;
  }

  private static Shape shapeOf(Value v) {
    return v.tensorType() == null ? null : v.shape();
  }

  private static boolean dependsOn(Set<Node> ancestorsOfY, Value y, Value x) {
    return x != y && (x.producer() != null ? ancestorsOfY.contains(x.producer())
        : x.isGraphInput() && usesInput(ancestorsOfY, x));
  }

  private static boolean usesInput(Set<Node> nodes, Value input) {
    for (Node n : nodes) {
      if (n.inputs().contains(input)) {
        return true;
      }
    }
    return false;
  }

  /** The nodes {@code v} depends on (its producer and theirs), main graph only. */
  private static Set<Node> ancestors(Value v) {
    Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Node> todo = new ArrayDeque<>();
    if (v.producer() != null) {
      todo.add(v.producer());
    }
    while (!todo.isEmpty()) {
      Node n = todo.poll();
      if (!seen.add(n)) {
        continue;
      }
      for (Value in : n.inputs()) {
        if (in != null && in.producer() != null && in.graph() == n.graph()) {
          todo.add(in.producer());
        }
      }
    }
    return seen;
  }

  /** The nodes among {@code ancestorsOfY} that depend on {@code x}, in graph order. */
  private static List<Node> branch(Value x, Set<Node> ancestorsOfY, Map<Node, Integer> order) {
    Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Value> todo = new ArrayDeque<>(List.of(x));
    while (!todo.isEmpty()) {
      Value v = todo.poll();
      for (Node c : v.consumers()) {
        if (ancestorsOfY.contains(c) && seen.add(c)) {
          todo.addAll(c.outputs().stream().filter(java.util.Objects::nonNull).toList());
        }
      }
    }
    List<Node> out = new ArrayList<>(seen);
    out.sort(java.util.Comparator.comparingInt(order::get));
    return out;
  }

  private static List<String> weights(List<Node> nodes) {
    List<String> out = new ArrayList<>();
    for (Node n : nodes) {
      if (!(n.is("Conv") || n.is("MatMul") || n.is("Gemm") || n.is("ConvTranspose"))) {
        continue;
      }
      for (Value in : n.inputs()) {
        Value w = weightBehindLayout(in);
        if (w != null && w.isInitializer() && w.initializer().rank() >= 2 && !out.contains(w.name())) {
          out.add(w.name());
        }
      }
    }
    return out;
  }

  /**
   * The initializer behind {@code v} through layout-only ops of it alone (an exporter's
   * {@code MatMul(x, Transpose(W))}, as torchvision's ViT MLP has), or {@code v}.
   */
  private static Value weightBehindLayout(Value v) {
    for (int hops = 0; v != null && hops < 8 && v.producer() != null; hops++) {
      Node p = v.producer();
      if (!(p.is("Transpose") || p.is("Identity") || p.is("Cast") || p.is("Reshape") || p.is("Flatten")
          || p.is("Squeeze") || p.is("Unsqueeze"))) {
        break;
      }
      v = p.input(0);
    }
    return v;
  }

  private static String kind(List<Node> branch) {
    boolean softmax = branch.stream().anyMatch(n -> n.is("Softmax"));
    boolean conv = branch.stream().anyMatch(n -> n.is("Conv"));
    return softmax ? "attention" : conv ? "conv" : "mlp";
  }

  private static List<String> names(List<Node> nodes) {
    return nodes.stream().map(Node::name).toList();
  }
}
