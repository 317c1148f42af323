package dev.onnxprune.training;

import java.util.List;

/**
 * What a gradient graph differentiates: a scalar loss built from the model's outputs.
 *
 * <ul>
 *   <li>{@link CrossEntropy}: mean softmax cross-entropy of a {@code [N, K]} logits output
 *       against INT64 class labels {@code [N]} fed as a new graph input, with optional label
 *       smoothing (targets {@code (1 - eps) * onehot + eps / K}, as PyTorch's {@code
 *       label_smoothing});
 *   <li>{@link Scalar}: an output of the model that already is the loss (rank 0 or one element);
 *   <li>{@link Dot}: {@code sum_i <y_i, s_i>} for outputs {@code y_i} and seeds {@code s_i} fed as new
 *       graph inputs named {@code <y_i>_seed} of the same shape, so the gradients are the
 *       vector-Jacobian products {@code s^T dy/dx} (what a gradient check needs).
 * </ul>
 */
public sealed interface Loss permits Loss.CrossEntropy, Loss.Scalar, Loss.Dot {

  /** Name of the loss output of a gradient or training graph. */
  String OUTPUT = "loss";

  /**
   * @param logits output name of the logits {@code [N, K]}
   * @param labels name of the INT64 {@code [N]} labels input to add
   * @param labelSmoothing in [0, 1)
   */
  record CrossEntropy(String logits, String labels, double labelSmoothing) implements Loss {
    public CrossEntropy {
      if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
        throw new IllegalArgumentException("label smoothing must be in [0, 1): " + labelSmoothing);
      }
    }
  }

  /** @param output name of a model output holding a scalar loss */
  record Scalar(String output) implements Loss {}

  /** @param outputs names of model outputs, each dotted with its seed input */
  record Dot(List<String> outputs) implements Loss {
    public Dot {
      outputs = List.copyOf(outputs);
      if (outputs.isEmpty()) {
        throw new IllegalArgumentException("a Dot loss needs at least one output");
      }
    }
  }

  /** Cross-entropy of {@code logits} against a {@code labels} input, no label smoothing. */
  static Loss crossEntropy(String logits) {
    return new CrossEntropy(logits, "labels", 0);
  }

  /** Cross-entropy with label smoothing {@code eps}. */
  static Loss crossEntropy(String logits, double eps) {
    return new CrossEntropy(logits, "labels", eps);
  }

  static Loss scalar(String output) {
    return new Scalar(output);
  }

  static Loss dot(String... outputs) {
    return new Dot(List.of(outputs));
  }

  /** Name of the seed input that {@link Dot} adds for {@code output}. */
  static String seedName(String output) {
    return output + "_seed";
  }
}
