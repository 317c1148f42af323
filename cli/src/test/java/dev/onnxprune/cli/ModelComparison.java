package dev.onnxprune.cli;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Whether two models are the same computation, decided on structure: the same opset imports,
 * graph inputs and outputs (names and types), nodes in the same order with the same op,
 * inputs, outputs and attributes, and initializers with bit-identical data, subgraphs
 * included. Two such models compute the same function on any runtime. Doc strings and
 * value_info are ignored (they do not change what is computed); metadata is compared, since a
 * lossless round trip must keep it.
 */
final class ModelComparison {
  private ModelComparison() {}

  /** The first difference between {@code a} and {@code b}, in words; empty when they are the same. */
  static Optional<String> firstDifference(Model a, Model b) {
    if (!Objects.equals(a.irVersion(), b.irVersion())) {
      return diff("ir_version", a.irVersion(), b.irVersion());
    }
    if (!a.opsets().equals(b.opsets())) {
      return diff("opset imports", a.opsets(), b.opsets());
    }
    if (!a.metadata().equals(b.metadata())) {
      return diff("metadata", a.metadata(), b.metadata());
    }
    return graph("graph", a.graph(), b.graph());
  }

  private static Optional<String> graph(String where, Graph a, Graph b) {
    Optional<String> d = values(where + " inputs", a.inputs(), b.inputs());
    if (d.isEmpty()) {
      d = values(where + " outputs", a.outputs(), b.outputs());
    }
    if (d.isEmpty()) {
      d = initializers(where, a, b);
    }
    if (d.isPresent()) {
      return d;
    }
    if (a.nodes().size() != b.nodes().size()) {
      return diff(where + " node count", a.nodes().size(), b.nodes().size());
    }
    for (int i = 0; i < a.nodes().size(); i++) {
      d = node(where + " node " + i + " " + a.nodes().get(i).describe(), a.nodes().get(i), b.nodes().get(i));
      if (d.isPresent()) {
        return d;
      }
    }
    return Optional.empty();
  }

  private static Optional<String> values(String where, List<Value> a, List<Value> b) {
    if (a.size() != b.size()) {
      return diff(where + " count", a.size(), b.size());
    }
    for (int i = 0; i < a.size(); i++) {
      Value x = a.get(i);
      Value y = b.get(i);
      if (!x.name().equals(y.name()) || !Objects.equals(x.type(), y.type())) {
        return diff(where + " #" + i, x, y);
      }
    }
    return Optional.empty();
  }

  private static Optional<String> initializers(String where, Graph a, Graph b) {
    Map<String, Tensor> x = byName(a.initializers());
    Map<String, Tensor> y = byName(b.initializers());
    if (!x.keySet().equals(y.keySet())) {
      return diff(where + " initializer names", x.keySet(), y.keySet());
    }
    for (Map.Entry<String, Tensor> e : x.entrySet()) {
      Optional<String> d = tensor(where + " initializer '" + e.getKey() + "'", e.getValue(), y.get(e.getKey()));
      if (d.isPresent()) {
        return d;
      }
    }
    return Optional.empty();
  }

  private static Map<String, Tensor> byName(List<Value> inits) {
    Map<String, Tensor> out = new TreeMap<>();
    for (Value v : inits) {
      out.put(v.name(), v.initializer());
    }
    return out;
  }

  private static Optional<String> node(String where, Node a, Node b) {
    if (!a.opType().equals(b.opType()) || !a.domain().equals(b.domain()) || !Objects.equals(a.name(), b.name())) {
      return diff(where, a.describe(), b.describe());
    }
    if (!names(a.inputs()).equals(names(b.inputs()))) {
      return diff(where + " inputs", names(a.inputs()), names(b.inputs()));
    }
    if (!names(a.outputs()).equals(names(b.outputs()))) {
      return diff(where + " outputs", names(a.outputs()), names(b.outputs()));
    }
    Map<String, Attribute> x = new TreeMap<>();
    a.attributes().forEach(at -> x.put(at.name(), at));
    Map<String, Attribute> y = new TreeMap<>();
    b.attributes().forEach(at -> y.put(at.name(), at));
    if (!x.keySet().equals(y.keySet())) {
      return diff(where + " attribute names", x.keySet(), y.keySet());
    }
    for (String name : x.keySet()) {
      Optional<String> d = attribute(where + " attribute '" + name + "'", x.get(name), y.get(name));
      if (d.isPresent()) {
        return d;
      }
    }
    return Optional.empty();
  }

  private static List<String> names(List<Value> values) {
    return values.stream().map(v -> v == null ? "" : v.name()).toList();
  }

  private static Optional<String> attribute(String where, Attribute a, Attribute b) {
    if (a.type() != b.type()) {
      return diff(where + " type", a.type(), b.type());
    }
    Object x = a.value();
    Object y = b.value();
    switch (a.type()) {
      case INTS:
        return Arrays.equals((long[]) x, (long[]) y) ? Optional.empty() : diff(where, a, b);
      case FLOATS:
        return Arrays.equals((float[]) x, (float[]) y) ? Optional.empty() : diff(where, a, b);
      case TENSOR:
        return tensor(where, a.asTensor(), b.asTensor());
      case TENSORS: {
        List<?> xs = (List<?>) x;
        List<?> ys = (List<?>) y;
        if (xs.size() != ys.size()) {
          return diff(where + " tensor count", xs.size(), ys.size());
        }
        for (int i = 0; i < xs.size(); i++) {
          Optional<String> d = tensor(where + " #" + i, (Tensor) xs.get(i), (Tensor) ys.get(i));
          if (d.isPresent()) {
            return d;
          }
        }
        return Optional.empty();
      }
      case GRAPH:
        return graph(where + " subgraph", a.asGraph(), b.asGraph());
      case GRAPHS: {
        List<Graph> xs = a.asGraphs();
        List<Graph> ys = b.asGraphs();
        if (xs.size() != ys.size()) {
          return diff(where + " subgraph count", xs.size(), ys.size());
        }
        for (int i = 0; i < xs.size(); i++) {
          Optional<String> d = graph(where + " subgraph #" + i, xs.get(i), ys.get(i));
          if (d.isPresent()) {
            return d;
          }
        }
        return Optional.empty();
      }
      default:
        // FLOAT, INT, STRING(S) and the kinds carried as read compare by value
        return Objects.equals(x, y) ? Optional.empty() : diff(where, a, b);
    }
  }

  private static Optional<String> tensor(String where, Tensor a, Tensor b) {
    if (a.dataType() != b.dataType() || !Arrays.equals(a.dims(), b.dims())) {
      return diff(where, a.dataType() + Arrays.toString(a.dims()), b.dataType() + Arrays.toString(b.dims()));
    }
    if (!a.rawBytes().equals(b.rawBytes())) {
      return Optional.of(where + ": the data differs");
    }
    return Optional.empty();
  }

  private static Optional<String> diff(String where, Object a, Object b) {
    return Optional.of(where + ": " + a + " vs " + b);
  }
}
