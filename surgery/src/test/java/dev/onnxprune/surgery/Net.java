package dev.onnxprune.surgery;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/** A small builder of test networks with random weights (opset 13). */
final class Net {
  final Graph g = new Graph("net");
  final Model model = new Model(g);
  private final Random random = new Random(42);
  private int counter;

  Net() {
    model.setIrVersion(8L);
    model.opsets().add(new OpsetId("", 13));
  }

  Value input(long... dims) {
    List<Dim> d = new ArrayList<>();
    d.add(Dim.symbolic("N"));
    for (long x : dims) {
      d.add(Dim.of(x));
    }
    return g.addInput("x" + (counter++), new ValueType.TensorType(DataType.FLOAT, Shape.of(d)));
  }

  Value weight(long... dims) {
    int n = (int) Arrays.stream(dims).reduce(1, (a, b) -> a * b);
    float[] w = new float[n];
    for (int i = 0; i < n; i++) {
      w[i] = (float) (random.nextGaussian() * 0.5);
    }
    return g.addInitializer("w" + (counter++), Tensor.ofFloats(dims, w));
  }

  Value positive(long... dims) {
    int n = (int) Arrays.stream(dims).reduce(1, (a, b) -> a * b);
    float[] w = new float[n];
    for (int i = 0; i < n; i++) {
      w[i] = 0.5f + random.nextFloat();
    }
    return g.addInitializer("p" + (counter++), Tensor.ofFloats(dims, w));
  }

  Value op(String op, List<Value> inputs, Attribute... attrs) {
    Node n = g.addNode(op, op.toLowerCase() + counter, inputs, List.of("t" + (counter++)), attrs);
    return n.output(0);
  }

  Value conv(Value x, long cin, long cout, long k, long group) {
    Value w = weight(cout, cin / group, k, k);
    Value b = weight(cout);
    return op("Conv", List.of(x, w, b), Attribute.of("kernel_shape", new long[] {k, k}),
        Attribute.of("pads", new long[] {k / 2, k / 2, k / 2, k / 2}), Attribute.of("group", group));
  }

  Value conv(Value x, long cin, long cout, long k) {
    return conv(x, cin, cout, k, 1);
  }

  Value bn(Value x, long c) {
    return op("BatchNormalization", List.of(x, positive(c), weight(c), weight(c), positive(c)));
  }

  Value relu(Value x) {
    return op("Relu", List.of(x));
  }

  Value output(Value v) {
    g.addOutput(v);
    return v;
  }
}
