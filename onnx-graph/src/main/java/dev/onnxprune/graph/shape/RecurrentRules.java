package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Shape;
import java.util.Map;

/**
 * RNN, GRU and LSTM: X {@code [seq, batch, input]} ({@code layout} 1: {@code [batch, seq,
 * input]}), {@code hidden_size} H, one or two directions D ({@code direction} bidirectional). Y
 * is {@code [seq, D, batch, H]} ({@code [batch, seq, D, H]}), Y_h and LSTM's Y_c {@code [D, batch,
 * H]} ({@code [batch, D, H]}).
 */
final class RecurrentRules {
  private RecurrentRules() {}

  static void register(Map<String, OpRule> table) {
    OpRules.put(table, "RNN", RecurrentRules::recurrent);
    OpRules.put(table, "GRU", RecurrentRules::recurrent);
    OpRules.put(table, "LSTM", RecurrentRules::recurrent);
  }

  static void recurrent(InferenceContext c) {
    Shape x = c.requireShape(0);
    if (x.rank() != 3) {
      throw c.fail("input X " + x + " must have rank 3");
    }
    long h = c.node().attrLong("hidden_size", -1);
    Dim hidden = h > 0 ? Dim.of(h) : Dim.unknown();
    if (h <= 0) {
      Shape r = c.shape(2);
      if (r != null && r.rank() == 3) {
        hidden = ShapeMath.plain(r.dim(2));
      }
    }
    String dir = c.node().hasAttribute("direction") ? c.node().attribute("direction").asString() : "forward";
    Dim d = Dim.of("bidirectional".equals(dir) ? 2 : 1);
    boolean batchFirst = c.opset() >= 14 && c.node().attrLong("layout", 0) != 0;
    Dim seq = ShapeMath.plain(x.dim(batchFirst ? 1 : 0));
    Dim batch = ShapeMath.plain(x.dim(batchFirst ? 0 : 1));
    c.set(0, c.elemType(0), batchFirst ? Shape.of(batch, seq, d, hidden) : Shape.of(seq, d, batch, hidden));
    Shape state = batchFirst ? Shape.of(batch, d, hidden) : Shape.of(d, batch, hidden);
    for (int i = 1; i < c.node().outputCount(); i++) {
      c.set(i, c.elemType(0), state);
    }
  }
}
