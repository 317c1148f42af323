package dev.onnxprune.training;

import java.util.List;

/**
 * The optimizer built into a training-step graph. The update follows PyTorch's {@code
 * torch.optim} formulas, so a step from the same state gives the same parameters.
 *
 * <ul>
 *   <li>{@link Sgd}: {@code d = g + wd * p}; with momentum {@code buf = mu * buf + (1 - dampening) * d}
 *       and {@code d = nesterov ? d + mu * buf : buf}; {@code p -= lr * d}. The state starts at zero,
 *       which equals PyTorch's first step ({@code buf = d}) when dampening is 0.
 *   <li>{@link Adam}: {@code g += wd * p} (Adam) or {@code p *= 1 - lr * wd} (AdamW, decoupled); {@code m =
 *       b1 m + (1 - b1) g}, {@code v = b2 v + (1 - b2) g^2}; {@code p -= lr / (1 - b1^t) * m / (sqrt(v) /
 *       sqrt(1 - b2^t) + eps)} with {@code t} the 1-based step count fed as the {@code step} input.
 * </ul>
 */
public sealed interface Optimizer permits Optimizer.Sgd, Optimizer.Adam {

  /** Names of the per-parameter state tensors (input {@code <param>.<name>}), in order. */
  List<String> stateNames();

  /** True when the graph needs the step count input (bias correction). */
  boolean needsStep();

  /** SGD with momentum, dampening, Nesterov and L2 weight decay. */
  record Sgd(double momentum, double dampening, boolean nesterov, double weightDecay) implements Optimizer {
    public Sgd {
      check(momentum >= 0 && momentum < 1, "SGD momentum must be in [0, 1): " + momentum);
      check(dampening >= 0 && dampening <= 1, "SGD dampening must be in [0, 1]: " + dampening);
      check(weightDecay >= 0, "weight decay must be >= 0: " + weightDecay);
      check(!nesterov || (momentum > 0 && dampening == 0),
          "Nesterov momentum needs momentum > 0 and dampening 0 (got " + momentum + ", " + dampening + ")");
    }

    @Override
    public List<String> stateNames() {
      return momentum > 0 ? List.of("momentum") : List.of();
    }

    @Override
    public boolean needsStep() {
      return false;
    }
  }

  /** Adam, or AdamW when {@code decoupled} (weight decay applied to the parameters, not the gradient). */
  record Adam(double beta1, double beta2, double epsilon, double weightDecay, boolean decoupled)
      implements Optimizer {
    public Adam {
      check(beta1 >= 0 && beta1 < 1, "Adam beta1 must be in [0, 1): " + beta1);
      check(beta2 >= 0 && beta2 < 1, "Adam beta2 must be in [0, 1): " + beta2);
      check(epsilon > 0, "Adam epsilon must be > 0: " + epsilon);
      check(weightDecay >= 0, "weight decay must be >= 0: " + weightDecay);
    }

    @Override
    public List<String> stateNames() {
      return List.of("exp_avg", "exp_avg_sq");
    }

    @Override
    public boolean needsStep() {
      return true;
    }
  }

  /** SGD with momentum and weight decay (no dampening, no Nesterov). */
  static Sgd sgd(double momentum, double weightDecay) {
    return new Sgd(momentum, 0, false, weightDecay);
  }

  /** SGD with Nesterov momentum. */
  static Sgd nesterov(double momentum, double weightDecay) {
    return new Sgd(momentum, 0, true, weightDecay);
  }

  /** Adam with PyTorch's defaults (0.9, 0.999, 1e-8) and L2 weight decay. */
  static Adam adam(double weightDecay) {
    return new Adam(0.9, 0.999, 1e-8, weightDecay, false);
  }

  /** AdamW with PyTorch's defaults (0.9, 0.999, 1e-8) and decoupled weight decay. */
  static Adam adamW(double weightDecay) {
    return new Adam(0.9, 0.999, 1e-8, weightDecay, true);
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }
}
