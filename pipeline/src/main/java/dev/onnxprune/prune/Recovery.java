package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import java.util.Objects;

/**
 * How accuracy is recovered after pruning, as stages of {@link PruningPipeline}: the least-squares
 * refit of the layers ({@link LeastSquaresRefit}), BatchNorm recalibration (re-estimate every
 * BatchNormalization's running statistics on training data, no weight update), then fine-tuning
 * ({@link FineTuning}). All need training data ({@link PruningPipeline.Builder#trainingData}); the
 * refit and the recalibration need no labels.
 *
 * <p>A model whose convolutions have no BatchNormalization after them (exported with BatchNorm
 * folded into the convolutions, PyTorch's default) gets one after each for the recovery
 * ({@link InsertBn}): inserted into the unpruned model so that it computes the same function,
 * pruned with the channels, recalibrated and trained like a model exported with BatchNorm kept, and
 * folded back into the convolutions before the model is written.
 *
 * @param recalibrateBn whether to re-estimate BatchNorm statistics
 * @param bnSamples samples for the recalibration and for the statistics of inserted BatchNorms (0:
 *     all of the training data)
 * @param fineTuning the fine-tuning, or null for none
 * @param insertBn whether to train through BatchNormalization inserted after convolutions that have
 *     none
 * @param refit whether each Conv/Gemm/MatMul is refit by least squares after pruning, before the other
 *     stages ({@link LeastSquaresRefit}, He et al. 2017): no labels, no training; calibration samples
 *     from the training data
 * @param refitSamples samples of the training data the refit solves on (0: all of it)
 */
public record Recovery(boolean recalibrateBn, int bnSamples, FineTuning fineTuning, InsertBn insertBn, boolean refit,
    int refitSamples) {
  /** Samples the refit solves on by default. */
  public static final int DEFAULT_REFIT_SAMPLES = 1024;

  /** No recovery. */
  public static final Recovery NONE = new Recovery(false, 4096, null);

  /** When BatchNormalization is put after the convolutions that have none, for the recovery. */
  public enum InsertBn {
    /**
     * When the recovery recalibrates or fine-tunes and the model has convolutions and no
     * BatchNormalization at all, as a BN-folded export (the default). A model with BatchNorm in
     * places (a pre-activation DenseNet, whose convolutions feed a Concat) is left as it is.
     */
    AUTO,
    /** When the recovery recalibrates or fine-tunes: after every convolution that has none. */
    ON,
    /** Never: a BN-folded model is recovered as it is. */
    OFF;

    /** The setting named {@code name} (case-insensitive). */
    public static InsertBn byName(String name) {
      for (InsertBn k : values()) {
        if (k.name().equalsIgnoreCase(name)) {
          return k;
        }
      }
      throw new InvalidOptionException("recovery.insertBn", name, "must be auto, on or off");
    }
  }

  public Recovery {
    InvalidOptionException.atLeast("recovery.bnSamples", bnSamples, 0);
    InvalidOptionException.atLeast("recovery.refitSamples", refitSamples, 0);
    Objects.requireNonNull(insertBn, "insertBn");
  }

  /** Without the refit. */
  public Recovery(boolean recalibrateBn, int bnSamples, FineTuning fineTuning, InsertBn insertBn) {
    this(recalibrateBn, bnSamples, fineTuning, insertBn, false, DEFAULT_REFIT_SAMPLES);
  }

  /** With BatchNorm inserted when needed ({@link InsertBn#AUTO}). */
  public Recovery(boolean recalibrateBn, int bnSamples, FineTuning fineTuning) {
    this(recalibrateBn, bnSamples, fineTuning, InsertBn.AUTO);
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

  /** This recovery with {@code insertBn}. */
  public Recovery withInsertBn(InsertBn i) {
    return new Recovery(recalibrateBn, bnSamples, fineTuning, i, refit, refitSamples);
  }

  /** The least-squares refit alone ({@link LeastSquaresRefit}), on {@link #DEFAULT_REFIT_SAMPLES} samples. */
  public static Recovery leastSquaresRefit() {
    return NONE.withRefit(true);
  }

  /** This recovery with ({@code on}) or without the least-squares refit first. */
  public Recovery withRefit(boolean on) {
    return new Recovery(recalibrateBn, bnSamples, fineTuning, insertBn, on, refitSamples);
  }

  /** This recovery with the refit on {@code samples} samples (0: all of the training data). */
  public Recovery withRefitSamples(int samples) {
    return new Recovery(recalibrateBn, bnSamples, fineTuning, insertBn, refit, samples);
  }

  /** True when some stage runs. */
  public boolean any() {
    return recalibrateBn || fineTuning != null || refit;
  }

  /** True when BatchNormalization is to be inserted into {@code model} where a convolution has none. */
  public boolean insertsBn(dev.onnxprune.graph.Model model) {
    if (!recalibrateBn && fineTuning == null || insertBn == InsertBn.OFF) {
      return false;
    }
    return insertBn == InsertBn.ON
        || model.graph().nodes().stream().noneMatch(n -> n.is("BatchNormalization"));
  }
}
