package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.training.Augmentation;
import dev.onnxprune.training.LrSchedule;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.Schedules;
import dev.onnxprune.training.TrainerOptions;
import dev.onnxprune.training.TrainingOptions;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * How a pruned model is fine-tuned: epochs, optimizer, learning-rate schedule, batch, augmentation
 * and checkpoints. The training step is the model's exported training artifact run by ONNX
 * Runtime ({@link dev.onnxprune.training.Trainer}). Built by {@link #builder()}; every setter checks
 * its value and names it by its key ({@code fineTuning.epochs}, ...) in an
 * {@link InvalidOptionException}.
 */
public final class FineTuning {
  /** The learning-rate schedule over the fine-tuning. */
  public enum Schedule {
    /** The learning rate throughout. */
    CONSTANT,
    /** Times {@link Builder#lrDecay} at each milestone epoch. */
    STEP,
    /** Cosine annealing to 0 over all steps (the default). */
    COSINE,
    /**
     * Learning-rate rewinding (Renda et al. 2020): the last {@code epochs} epochs of the original
     * training's step schedule over {@link Builder#originalEpochs} epochs.
     */
    REWIND;

    /** The schedule named {@code name} (case-insensitive). */
    public static Schedule byName(String name) {
      for (Schedule s : values()) {
        if (s.name().equalsIgnoreCase(name)) {
          return s;
        }
      }
      throw new InvalidOptionException("fineTuning.schedule", name, "must be constant, step, cosine or rewind");
    }
  }

  private final int epochs;
  private final double learningRate;
  private final int batchSize;
  private final Optimizer optimizer;
  private final double labelSmoothing;
  private final Schedule schedule;
  private final long[] milestones;
  private final double lrDecay;
  private final Integer originalEpochs;
  private final double warmupEpochs;
  private final boolean augment;
  private final int cropPadding;
  private final Path checkpointDir;
  private final boolean resume;

  private FineTuning(Builder b) {
    this.epochs = b.epochs;
    this.learningRate = b.learningRate;
    this.batchSize = b.batchSize;
    this.optimizer = b.optimizer;
    this.labelSmoothing = b.labelSmoothing;
    this.schedule = b.schedule;
    this.milestones = b.milestones == null ? null : b.milestones.clone();
    this.lrDecay = b.lrDecay;
    this.originalEpochs = b.originalEpochs;
    this.warmupEpochs = b.warmupEpochs;
    this.augment = b.augment;
    this.cropPadding = b.cropPadding;
    this.checkpointDir = b.checkpointDir;
    this.resume = b.resume;
  }

  /** Fine-tuning for {@code epochs} epochs with the defaults (SGD 0.01, momentum 0.9, cosine, batch 64). */
  public static FineTuning epochs(int epochs) {
    return builder().epochs(epochs).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public int epochs() {
    return epochs;
  }

  public double learningRate() {
    return learningRate;
  }

  public int batchSize() {
    return batchSize;
  }

  public Optimizer optimizer() {
    return optimizer;
  }

  public Schedule schedule() {
    return schedule;
  }

  /** The training step's options: optimizer and label smoothing. */
  public TrainingOptions trainingOptions() {
    return TrainingOptions.builder().optimizer(optimizer).labelSmoothing(labelSmoothing).build();
  }

  /** The crop-and-flip augmentation; {@code fill} is what a padding pixel becomes (per channel). */
  public Augmentation augmentation(float[] fill) {
    return augment ? Augmentation.cropAndFlip(cropPadding, fill) : Augmentation.none();
  }

  /**
   * The trainer's options for {@code epochs} epochs of {@code stepsPerEpoch} steps, but for the
   * validation data and the listener.
   *
   * @param fill what a padding pixel of the random crop becomes, per channel (the normalised 0)
   */
  public TrainerOptions.Builder trainer(int epochs, int stepsPerEpoch, long seed, float[] fill) {
    return TrainerOptions.builder().epochs(epochs).batchSize(batchSize).seed(seed)
        .schedule(schedule(epochs, stepsPerEpoch), TrainerOptions.ScheduleUnit.STEP).augmentation(augmentation(fill))
        .checkpointDir(checkpointDir).resume(resume);
  }

  /** The per-step learning rate of {@code epochs} epochs of {@code stepsPerEpoch} steps. */
  LrSchedule schedule(int epochs, int stepsPerEpoch) {
    long total = (long) epochs * stepsPerEpoch;
    LrSchedule s = switch (schedule) {
      case CONSTANT -> Schedules.constant(learningRate);
      case STEP -> Schedules.perEpoch(Schedules.multiStep(learningRate, milestones(epochs), lrDecay), stepsPerEpoch);
      case COSINE -> Schedules.cosine(learningRate, total, 0);
      case REWIND -> {
        if (originalEpochs == null || originalEpochs < epochs) {
          throw new InvalidOptionException("fineTuning.originalEpochs", originalEpochs,
              "must be given and at least the fine-tuning's epochs (" + epochs + ") with the rewind schedule");
        }
        // Renda et al. sec. 2: retrain t epochs with the last t epochs of the original schedule
        LrSchedule original = Schedules.multiStep(learningRate, milestones(originalEpochs), lrDecay);
        yield Schedules.perEpoch(Schedules.rewind(original, originalEpochs - epochs), stepsPerEpoch);
      }
    };
    long warm = Math.round(warmupEpochs * stepsPerEpoch);
    return warm > 0 ? Schedules.warmup(warm, t -> s.at(t + warm)) : s;
  }

  private long[] milestones(int epochs) {
    if (milestones != null) {
      return milestones.clone();
    }
    return new long[] {Math.max(1, Math.round(epochs * 0.5)), Math.max(1, Math.round(epochs * 0.75))};
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "%d epoch(s), %s lr %s, %s schedule, batch %d", epochs, optimizer, learningRate,
        schedule.name().toLowerCase(Locale.ROOT), batchSize);
  }

  /** Configures {@link FineTuning}; each setter checks its value. */
  public static final class Builder {
    private int epochs = 1;
    private double learningRate = 0.01;
    private int batchSize = 64;
    private Optimizer optimizer = new Optimizer.Sgd(0.9, 0, false, 5e-4);
    private double labelSmoothing;
    private Schedule schedule = Schedule.COSINE;
    private long[] milestones;
    private double lrDecay = 0.1;
    private Integer originalEpochs;
    private double warmupEpochs;
    private boolean augment = true;
    private int cropPadding = 4;
    private Path checkpointDir;
    private boolean resume;

    private Builder() {}

    /** Passes over the training data, at least 1 (default 1). */
    public Builder epochs(int n) {
      this.epochs = InvalidOptionException.atLeast("fineTuning.epochs", n, 1);
      return this;
    }

    /** The learning rate, the peak of the schedule (default 0.01). */
    public Builder learningRate(double lr) {
      this.learningRate = InvalidOptionException.learningRate("fineTuning.learningRate", lr, false);
      return this;
    }

    /** Samples per step, at least 2 (BatchNormalization needs two samples; default 64). */
    public Builder batchSize(int n) {
      this.batchSize = InvalidOptionException.atLeast("fineTuning.batchSize", n, 2);
      return this;
    }

    /** The optimizer (default SGD, momentum 0.9, weight decay 5e-4). */
    public Builder optimizer(Optimizer o) {
      this.optimizer = Objects.requireNonNull(o, "optimizer");
      return this;
    }

    /**
     * The optimizer by name: sgd, nesterov, adam or adamw, with its momentum (SGD) and weight decay.
     */
    public Builder optimizer(String name, double momentum, double weightDecay) {
      InvalidOptionException.require(momentum >= 0 && momentum < 1, "fineTuning.momentum", "in [0, 1)", momentum);
      InvalidOptionException.nonNegative("fineTuning.weightDecay", weightDecay);
      this.optimizer = switch (name) {
        case "sgd" -> new Optimizer.Sgd(momentum, 0, false, weightDecay);
        case "nesterov" -> new Optimizer.Sgd(momentum, 0, true, weightDecay);
        case "adam" -> Optimizer.adam(weightDecay);
        case "adamw" -> Optimizer.adamW(weightDecay);
        default -> throw new InvalidOptionException("fineTuning.optimizer", name, "must be sgd, nesterov, adam or adamw");
      };
      return this;
    }

    /** Label smoothing of the cross-entropy, in [0, 1) (default 0). */
    public Builder labelSmoothing(double eps) {
      this.labelSmoothing = InvalidOptionException.require(eps >= 0 && eps < 1, "fineTuning.labelSmoothing",
          "in [0, 1)", eps);
      return this;
    }

    /** The learning-rate schedule (default cosine). */
    public Builder schedule(Schedule s) {
      this.schedule = Objects.requireNonNull(s, "schedule");
      return this;
    }

    /** Epochs at which the step and rewind schedules multiply the rate by {@link #lrDecay} (default 1/2 and 3/4). */
    public Builder milestones(long... epochs) {
      for (long e : epochs) {
        InvalidOptionException.atLeast("fineTuning.milestones", e, 1);
      }
      this.milestones = epochs.clone();
      return this;
    }

    /** The factor of each step of the step and rewind schedules, in (0, 1] (default 0.1). */
    public Builder lrDecay(double g) {
      this.lrDecay = InvalidOptionException.inHalfOpenUnit("fineTuning.lrDecay", g);
      return this;
    }

    /** The rewind schedule: the epochs of the original training, at least the fine-tuning's. */
    public Builder originalEpochs(int n) {
      this.originalEpochs = InvalidOptionException.atLeast("fineTuning.originalEpochs", n, 1);
      return this;
    }

    /** Linear warm-up over the first {@code epochs} epochs (fractions allowed; default 0). */
    public Builder warmupEpochs(double epochs) {
      this.warmupEpochs = InvalidOptionException.nonNegative("fineTuning.warmupEpochs", epochs);
      return this;
    }

    /** Random crop and horizontal flip of the training images (default on). */
    public Builder augment(boolean on) {
      this.augment = on;
      return this;
    }

    /** Pixels of padding of the random crop (default 4; 0: flips only). */
    public Builder cropPadding(int pixels) {
      this.cropPadding = InvalidOptionException.atLeast("fineTuning.cropPadding", pixels, 0);
      return this;
    }

    /** Write a checkpoint into {@code dir} after every epoch (default none). */
    public Builder checkpointDir(Path dir) {
      this.checkpointDir = dir;
      return this;
    }

    /** Continue from the checkpoint in {@link #checkpointDir} when there is one. */
    public Builder resume(boolean on) {
      this.resume = on;
      return this;
    }

    /**
     * @throws InvalidOptionException when {@code fineTuning.resume} has no checkpoint folder, or the
     *     rewind schedule has no {@code fineTuning.originalEpochs} at least {@code epochs}
     */
    public FineTuning build() {
      if (resume && checkpointDir == null) {
        throw new InvalidOptionException("fineTuning.resume", null, "needs fineTuning.checkpointDir");
      }
      if (schedule == Schedule.REWIND && (originalEpochs == null || originalEpochs < epochs)) {
        throw new InvalidOptionException("fineTuning.originalEpochs", originalEpochs,
            "must be given and at least fineTuning.epochs (" + epochs + ") with the rewind schedule");
      }
      return new FineTuning(this);
    }
  }
}
