package dev.onnxprune.training;

import dev.onnxprune.runtime.Dataset;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How {@link Trainer} runs: epochs, batch size, learning-rate schedule, augmentation, shuffling
 * seed, validation data, checkpoints. Build with {@link #builder()}; defaults: 1 epoch, batch 64,
 * constant learning rate 0.01 per step, no augmentation, seed 0, shuffled, no validation, no
 * checkpoints.
 */
public final class TrainerOptions {
  /** What the schedule's time {@code t} counts. */
  public enum ScheduleUnit {
    /** Optimizer steps (batches) since the start of training, from 0. */
    STEP,
    /** Epochs since the start of training, from 0 (constant within an epoch). */
    EPOCH
  }

  private final int epochs;
  private final int batchSize;
  private final LrSchedule schedule;
  private final ScheduleUnit unit;
  private final Augmentation augmentation;
  private final long seed;
  private final boolean shuffle;
  private final Dataset validation;
  private final int evalBatchSize;
  private final Path checkpointDir;
  private final boolean resume;
  private final Trainer.Listener listener;
  private final dev.onnxprune.graph.Model teacher;

  private TrainerOptions(Builder b) {
    this.epochs = b.epochs;
    this.batchSize = b.batchSize;
    this.schedule = b.schedule;
    this.unit = b.unit;
    this.augmentation = b.augmentation;
    this.seed = b.seed;
    this.shuffle = b.shuffle;
    this.validation = b.validation;
    this.evalBatchSize = b.evalBatchSize;
    this.checkpointDir = b.checkpointDir;
    this.resume = b.resume;
    this.listener = b.listener;
    this.teacher = b.teacher;
  }

  /** The teacher of a distilling training step ({@link TrainingOptions#distillation}), or null. */
  public dev.onnxprune.graph.Model teacher() {
    return teacher;
  }

  public static Builder builder() {
    return new Builder();
  }

  public int epochs() {
    return epochs;
  }

  public int batchSize() {
    return batchSize;
  }

  public LrSchedule schedule() {
    return schedule;
  }

  public ScheduleUnit scheduleUnit() {
    return unit;
  }

  public Augmentation augmentation() {
    return augmentation;
  }

  public long seed() {
    return seed;
  }

  public boolean shuffle() {
    return shuffle;
  }

  /** Evaluated after every epoch; null for none. */
  public Dataset validation() {
    return validation;
  }

  public int evalBatchSize() {
    return evalBatchSize;
  }

  /** Where a checkpoint is written after every epoch; null for none. */
  public Path checkpointDir() {
    return checkpointDir;
  }

  public boolean resume() {
    return resume;
  }

  public Trainer.Listener listener() {
    return listener;
  }

  /** Builder of {@link TrainerOptions}; each setter checks its value. */
  public static final class Builder {
    private int epochs = 1;
    private int batchSize = 64;
    private LrSchedule schedule = Schedules.constant(0.01);
    private ScheduleUnit unit = ScheduleUnit.STEP;
    private Augmentation augmentation = Augmentation.none();
    private long seed;
    private boolean shuffle = true;
    private Dataset validation;
    private int evalBatchSize = 256;
    private Path checkpointDir;
    private boolean resume;
    private Trainer.Listener listener = new Trainer.Listener() {};
    private dev.onnxprune.graph.Model teacher;

    private Builder() {}

    /** Passes over the training data, at least 1. */
    public Builder epochs(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("epochs must be >= 1: " + n);
      }
      this.epochs = n;
      return this;
    }

    /** Samples per optimizer step, at least 2 (BatchNormalization needs two samples). */
    public Builder batchSize(int n) {
      if (n < 2) {
        throw new IllegalArgumentException("batch size must be >= 2: " + n);
      }
      this.batchSize = n;
      return this;
    }

    /** The learning rate as a function of steps or epochs ({@link Schedules}). */
    public Builder schedule(LrSchedule s, ScheduleUnit unit) {
      this.schedule = Objects.requireNonNull(s, "schedule");
      this.unit = Objects.requireNonNull(unit, "unit");
      return this;
    }

    /** A constant learning rate. */
    public Builder learningRate(double lr) {
      return schedule(Schedules.constant(lr), ScheduleUnit.STEP);
    }

    public Builder augmentation(Augmentation a) {
      this.augmentation = Objects.requireNonNull(a, "augmentation");
      return this;
    }

    /** Fixes the shuffling order and the augmentation draws of every epoch. */
    public Builder seed(long s) {
      this.seed = s;
      return this;
    }

    /** Whether each epoch visits the samples in a new random order (default true). */
    public Builder shuffle(boolean on) {
      this.shuffle = on;
      return this;
    }

    /** Labelled data evaluated after every epoch (loss and top-1). */
    public Builder validation(Dataset d) {
      this.validation = d;
      return this;
    }

    public Builder evalBatchSize(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("eval batch size must be >= 1: " + n);
      }
      this.evalBatchSize = n;
      return this;
    }

    /**
     * Writes {@value Trainer#CHECKPOINT} into {@code dir} after every epoch (the full training
     * state and the trainer's position; atomic).
     */
    public Builder checkpointDir(Path dir) {
      this.checkpointDir = dir;
      return this;
    }

    /** Continues from the checkpoint in {@link #checkpointDir} when there is one. */
    public Builder resume(boolean on) {
      this.resume = on;
      return this;
    }

    public Builder listener(Trainer.Listener l) {
      this.listener = Objects.requireNonNull(l, "listener");
      return this;
    }

    /**
     * The teacher whose outputs a distilling training step matches: run in ONNX Runtime on every
     * (augmented) batch; without augmentation its outputs are computed in the first epoch and
     * reused after it.
     */
    public Builder teacher(dev.onnxprune.graph.Model m) {
      this.teacher = m;
      return this;
    }

    /**
     * @throws IllegalArgumentException when resuming without a checkpoint folder
     */
    public TrainerOptions build() {
      if (resume && checkpointDir == null) {
        throw new IllegalArgumentException("resuming needs a checkpoint folder");
      }
      return new TrainerOptions(this);
    }
  }
}
