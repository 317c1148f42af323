package dev.onnxprune.cli;

import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.Recovery;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/**
 * How accuracy is recovered, shared by {@code finetune} and {@code prune}: BatchNorm recalibration,
 * the epochs and the fine-tuning hyper-parameters, adapted to the library's {@link Recovery} and
 * {@link FineTuning} (which check the values; their keys map to these flags in {@link OptionNames}).
 * An option section (an initialised {@code @ArgGroup(validate = false)}), so defaults are field
 * initialisers; {@code order} keeps {@link TrainingStepOptions}' options after {@code --batch}.
 */
public final class RecoveryOptions {
  @Option(names = "--recalibrate-bn", order = 10,
      description = "Re-estimate every BatchNormalization's running mean and variance on --bn-samples training"
          + " samples (a forward pass on batch statistics, cumulative average, no weight update) before any"
          + " fine-tuning.")
  boolean recalibrateBn;

  @Option(names = "--bn-samples", order = 11, paramLabel = "N",
      description = "Samples for --recalibrate-bn (default ${DEFAULT-VALUE}; 0: all).")
  int bnSamples = 4096;

  @Option(names = "--refit", order = 7,
      description = "Refit every Conv/Gemm/MatMul after pruning by least squares so that, on the pruned model's own"
          + " input, it reproduces the original layer's output on --refit-samples training samples (He et al. 2017;"
          + " no labels, no training), before any other recovery stage.")
  boolean refit;

  @Option(names = "--refit-samples", order = 8, paramLabel = "N",
      description = "Samples for --refit (default ${DEFAULT-VALUE}; 0: all).")
  int refitSamples = Recovery.DEFAULT_REFIT_SAMPLES;

  @Option(names = "--insert-bn", order = 9, paramLabel = "WHEN",
      description = "Train through BatchNormalization put after every convolution that has none (a model exported"
          + " with BatchNorm folded): inserted before pruning with the original's statistics, recalibrated and"
          + " trained like BatchNorm, folded back before writing. auto (when recovering a model without any"
          + " BatchNormalization; default), on (after every convolution without one), off.")
  String insertBn = "auto";

  @Option(names = {"--epochs", "--finetune-epochs"}, order = 12, paramLabel = "N",
      description = "Passes of fine-tuning over --images (prune: default none; finetune: required, and with --scratch"
          + " --original the budget before the Scratch-B scaling).")
  Integer epochs;

  @Option(names = "--lr", order = 13, paramLabel = "LR",
      description = "Fine-tuning learning rate (the peak of the schedule; default ${DEFAULT-VALUE}).")
  double lr = 0.01;

  @Option(names = "--batch", order = 14, paramLabel = "N",
      description = "Samples per training step (default ${DEFAULT-VALUE}).")
  int batch = 64;

  @ArgGroup(validate = false)
  TrainingStepOptions step = new TrainingStepOptions();

  @Option(names = "--schedule", order = 20, paramLabel = "NAME",
      description = "Learning-rate schedule: constant; step (times --lr-decay at each of --milestones epochs); cosine"
          + " (annealed to 0 over all steps; default); rewind (learning-rate rewinding, Renda et al. 2020: the last"
          + " --epochs epochs of the original training's step schedule over --original-epochs epochs).")
  String schedule = "cosine";

  @Option(names = "--milestones", order = 21, split = ",", paramLabel = "E",
      description = "Epochs at which step and rewind multiply the rate by --lr-decay (default: at 1/2 and 3/4 of the"
          + " schedule's epochs).")
  long[] milestones;

  @Option(names = "--lr-decay", order = 22, paramLabel = "G",
      description = "Factor of each step of the step and rewind schedules, in (0, 1] (default ${DEFAULT-VALUE}).")
  double lrDecay = 0.1;

  @Option(names = "--original-epochs", order = 23, paramLabel = "T",
      description = "rewind: the epochs of the original training, at least --epochs.")
  Integer originalEpochs;

  @Option(names = "--warmup-epochs", order = 24, paramLabel = "W",
      description = "Linear warm-up over the first W epochs (fractions allowed), then the schedule (default"
          + " ${DEFAULT-VALUE}).")
  double warmupEpochs = 0;

  @Option(names = "--augment", order = 25, negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Random crop (--crop-padding) and horizontal flip of the training images (default: on;"
          + " --no-augment turns it off).")
  boolean augment = true; // and defaultValue: picocli negates a negatable option's default value

  @Option(names = "--crop-padding", order = 26, paramLabel = "P",
      description = "Pixels of padding for the random crop (default ${DEFAULT-VALUE}; 0: flips only).")
  int cropPadding = 4;

  @Option(names = "--checkpoint-dir", order = 27, paramLabel = "DIR",
      description = "Write a checkpoint (parameters, optimizer state, position) into DIR after every epoch.")
  Path checkpointDir;

  @Option(names = "--resume", order = 28,
      description = "Continue from the checkpoint in --checkpoint-dir (a fresh start when there is none yet).")
  boolean resume;

  @Option(names = "--rewind-weights", order = 33, paramLabel = "EARLY.onnx",
      description = "Weight rewinding (Frankle et al.): before each fine-tuning, reset the weights pruning kept to their"
          + " values in EARLY.onnx, an early checkpoint of the original training (same architecture), keeping the"
          + " pruned channels and zero weights. Learning-rate rewinding is --schedule rewind.")
  Path rewindWeights;

  @Option(names = "--keep-sparsity", order = 29, paramLabel = "WHEN",
      description = "Keep zero weights at zero while training (unstructured or N:M sparsity): auto (when at least 1%%"
          + " of the weights are zero, as after mask; default), on, off.")
  String keepSparsity = "auto";

  @Option(names = "--distill", order = 30, paramLabel = "KIND",
      description = "Distil from the unpruned model while fine-tuning: kl (KL divergence of the class"
          + " distributions softened by --temperature, mixed with the cross-entropy by --distill-weight), mse"
          + " (mean-squared error on every output; any model), none (default ${DEFAULT-VALUE}). Without --labels, or"
          + " for a model that is not a classifier, it distils anyway (kl, or mse), having no other loss.")
  String distill = "none";

  @Option(names = "--temperature", order = 31, paramLabel = "T",
      description = "--distill kl: the softmax temperature (default ${DEFAULT-VALUE}).")
  double temperature = FineTuning.DEFAULT_TEMPERATURE;

  @Option(names = "--distill-weight", order = 32, paramLabel = "W",
      description = "The distillation term's share of the loss, the cross-entropy getting 1 - W (default"
          + " ${DEFAULT-VALUE}; without labels it is the whole loss).")
  double distillWeight = 0.5;

  /** The checkpoint file training writes into --checkpoint-dir; null without it. */
  Path checkpointFile() {
    return checkpointDir == null ? null : checkpointDir.resolve(dev.onnxprune.training.Trainer.CHECKPOINT);
  }

  /** The fine-tuning for {@code epochs} epochs; the library checks every value. */
  FineTuning fineTuning(int epochs) throws UsageFailure {
    return UsageFailure.check(null, () -> {
      FineTuning.Builder b = FineTuning.builder().epochs(epochs).learningRate(lr).batchSize(batch)
          .optimizer(step.optimizer, step.momentum, step.weightDecay).labelSmoothing(step.labelSmoothing)
          .schedule(FineTuning.Schedule.byName(schedule)).lrDecay(lrDecay).warmupEpochs(warmupEpochs)
          .augment(augment).cropPadding(cropPadding).checkpointDir(checkpointDir).resume(resume)
          .keepSparsity(FineTuning.KeepSparsity.byName(keepSparsity))
          .distillation(distill, temperature, distillWeight);
      if (milestones != null) {
        b.milestones(milestones);
      }
      if (originalEpochs != null) {
        b.originalEpochs(originalEpochs);
      }
      return b.build();
    });
  }

  /** --epochs, or {@code otherwise} when it is not given. */
  int epochs(int otherwise) {
    return epochs == null ? otherwise : epochs;
  }

  /** The recovery: --refit, --recalibrate-bn, then {@code epochs} of fine-tuning (0: none). */
  Recovery recovery(int epochs) throws UsageFailure {
    FineTuning f = epochs > 0 ? fineTuning(epochs) : null;
    return UsageFailure.check(null, () -> new Recovery(recalibrateBn, bnSamples, f,
        Recovery.InsertBn.byName(insertBn), refit, refitSamples));
  }

  /** True when a recovery stage was asked for. */
  boolean asked(int epochs) {
    return recalibrateBn || epochs > 0 || refit;
  }
}
