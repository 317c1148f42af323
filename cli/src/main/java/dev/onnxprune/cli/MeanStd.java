package dev.onnxprune.cli;

import dev.onnxprune.runtime.Normalization;

/**
 * {@code --mean}/{@code --std} as {@code eval} and the training data ({@link TrainDataOptions})
 * read them: both or neither, no default. (Calibration data defaults them to 0 and 1 instead;
 * see {@link CalibrationOptions}.)
 */
final class MeanStd {
  private MeanStd() {}

  /** Refuses one of --mean and --std without the other. */
  static void checkPaired(float[] mean, float[] std) throws UsageFailure {
    if ((mean == null) != (std == null)) {
      throw new UsageFailure("--mean and --std go together; give both (or neither)");
    }
  }

  /** The normalisation they give, null when neither is given; the library's messages name the options. */
  static Normalization normalization(float[] mean, float[] std) throws UsageFailure {
    checkPaired(mean, std);
    return mean == null ? null : UsageFailure.check(null, () -> new Normalization(mean, std));
  }
}
