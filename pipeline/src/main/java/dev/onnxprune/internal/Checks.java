package dev.onnxprune.internal;

/**
 * The checks of the options' setters. Each returns its value, or throws {@link
 * IllegalArgumentException} with the one message template: the option, the rule, the bad value
 * ({@code --phi must be >= 1: 0}). NaN fails every check on a double.
 */
public final class Checks {
  private Checks() {}

  /** {@code value} when {@code ok}; else {@code "<option> must be <rule>: <value>"}. */
  public static double require(boolean ok, String option, String rule, double value) {
    if (!ok) {
      throw refused(option, rule, value);
    }
    return value;
  }

  /** A finite value > 0. */
  public static double positive(String option, double value) {
    return require(value > 0 && Double.isFinite(value), option, "> 0", value);
  }

  /** A finite value >= 0. */
  public static double nonNegative(String option, double value) {
    return require(value >= 0 && Double.isFinite(value), option, ">= 0", value);
  }

  /** A value in the open interval (0, 1). */
  public static double inOpenUnit(String option, double value) {
    return require(value > 0 && value < 1, option, "in (0, 1)", value);
  }

  /** A value in the closed interval [0, 1]. */
  public static double inUnit(String option, double value) {
    return require(value >= 0 && value <= 1, option, "in [0, 1]", value);
  }

  public static int atLeast(String option, int value, int min) {
    if (value < min) {
      throw refused(option, ">= " + min, value);
    }
    return value;
  }

  public static long atLeast(String option, long value, long min) {
    if (value < min) {
      throw refused(option, ">= " + min, value);
    }
    return value;
  }

  private static IllegalArgumentException refused(String option, String rule, Object value) {
    return new IllegalArgumentException(option + " must be " + rule + ": " + value);
  }
}
