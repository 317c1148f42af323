package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.training.Augmentation;
import dev.onnxprune.training.Distillation;
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

  /** Whether fine-tuning keeps the model's zero weights at zero (unstructured or N:M sparsity). */
  public enum KeepSparsity {
    /**
     * When the model is masked: at least {@link dev.onnxprune.surgery.WeightSparsity#MASKED_AT} of its
     * weights are zero (the default).
     */
    AUTO,
    /** Always: every zero weight of a Conv, Gemm or MatMul stays zero. */
    ON,
    /** Never: zero weights train like the others. */
    OFF;

    /** The setting named {@code name} (case-insensitive). */
    public static KeepSparsity byName(String name) {
      for (KeepSparsity k : values()) {
        if (k.name().equalsIgnoreCase(name)) {
          return k;
        }
      }
      throw new InvalidOptionException("fineTuning.keepSparsity", name, "must be auto, on or off");
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
  private final KeepSparsity keepSparsity;
  private final Distillation distillation;

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
    this.keepSparsity = b.keepSparsity;
    this.distillation = b.distillation;
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

  /**
   * Distillation from the unpruned model (the teacher), or null for none: then the pipeline still
   * distils when the training data has no labels or the model is not a classifier (KL at
   * temperature {@value #DEFAULT_TEMPERATURE} for classifiers, mean-squared error on every output
   * otherwise), since there is no other loss.
   */
  public Distillation distillation() {
    return distillation;
  }

  /** The temperature of the KL distillation the pipeline chooses by itself. */
  public static final double DEFAULT_TEMPERATURE = 4;

  /** The folder of the training checkpoint, or null. */
  public Path checkpointDir() {
    return checkpointDir;
  }

  /** Whether the zero weights stay zero ({@link KeepSparsity}). */
  public KeepSparsity keepSparsity() {
    return keepSparsity;
  }

  /**
   * Whether fine-tuning {@code model} keeps its zeros: {@link KeepSparsity#ON}, or {@link
   * KeepSparsity#AUTO} and the model is masked.
   */
  public boolean keepsSparsityOf(dev.onnxprune.surgery.WeightSparsity sparsity) {
    return keepSparsity == KeepSparsity.ON || keepSparsity == KeepSparsity.AUTO && sparsity.masked();
  }

  /** The training step's options: optimizer and label smoothing. */
  public TrainingOptions trainingOptions() {
    return trainingOptions(false);
  }

  /** The training step's options: optimizer, label smoothing and, with {@code keepZeros}, zero weights masked. */
  public TrainingOptions trainingOptions(boolean keepZeros) {
    return trainingOptionsBuilder(keepZeros).build();
  }

  /** {@link #trainingOptions(boolean)}, to be added to. */
  public TrainingOptions.Builder trainingOptionsBuilder(boolean keepZeros) {
    return TrainingOptions.builder().optimizer(optimizer).labelSmoothing(labelSmoothing).maskZeroWeights(keepZeros);
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
    return String.format(Locale.ROOT, "%d epoch(s), %s lr %s, %s schedule, batch %d%s", epochs, optimizer, learningRate,
        schedule.name().toLowerCase(Locale.ROOT), batchSize, distillation == null ? "" : ", " + describe(distillation));
  }

  /** The distillation in words: {@code distilled (KL, T 4, weight 0.5)}. */
  static String describe(Distillation d) {
    return d.kind() == Distillation.Kind.KL
        ? String.format(Locale.ROOT, "distilled (KL, T %s, weight %s)", d.temperature(), d.weight())
        : String.format(Locale.ROOT, "distilled (MSE on every output, weight %s)", d.weight());
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
    private KeepSparsity keepSparsity = KeepSparsity.AUTO;
    private Distillation distillation;

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
     * Whether zero weights stay zero: {@link KeepSparsity#AUTO} (default: when at least 1% of the
     * weights are zero, as after unstructured or N:M masking), on or off.
     */
    public Builder keepSparsity(KeepSparsity k) {
      this.keepSparsity = Objects.requireNonNull(k, "keepSparsity");
      return this;
    }

    /**
     * Distil from the unpruned model (the teacher; {@link PruningPipeline.Builder#teacher} when the
     * pipeline does not prune): {@link Distillation} with the kind, temperature and the share of the
     * distillation term against the cross-entropy (default none; see {@link #distillation()}).
     */
    public Builder distillation(Distillation d) {
      this.distillation = d;
      return this;
    }

    /**
     * {@link #distillation} by name: kl (temperature {@code temperature}) or mse, {@code weight} the
     * distillation term's share in [0, 1], or none.
     */
    public Builder distillation(String kind, double temperature, double weight) {
      InvalidOptionException.require(temperature > 0 && temperature < 1e6, "fineTuning.temperature", "> 0",
          temperature);
      InvalidOptionException.require(weight >= 0 && weight <= 1, "fineTuning.distillWeight", "in [0, 1]", weight);
      this.distillation = switch (kind.toLowerCase(Locale.ROOT)) {
        case "kl" -> Distillation.kl(temperature, weight);
        case "mse" -> Distillation.mse(weight);
        case "none" -> null;
        default -> throw new InvalidOptionException("fineTuning.distillation", kind, "must be kl, mse or none");
      };
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
