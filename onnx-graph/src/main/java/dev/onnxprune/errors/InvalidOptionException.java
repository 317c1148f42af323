package dev.onnxprune.errors;

import java.util.Arrays;
import java.util.function.UnaryOperator;

/**
 * An option has a value the API does not accept. The option is named by its key in the API's own
 * terms ({@code target.flops}, {@code minChannels}, {@code aofp.theta}, ...), so that each adapter
 * can name it in its own words: {@link #key()}, the {@link #value()} given and the {@link #rule()}
 * it broke. The message reads {@code "<key> <rule>: <value>"}, e.g.
 * {@code "target.flops must be in (0, 1): 1.5"}.
 */
public class InvalidOptionException extends OnnxPruneException {
  private final String key;
  private final String value;
  private final String rule;

  /**
   * @param key the option's key in the API's terms
   * @param value the value given, as text (null when the option is missing)
   * @param rule what the value must be, e.g. {@code "must be in (0, 1)"}
   */
  public InvalidOptionException(String key, Object value, String rule) {
    super(message(key, text(value), rule));
    this.key = key;
    this.value = text(value);
    this.rule = rule;
  }

  /** The option's key in the API's terms. */
  public String key() {
    return key;
  }

  /** The value given, as text; null when the option was missing. */
  public String value() {
    return value;
  }

  /** What the value must be. */
  public String rule() {
    return rule;
  }

  /**
   * The message with the option named {@code name} instead of its key: how an adapter says it, by
   * its command line's flag or its POM element ({@code messageFor("<flops>")} gives
   * {@code "<flops> must be in (0, 1): 1.5"}).
   */
  public String messageFor(String name) {
    return message(name, value, rule);
  }

  /**
   * The message with the options it names spelled by {@code names} (key -> an adapter's name), as
   * {@link OptionSpelling#translate} uses it: {@link #messageFor(String)} with this option's name;
   * an error that names two options names both.
   */
  public String messageFor(UnaryOperator<String> names) {
    return messageFor(names.apply(key));
  }

  private static String message(String name, String value, String rule) {
    return value == null ? name + " " + rule : name + " " + rule + ": " + value;
  }

  private static String text(Object value) {
    if (value == null) {
      return null;
    }
    if (value instanceof float[] f) {
      return Arrays.toString(f);
    }
    if (value instanceof double[] d) {
      return Arrays.toString(d);
    }
    if (value instanceof String s) {
      return "'" + s + "'";
    }
    return String.valueOf(value);
  }

  // The checks every options class uses: one template for every rule.

  /** {@code v} when {@code ok}, else an error: {@code "<key> must be <rule>: <v>"}. */
  public static double require(boolean ok, String key, String rule, double v) {
    if (!ok) {
      throw new InvalidOptionException(key, v, "must be " + rule);
    }
    return v;
  }

  /** {@code v} when {@code ok}, else an error: {@code "<key> must be <rule>: <v>"}. */
  public static long require(boolean ok, String key, String rule, long v) {
    if (!ok) {
      throw new InvalidOptionException(key, v, "must be " + rule);
    }
    return v;
  }

  /** {@code v} when it is {@code > 0} (and finite), else an error naming {@code key}. */
  public static double positive(String key, double v) {
    return require(v > 0 && Double.isFinite(v), key, "> 0", v);
  }

  /** {@code v} when it is {@code >= 0} (and finite), else an error naming {@code key}. */
  public static double nonNegative(String key, double v) {
    return require(v >= 0 && Double.isFinite(v), key, ">= 0", v);
  }

  /**
   * {@code v} when it is a learning rate a training step can take: {@code > 0} ({@code >= 0} with
   * {@code zeroAllowed}) and finite as a float (at most {@link Float#MAX_VALUE}, about 3.4e38), the
   * type the step's graph computes in; else an error naming {@code key}.
   */
  public static double learningRate(String key, double v, boolean zeroAllowed) {
    return require((zeroAllowed ? v >= 0 : v > 0) && v <= Float.MAX_VALUE, key,
        (zeroAllowed ? ">= 0" : "> 0") + " and at most 3.4e38 (a finite float)", v);
  }

  /** {@code v} when it is at least {@code min}, else an error naming {@code key}. */
  public static int atLeast(String key, int v, int min) {
    if (v < min) {
      throw new InvalidOptionException(key, v, "must be >= " + min);
    }
    return v;
  }

  /** {@code v} when it is at least {@code min}, else an error naming {@code key}. */
  public static long atLeast(String key, long v, long min) {
    return require(v >= min, key, ">= " + min, v);
  }

  /** {@code v} when it is in (0, 1), else an error naming {@code key}. */
  public static double inOpenUnit(String key, double v) {
    return require(v > 0 && v < 1, key, "in (0, 1)", v);
  }

  /** {@code v} when it is in [0, 1], else an error naming {@code key}. */
  public static double inUnit(String key, double v) {
    return require(v >= 0 && v <= 1, key, "in [0, 1]", v);
  }

  /** {@code v} when it is in (0, 1], else an error naming {@code key}. */
  public static double inHalfOpenUnit(String key, double v) {
    return require(v > 0 && v <= 1, key, "in (0, 1]", v);
  }
}
