package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;

/**
 * How accuracy is recovered after pruning, as stages of {@link PruningPipeline}: BatchNorm
 * recalibration (re-estimate every BatchNormalization's running statistics on training data, no
 * weight update), then fine-tuning ({@link FineTuning}). Both need training data
 * ({@link PruningPipeline.Builder#trainingData}).
 *
 * @param recalibrateBn whether to re-estimate BatchNorm statistics
 * @param bnSamples samples for the recalibration (0: all of the training data)
 * @param fineTuning the fine-tuning, or null for none
 */
public record Recovery(boolean recalibrateBn, int bnSamples, FineTuning fineTuning) {
  /** No recovery. */
  public static final Recovery NONE = new Recovery(false, 4096, null);

  public Recovery {
    InvalidOptionException.atLeast("recovery.bnSamples", bnSamples, 0);
  }

  /** BatchNorm recalibration on 4,096 samples. */
  public static Recovery bnRecalibration() {
    return new Recovery(true, 4096, null);
  }

  /** Fine-tuning only. */
  public static Recovery fineTuning(FineTuning f) {
    return new Recovery(false, 4096, f);
  }

  /** BatchNorm recalibration on 4,096 samples, then {@code f}. */
  public static Recovery recalibrateBnThenFineTune(FineTuning f) {
    return new Recovery(true, 4096, f);
  }

  /** True when some stage runs. */
  public boolean any() {
    return recalibrateBn || fineTuning != null;
  }
}
