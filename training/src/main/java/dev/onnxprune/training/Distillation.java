package dev.onnxprune.training;

/**
 * Distillation from a teacher model in the training step's loss (Hinton et al. 2015): the teacher's
 * outputs on the same (augmented) batch are fed to the step as inputs named {@link
 * #teacherInput}, and the loss is
 *
 * <ul>
 *   <li>{@link Kind#KL}, for classifiers: {@code weight * T^2 * KL(softmax(t / T) || softmax(s / T))}
 *       (mean over the batch; {@code s} the student's logits, {@code t} the teacher's, {@code T}
 *       the temperature; the {@code T^2} keeps the gradient's scale as T changes) {@code + (1 -
 *       weight) * cross-entropy(s, labels)} when the step has labels;
 *   <li>{@link Kind#MSE}, for any model: {@code weight * sum over outputs of mean((y - t)^2)} (every
 *       output of the model against the teacher's output of the same name) {@code + (1 - weight) *
 *       cross-entropy} when the step has labels and the first output is a classifier's.
 * </ul>
 *
 * Gradients in closed form: {@code dKL/ds = T (softmax(s / T) - softmax(t / T)) / N}, {@code
 * dMSE/dy = 2 (y - t) / size(y)}; checked against finite differences.
 *
 * @param kind KL on softened logits, or mean-squared error on the outputs
 * @param temperature T of {@link Kind#KL}, > 0 (ignored by MSE)
 * @param weight the distillation term's share in [0, 1]; the cross-entropy gets {@code 1 - weight}
 */
public record Distillation(Kind kind, double temperature, double weight) {
  /** What the student is matched on. */
  public enum Kind {
    /** KL divergence of the softened class distributions (classifiers). */
    KL,
    /** Mean-squared error on every output (any model). */
    MSE
  }

  public Distillation {
    java.util.Objects.requireNonNull(kind, "kind");
    if (!(temperature > 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("the temperature must be > 0: " + temperature);
    }
    if (!(weight >= 0 && weight <= 1)) {
      throw new IllegalArgumentException("the distillation weight must be in [0, 1]: " + weight);
    }
  }

  /** KL at temperature {@code t}, the share {@code weight}. */
  public static Distillation kl(double temperature, double weight) {
    return new Distillation(Kind.KL, temperature, weight);
  }

  /** Mean-squared error on every output, the share {@code weight}. */
  public static Distillation mse(double weight) {
    return new Distillation(Kind.MSE, 1, weight);
  }

  /** The training step's input carrying the teacher's value of {@code output}. */
  public static String teacherInput(String output) {
    return output + ".teacher";
  }
}
