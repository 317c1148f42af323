package dev.onnxprune.training;

import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.Collection;

/** Error message templates of the training module, in one place. */
final class Messages {
  private Messages() {}

  static String noRule(Node n, Collection<String> supported) {
    return "cannot differentiate node " + n.describe() + ": no gradient rule for " + n.opType()
        + " (the loss depends on its output '" + n.output(0).name() + "' and it depends on a parameter);"
        + " freeze the parameters before it, or rewrite it with supported ops: " + String.join(", ", supported);
  }

  static String unsupported(Node n, String what) {
    return "cannot differentiate node " + n.describe() + ": " + what;
  }

  static String unknownType(Value v) {
    return "the element type of '" + v.name() + "' is unknown; give the model's inputs types"
        + " (shape inference fills the rest)";
  }

  static String unknownShape(Value v) {
    return "the shape of '" + v.name() + "' is unknown; give the model's inputs shapes"
        + " (only the batch dimension may be symbolic)";
  }

  static String needsStaticShape(Value v, String what) {
    return what + " needs the size of every dimension of '" + v.name() + "', got " + v.shape()
        + "; export the model with static sizes there (only the batch dimension may be symbolic)";
  }

  static String needsConstant(Node n, String what) {
    return "cannot differentiate node " + n.describe() + ": its " + what
        + " must be a constant (an initializer or a Constant node)";
  }

  static String unknownName(String kind, String name, Collection<String> known) {
    StringBuilder sb = new StringBuilder(kind + " '" + name + "' is not in the model");
    if (!known.isEmpty()) {
      sb.append("; known: ");
      int i = 0;
      for (String k : known) {
        if (i++ == 12) {
          sb.append(", ... (").append(known.size()).append(" in all)");
          break;
        }
        sb.append(i > 1 ? ", " : "").append(k);
      }
    }
    return sb.toString();
  }
}
