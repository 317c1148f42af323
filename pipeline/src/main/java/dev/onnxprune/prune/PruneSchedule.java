package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import java.util.Locale;

/**
 * How an iterative prune ({@link PruningPipeline.Builder#steps}) spreads its target over the steps:
 * after step {@code i} of {@code n} the model has lost {@code target * at(i, n)} of the original's
 * FLOPs or parameters, and is recovered before the next step.
 */
public enum PruneSchedule {
  /** Equal parts: {@code i / n}. */
  LINEAR,
  /**
   * Zhu &amp; Gupta's gradual schedule (AGP, "To prune, or not to prune", 2017): {@code 1 - (1 - i /
   * n)^3}, large steps first while the network has redundancy to spare, small ones at the end.
   */
  AGP;

  /** The share of the target reached after step {@code step} (1-based) of {@code steps}. */
  public double at(int step, int steps) {
    double t = (double) step / steps;
    return switch (this) {
      case LINEAR -> t;
      case AGP -> 1 - (1 - t) * (1 - t) * (1 - t);
    };
  }

  /**
   * By name: linear or agp.
   *
   * @throws InvalidOptionException naming {@code stepSchedule}
   */
  public static PruneSchedule byName(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "linear" -> LINEAR;
      case "agp" -> AGP;
      default -> throw new InvalidOptionException("stepSchedule", name, "must be linear or agp");
    };
  }
}
