package dev.onnxprune.prune;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import java.util.List;

/** Whether a model is a classifier, as far as recovery and evaluation are concerned. */
final class Classifiers {
  private Classifiers() {}

  /**
   * True when the model's first output is {@code [N, K]} with K known (as declared, or as shape
   * inference finds it when undeclared): logits that cross-entropy, top-1 and KL apply to.
   */
  static boolean isClassifier(Model model) {
    List<Value> outs = model.graph().outputs();
    if (outs.isEmpty()) {
      return false;
    }
    Shape s = outs.get(0).shape();
    if (s == null) {
      Model copy = model.copy();
      ShapeInference.infer(copy);
      s = copy.graph().outputs().get(0).shape();
    }
    return s != null && s.rank() == 2 && s.dim(1).isKnown();
  }
}
