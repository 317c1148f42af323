package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.List;

/** Test helper: a small model around one op (or a few), built in code. */
final class OpModel {
  final Graph g = new Graph("op");
  final Model model = new Model(g);
  final DataType type;
  private int counter;

  OpModel(DataType type) {
    this.type = type;
    model.opsets().add(new OpsetId("", 17));
    model.setIrVersion(8L);
  }

  Value input(String name, long... dims) {
    return g.addInput(name, new ValueType.TensorType(type, Shape.of(dims)));
  }

  Value ints(String name, long... values) {
    return g.addInitializer(name, Tensor.vector(values));
  }

  Value scalar(String name, double v) {
    return g.addInitializer(name, GradContext.scalarTensor(v, type));
  }

  /** Adds {@code op}, returns its first output ("y" plus a counter). */
  Value op(String op, List<Value> inputs, Attribute... attrs) {
    return opN(op, inputs, 1, attrs)[0];
  }

  Value[] opN(String op, List<Value> inputs, int outputs, Attribute... attrs) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < outputs; i++) {
      names.add(g.uniqueName("y" + (counter++ == 0 ? "" : counter - 1)));
    }
    var n = g.addNode(op, g.uniqueNodeName(op.toLowerCase()), inputs, names, attrs);
    Value[] out = new Value[outputs];
    for (int i = 0; i < outputs; i++) {
      out[i] = n.output(i);
    }
    return out;
  }

  OpModel output(Value... vs) {
    for (Value v : vs) {
      g.addOutput(v);
    }
    return this;
  }
}
