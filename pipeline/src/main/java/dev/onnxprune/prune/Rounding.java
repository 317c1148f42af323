package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.runtime.Sessions;

/**
 * How kept channel counts are rounded: to a multiple the execution provider runs fast
 * ({@link #auto()}, the default of {@link Pruner.Builder}), to a given multiple ({@link #to}), or
 * not at all ({@code to(1)}).
 *
 * <p>What "a multiple" means per group, and what cannot be one:
 * <ul>
 *   <li>A group keeps a multiple of the unit of channels, at least one unit, or all its channels
 *       (its original width is never slower than before). A group narrower than the unit is kept
 *       whole.
 *   <li>A group whose units are several channels wide (a grouped convolution's whole groups of
 *       channels; an attention head's columns) keeps a number of units whose channel count is a
 *       multiple: e.g. ResNeXt's 4-channel groups are kept in steps of 4 groups for a unit of 16.
 *   <li>A Concat's width is the sum of its pieces, each its own group, so it is a multiple when
 *       every piece is; a piece that cannot be pruned (a graph input, a group the analysis blocks)
 *       keeps its width, multiple or not.
 *   <li>Depthwise convolutions carry their input's group, so they follow it.
 * </ul>
 * With {@link #auto()}, when the target cannot be reached with the hardware's multiple, or only
 * with more than 1% (of the target's measure) to spare, the multiple is halved until it can; the
 * report says so. An explicit multiple is kept as given.
 */
public final class Rounding {
  private final int multiple;

  private Rounding(int multiple) {
    this.multiple = multiple;
  }

  /** The multiple {@link HardwareWidths} chooses for the pruner's execution provider. */
  public static Rounding auto() {
    return new Rounding(0);
  }

  /**
   * Kept channel counts in multiples of {@code multiple}; 1 keeps exact widths.
   *
   * @throws InvalidOptionException (key {@code roundTo}) when {@code multiple < 1}
   */
  public static Rounding to(int multiple) {
    return new Rounding(InvalidOptionException.atLeast("roundTo", multiple, 1));
  }

  /** True for {@link #auto()}. */
  public boolean automatic() {
    return multiple == 0;
  }

  /** The multiple of {@link #to}; 0 for {@link #auto()}. */
  public int multiple() {
    return multiple;
  }

  /** The multiple to start from, and why, for {@code sessions}' execution provider. */
  HardwareWidths.Choice choose(Sessions sessions) {
    if (automatic()) {
      return HardwareWidths.of(sessions);
    }
    return new HardwareWidths.Choice(multiple, "as asked");
  }

  @Override
  public String toString() {
    return automatic() ? "auto" : Integer.toString(multiple);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Rounding r && r.multiple == multiple;
  }

  @Override
  public int hashCode() {
    return multiple;
  }
}
