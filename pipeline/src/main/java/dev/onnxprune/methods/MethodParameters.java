package dev.onnxprune.methods;

import dev.onnxprune.errors.InvalidOptionException;
import java.util.ArrayList;
import java.util.List;

/**
 * The settings of a training-time method chosen by name ({@link Methods#create}), as adapters
 * receive them: every field is optional (null keeps the method's own default), and a setting that
 * does not apply to the chosen method is refused. Typed Java callers use each method's
 * {@code Options} instead. The key of each setting is given on its setter.
 */
public final class MethodParameters {
  Double theta;
  Integer phi;
  Double learningRate;
  Long maxSteps;
  Double epsilon;
  Double tau;
  Integer iterations;
  String objective;
  Double lambda;
  Integer patience;
  java.time.Duration timeBudget;
  Boolean failEarly;

  /** {@code aofp.theta}: AOFP's refinement threshold. */
  public MethodParameters theta(Double t) {
    this.theta = t;
    return this;
  }

  /** {@code aofp.phi}: AOFP's search cost (training batches per binary-search step). */
  public MethodParameters phi(Integer n) {
    this.phi = n;
    return this;
  }

  /** {@code aofp.patience}: moves in a row with nothing pruned, in every layer, that end the run as stalled. */
  public MethodParameters patience(Integer k) {
    if (k != null) {
      InvalidOptionException.atLeast("aofp.patience", k, 0);
    }
    this.patience = k;
    return this;
  }

  /**
   * {@code method.maxSeconds}: the most wall time the method may take, besides {@code
   * method.maxSteps} (null: no time budget).
   *
   * @throws InvalidOptionException naming {@code method.maxSeconds} for zero or a negative duration
   */
  public MethodParameters timeBudget(java.time.Duration d) {
    this.timeBudget = Methods.timeBudget(d);
    return this;
  }

  /**
   * {@code method.failEarly}: end as soon as the target is projected out of reach within the
   * budget (default true; aofp and adversarial: PruneNet, which always reaches its target,
   * refuses it).
   */
  public MethodParameters failEarly(Boolean on) {
    this.failEarly = on;
    return this;
  }

  /** {@code method.learningRate}: the method's own training rate. */
  public MethodParameters learningRate(Double lr) {
    this.learningRate = lr;
    return this;
  }

  /** {@code method.maxSteps}: the most optimizer steps the method may take. */
  public MethodParameters maxSteps(Long n) {
    this.maxSteps = n;
    return this;
  }

  /** {@code adversarial.epsilon}: the box of the mask projection. */
  public MethodParameters epsilon(Double e) {
    this.epsilon = e;
    return this;
  }

  /** {@code adversarial.tau}: the clipping threshold of case 1. */
  public MethodParameters tau(Double t) {
    this.tau = t;
    return this;
  }

  /** {@code adversarial.iterations}: recovery iterations before a layer's mask is reversed (T). */
  public MethodParameters iterations(Integer n) {
    this.iterations = n;
    return this;
  }

  /** {@code prunenet.objective}: flops, params or latency. */
  public MethodParameters objective(String name) {
    this.objective = name;
    return this;
  }

  /** {@code prunenet.lambda}: strength of the cost-weighted L1. */
  public MethodParameters lambda(Double l) {
    this.lambda = l;
    return this;
  }

  /** Refuses the settings that are given but belong to other methods than {@code method}. */
  void onlyFor(String method, String... allowed) {
    List<String> given = new ArrayList<>();
    check(given, "aofp.theta", theta);
    check(given, "aofp.phi", phi);
    check(given, "adversarial.epsilon", epsilon);
    check(given, "adversarial.tau", tau);
    check(given, "adversarial.iterations", iterations);
    check(given, "prunenet.objective", objective);
    check(given, "prunenet.lambda", lambda);
    check(given, "aofp.patience", patience);
    check(given, "method.failEarly", failEarly);
    for (String key : given) {
      if (!List.of(allowed).contains(key)) {
        throw new InvalidOptionException(key, value(key), "does not apply to the method " + method);
      }
    }
  }

  private static void check(List<String> given, String key, Object v) {
    if (v != null) {
      given.add(key);
    }
  }

  private Object value(String key) {
    return switch (key) {
      case "aofp.theta" -> theta;
      case "aofp.phi" -> phi;
      case "adversarial.epsilon" -> epsilon;
      case "adversarial.tau" -> tau;
      case "adversarial.iterations" -> iterations;
      case "prunenet.objective" -> objective;
      case "aofp.patience" -> patience;
      case "method.failEarly" -> failEarly;
      default -> lambda;
    };
  }

  /** True when some setting is given (with a criterion instead of a method, none may be). */
  public boolean any() {
    return theta != null || phi != null || learningRate != null || maxSteps != null || epsilon != null || tau != null
        || iterations != null || objective != null || lambda != null || patience != null || timeBudget != null
        || failEarly != null;
  }

  /** The first setting given that applies to methods only (not to the AOFP criterion), or null. */
  public String firstMethodOnly() {
    return epsilon != null ? "adversarial.epsilon" : tau != null ? "adversarial.tau" : iterations != null
        ? "adversarial.iterations" : objective != null ? "prunenet.objective" : lambda != null ? "prunenet.lambda"
        : maxSteps != null ? "method.maxSteps" : learningRate != null ? "method.learningRate"
        : patience != null ? "aofp.patience" : timeBudget != null ? "method.maxSeconds"
        : failEarly != null ? "method.failEarly" : null;
  }
}
