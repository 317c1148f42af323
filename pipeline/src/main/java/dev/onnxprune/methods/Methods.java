package dev.onnxprune.methods;

import dev.onnxprune.errors.InvalidOptionException;
import java.time.Duration;
import java.util.List;

/** The training-time methods by name, configured from {@link MethodParameters}: what adapters call. */
public final class Methods {
  /** The names {@link #create} knows. */
  public static final List<String> NAMES = List.of("aofp", "adversarial", "prunenet");

  private Methods() {}

  /**
   * Checks that {@code name} is a method and that {@code p} gives only settings it takes.
   *
   * @throws InvalidOptionException naming {@code method}, or the key of a setting of another method
   */
  public static void check(String name, MethodParameters p) {
    switch (name) {
      case "aofp" -> p.onlyFor(name, "aofp.theta", "aofp.phi", "aofp.patience", "method.failEarly");
      case "adversarial" -> p.onlyFor(name, "adversarial.epsilon", "adversarial.tau", "adversarial.iterations",
          "method.failEarly");
      case "prunenet" -> {
        p.onlyFor(name, "prunenet.objective", "prunenet.lambda");
        if (p.objective != null) {
          PruneNet.Objective.byName(p.objective);
        }
      }
      default -> throw new InvalidOptionException("method", name, "must be one of " + String.join(", ", NAMES));
    }
  }

  /**
   * The step budget (method.maxSteps) the method called {@code name} runs under with {@code p}:
   * the value given, else the method's default; 0 for an unknown name. For progress (time left).
   */
  public static long maxSteps(String name, MethodParameters p) {
    if (p != null && p.maxSteps != null) {
      return p.maxSteps;
    }
    return switch (name == null ? "" : name) {
      case "aofp" -> new AofpTraining.Options().maxSteps();
      case "adversarial" -> new AdversarialPruning.Options().maxSteps();
      case "prunenet" -> new PruneNet.Options().maxSteps();
      default -> 0;
    };
  }

  /**
   * The time budget (method.maxSeconds) the method runs under with {@code p}: the value given,
   * else none (null). For progress (time left).
   */
  public static Duration timeBudget(String name, MethodParameters p) {
    return p == null ? null : p.timeBudget;
  }

  /**
   * Checks a time budget (key {@code method.maxSeconds}): null (none) or positive.
   *
   * @throws InvalidOptionException naming {@code method.maxSeconds} for zero or a negative duration
   */
  public static Duration timeBudget(Duration d) {
    if (d != null && (d.isZero() || d.isNegative())) {
      throw new InvalidOptionException("method.maxSeconds", new java.math.BigDecimal(seconds(d)), "must be > 0 (or none)");
    }
    return d;
  }

  /** {@code d} in seconds, as the key {@code method.maxSeconds} takes it ("90", "2.5"). */
  public static String seconds(Duration d) {
    return java.math.BigDecimal.valueOf(d.getSeconds()).add(java.math.BigDecimal.valueOf(d.getNano(), 9))
        .stripTrailingZeros().toPlainString();
  }

  /**
   * The method called {@code name} on {@code setup}'s data and sessions.
   *
   * @throws InvalidOptionException naming {@code method} for an unknown name, or the key of a
   *     setting that is out of range or belongs to another method
   */
  public static TrainingMethod create(String name, MethodSetup setup, MethodParameters p) {
    check(name, p);
    switch (name) {
      case "aofp" -> {
        AofpTraining.Options o = new AofpTraining.Options();
        if (p.theta != null) {
          o.theta(p.theta);
        }
        if (p.phi != null) {
          o.phi(p.phi);
        }
        if (p.learningRate != null) {
          o.learningRate(p.learningRate);
        }
        if (p.maxSteps != null) {
          o.maxSteps(Math.toIntExact(Math.min(p.maxSteps, Integer.MAX_VALUE)));
        }
        if (p.patience != null) {
          o.patience(p.patience);
        }
        o.timeBudget(p.timeBudget);
        if (p.failEarly != null) {
          o.failEarly(p.failEarly);
        }
        return AofpTraining.create(setup, o);
      }
      case "adversarial" -> {
        AdversarialPruning.Options o = new AdversarialPruning.Options();
        if (p.epsilon != null) {
          o.epsilon(p.epsilon);
        }
        if (p.tau != null) {
          o.tau(p.tau);
        }
        if (p.iterations != null) {
          o.iterations(p.iterations);
        }
        if (p.learningRate != null) {
          o.etaReg(p.learningRate);
        }
        if (p.maxSteps != null) {
          o.maxSteps(p.maxSteps);
        }
        o.timeBudget(p.timeBudget);
        if (p.failEarly != null) {
          o.failEarly(p.failEarly);
        }
        return AdversarialPruning.create(setup, o);
      }
      case "prunenet" -> {
        PruneNet.Options o = new PruneNet.Options();
        if (p.objective != null) {
          o.objective(PruneNet.Objective.byName(p.objective));
        }
        if (p.lambda != null) {
          o.lambda(p.lambda);
        }
        if (p.learningRate != null) {
          o.recoveryLr(p.learningRate);
        }
        if (p.maxSteps != null) {
          o.maxSteps(p.maxSteps);
        }
        o.timeBudget(p.timeBudget);
        return PruneNet.create(setup, o);
      }
      default -> throw new InvalidOptionException("method", name, "must be one of " + String.join(", ", NAMES));
    }
  }
}
