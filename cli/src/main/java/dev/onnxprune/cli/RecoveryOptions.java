package dev.onnxprune.cli;

import dev.onnxprune.training.Augmentation;
import dev.onnxprune.training.LrSchedule;
import dev.onnxprune.training.Schedules;
import dev.onnxprune.training.Trainer;
import dev.onnxprune.training.TrainerOptions;
import dev.onnxprune.training.TrainingOptions;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * How accuracy is recovered after pruning, shared by {@code finetune} and {@code prune}: BatchNorm
 * recalibration and the fine-tuning hyper-parameters (optimizer, learning-rate schedule, batch,
 * augmentation, checkpoints; the optimizer's options are {@link TrainingStepOptions}, which
 * {@code export-training} shares). Adapts them to {@link TrainingOptions} and {@link TrainerOptions}.
 */
public final class RecoveryOptions {
  @Option(names = "--recalibrate-bn",
      description = "Re-estimate every BatchNormalization's running mean and variance on --bn-samples training"
          + " samples (a forward pass on batch statistics, cumulative average, no weight update) before any"
          + " fine-tuning.")
  boolean recalibrateBn;

  @Option(names = "--bn-samples", paramLabel = "N", defaultValue = "4096",
      description = "Samples for --recalibrate-bn (default ${DEFAULT-VALUE}; 0: all).")
  int bnSamples;

  @Option(names = "--lr", paramLabel = "LR", defaultValue = "0.01",
      description = "Learning rate (the peak of the schedule; default ${DEFAULT-VALUE}).")
  double lr;

  @Option(names = "--batch", paramLabel = "N", defaultValue = "64",
      description = "Samples per step (default ${DEFAULT-VALUE}).")
  int batch;

  @Mixin
  TrainingStepOptions step;

  @Option(names = "--schedule", paramLabel = "NAME", defaultValue = "cosine",
      description = "Learning-rate schedule: constant; step (times --gamma at each of --milestones epochs); cosine"
          + " (annealed to 0 over all steps; default); rewind (learning-rate rewinding, Renda et al. 2020: the last"
          + " --epochs epochs of the original training's step schedule over --original-epochs epochs).")
  String schedule;

  @Option(names = "--milestones", split = ",", paramLabel = "E",
      description = "Epochs at which step and rewind multiply the rate by --gamma (default: at 1/2 and 3/4 of the"
          + " schedule's epochs).")
  long[] milestones;

  @Option(names = "--gamma", paramLabel = "G", defaultValue = "0.1",
      description = "Factor of each step of the step and rewind schedules (default ${DEFAULT-VALUE}).")
  double gamma;

  @Option(names = "--original-epochs", paramLabel = "T",
      description = "rewind: the epochs of the original training, at least --epochs.")
  Integer originalEpochs;

  @Option(names = "--warmup-epochs", paramLabel = "W", defaultValue = "0",
      description = "Linear warm-up over the first W epochs (fractions allowed), then the schedule (default"
          + " ${DEFAULT-VALUE}).")
  double warmupEpochs;

  @Option(names = "--augment", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Random crop (--crop-padding) and horizontal flip of the training images (default: on;"
          + " --no-augment turns it off).")
  boolean augment;

  @Option(names = "--crop-padding", paramLabel = "P", defaultValue = "4",
      description = "Pixels of padding for the random crop (default ${DEFAULT-VALUE}; 0: flips only).")
  int cropPadding;

  @Option(names = "--checkpoint-dir", paramLabel = "DIR",
      description = "Write a checkpoint (parameters, optimizer state, position) into DIR after every epoch.")
  Path checkpointDir;

  @Option(names = "--resume",
      description = "Continue from the checkpoint in --checkpoint-dir (a fresh start when there is none yet).")
  boolean resume;

  /** The checkpoint file training writes into --checkpoint-dir; null without it. */
  Path checkpointFile() {
    return checkpointDir == null ? null : checkpointDir.resolve(Trainer.CHECKPOINT);
  }

  /** Checks values that do not depend on the data. */
  void check() throws UsageFailure {
    if (batch < 2) {
      throw new UsageFailure("--batch must be >= 2 (BatchNorm needs two samples): " + batch);
    }
    if (!(lr > 0)) {
      throw new UsageFailure("--lr must be > 0: " + lr);
    }
    if (bnSamples < 0) {
      throw new UsageFailure("--bn-samples must be >= 0: " + bnSamples);
    }
    if (resume && checkpointDir == null) {
      throw new UsageFailure("--resume needs --checkpoint-dir");
    }
    if (warmupEpochs < 0) {
      throw new UsageFailure("--warmup-epochs must be >= 0: " + warmupEpochs);
    }
    if (cropPadding < 0) {
      throw new UsageFailure("--crop-padding must be >= 0: " + cropPadding);
    }
    if (!Arrays.asList("constant", "step", "cosine", "rewind").contains(schedule)) {
      throw new UsageFailure("--schedule must be constant, step, cosine or rewind: '" + schedule + "'");
    }
    trainingOptions();
  }

  /** BatchNorm recalibration batches for {@code --bn-samples} (0: all). */
  int bnBatches() {
    return bnSamples == 0 ? 0 : (bnSamples + batch - 1) / batch;
  }

  /** The training step's options: optimizer, label smoothing. */
  TrainingOptions trainingOptions() throws UsageFailure {
    TrainingOptions.Builder b = TrainingOptions.builder().optimizer(step.optimizer());
    step.applyLabelSmoothing(b);
    return b.build();
  }

  /** The per-step learning rate of {@code epochs} epochs of {@code stepsPerEpoch} steps. */
  LrSchedule schedule(int epochs, int stepsPerEpoch) throws UsageFailure {
    long total = (long) epochs * stepsPerEpoch;
    LrSchedule s = switch (schedule) {
      case "constant" -> Schedules.constant(lr);
      case "step" -> Schedules.perEpoch(Schedules.multiStep(lr, milestones(epochs), gamma), stepsPerEpoch);
      case "cosine" -> Schedules.cosine(lr, total, 0);
      case "rewind" -> {
        if (originalEpochs == null || originalEpochs < epochs) {
          throw new UsageFailure("--schedule rewind needs --original-epochs T with T >= --epochs (" + epochs + "): "
              + originalEpochs);
        }
        // Renda et al. sec. 2: retrain t epochs with the last t epochs of the original schedule
        LrSchedule original = Schedules.multiStep(lr, milestones(originalEpochs), gamma);
        yield Schedules.perEpoch(Schedules.rewind(original, originalEpochs - epochs), stepsPerEpoch);
      }
      default -> throw new UsageFailure("--schedule must be constant, step, cosine or rewind: '" + schedule + "'");
    };
    long warm = Math.round(warmupEpochs * stepsPerEpoch);
    return warm > 0 ? Schedules.warmup(warm, shifted(s, warm)) : s;
  }

  /** The schedule continuing after the warm-up (its time runs on), rather than starting over. */
  private static LrSchedule shifted(LrSchedule s, long by) {
    return t -> s.at(t + by);
  }

  private long[] milestones(int epochs) {
    if (milestones != null) {
      return milestones.clone();
    }
    return new long[] {Math.max(1, Math.round(epochs * 0.5)), Math.max(1, Math.round(epochs * 0.75))};
  }

  /** The augmentation: black pixels pad the crop ({@code fill}, normalised). */
  Augmentation augmentation(float[] fill) {
    if (!augment) {
      return Augmentation.none();
    }
    return Augmentation.cropAndFlip(cropPadding, fill);
  }

  /** The trainer's options but for the data, epochs and listener. */
  TrainerOptions.Builder trainer(int epochs, int stepsPerEpoch, long seed, float[] fill) throws UsageFailure {
    return TrainerOptions.builder().epochs(epochs).batchSize(batch).seed(seed)
        .schedule(schedule(epochs, stepsPerEpoch), TrainerOptions.ScheduleUnit.STEP).augmentation(augmentation(fill))
        .checkpointDir(checkpointDir).resume(resume);
  }
}
