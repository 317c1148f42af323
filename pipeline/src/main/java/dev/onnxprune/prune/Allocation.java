package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import java.util.Locale;
import java.util.Objects;

/**
 * How a target is spread over the channel groups.
 * <ul>
 *   <li>{@link #uniform()}: every group loses the same fraction of its channels (the default);
 *   <li>{@link #global()}: channels are ranked across groups by score normalised per group and
 *       by the cost one channel carries;
 *   <li>{@link #sensitivity()}: per-group fractions from a {@link Sensitivity} analysis, chosen to
 *       meet the target with the least predicted loss of top-1 (see {@code SensitivityAllocation}).
 *       {@link PruningPipeline} measures the curves on its calibration data (the training data when
 *       none is given) with the run's criterion; {@link #sensitivity(Sensitivity.Result)} reuses
 *       curves measured before, e.g. by {@code onnx-prune sensitivity}.
 * </ul>
 */
public final class Allocation {
  /** The three ways. */
  public enum Kind {
    UNIFORM, GLOBAL, SENSITIVITY;

    /** The name as in reports and options: {@code uniform}, {@code global}, {@code sensitivity}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private static final Allocation UNIFORM = new Allocation(Kind.UNIFORM, null);
  private static final Allocation GLOBAL = new Allocation(Kind.GLOBAL, null);
  private static final Allocation SENSITIVITY = new Allocation(Kind.SENSITIVITY, null);

  private final Kind kind;
  private final Sensitivity.Result curves;

  private Allocation(Kind kind, Sensitivity.Result curves) {
    this.kind = kind;
    this.curves = curves;
  }

  /** The same fraction from every group. */
  public static Allocation uniform() {
    return UNIFORM;
  }

  /** One ranking across groups. */
  public static Allocation global() {
    return GLOBAL;
  }

  /** From sensitivity curves the pipeline measures first. */
  public static Allocation sensitivity() {
    return SENSITIVITY;
  }

  /** From these curves (measured on the same model). */
  public static Allocation sensitivity(Sensitivity.Result curves) {
    return new Allocation(Kind.SENSITIVITY, Objects.requireNonNull(curves, "curves"));
  }

  /**
   * The allocation called {@code name}: {@code uniform}, {@code global} or {@code sensitivity}.
   *
   * @throws InvalidOptionException (key {@code allocation}) for another name
   */
  public static Allocation byName(String name) {
    for (Kind k : Kind.values()) {
      if (k.label().equals(name)) {
        return k == Kind.UNIFORM ? UNIFORM : k == Kind.GLOBAL ? GLOBAL : SENSITIVITY;
      }
    }
    throw new InvalidOptionException("allocation", name, "must be uniform, global or sensitivity");
  }

  public Kind kind() {
    return kind;
  }

  /** The curves given, or null (none given, or not a sensitivity allocation). */
  public Sensitivity.Result curves() {
    return curves;
  }

  @Override
  public String toString() {
    return kind.label();
  }
}
