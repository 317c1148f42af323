package dev.onnxprune.methods;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.training.Augmentation;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What every {@link TrainingMethod} trains on: the labelled training data, validation data for
 * the accuracy in its trajectory, the ONNX Runtime sessions, the batch size, the seed, the
 * augmentation and a listener told each trajectory point as it happens (progress).
 */
public final class MethodSetup {
  private final Dataset train;
  private final Dataset validation;
  private final Sessions sessions;
  private int batchSize = 64;
  private long seed = 1;
  private Augmentation augmentation = Augmentation.none();
  private int validationLimit = 1000;
  private Consumer<TrajectoryPoint> listener = p -> {};

  /**
   * @param train labelled training data (required)
   * @param validation labelled data for the trajectory's accuracy, or null for none
   * @param sessions where the training steps run (CPU or CUDA)
   */
  public MethodSetup(Dataset train, Dataset validation, Sessions sessions) {
    this.train = Objects.requireNonNull(train, "training data");
    this.validation = validation;
    this.sessions = Objects.requireNonNull(sessions, "sessions");
  }

  /** Samples per training step (default 64). */
  public MethodSetup batchSize(int n) {
    this.batchSize = InvalidOptionException.atLeast("method.batchSize", n, 2);
    return this;
  }

  /** Seed of shuffling, augmentation and the methods' random choices (default 1). */
  public MethodSetup seed(long s) {
    this.seed = s;
    return this;
  }

  /** Augmentation of training batches (default none). */
  public MethodSetup augmentation(Augmentation a) {
    this.augmentation = Objects.requireNonNull(a, "augmentation");
    return this;
  }

  /** At most this many validation samples are evaluated per trajectory point (default 1000). */
  public MethodSetup validationLimit(int n) {
    this.validationLimit = InvalidOptionException.atLeast("method.validationLimit", n, 1);
    return this;
  }

  /** Told every trajectory point as the method records it. */
  public MethodSetup listener(Consumer<TrajectoryPoint> l) {
    this.listener = Objects.requireNonNull(l, "listener");
    return this;
  }

  public Dataset train() {
    return train;
  }

  public Dataset validation() {
    return validation;
  }

  public Sessions sessions() {
    return sessions;
  }

  public int batchSize() {
    return batchSize;
  }

  public long seed() {
    return seed;
  }

  public Augmentation augmentation() {
    return augmentation;
  }

  public int validationLimit() {
    return validationLimit;
  }

  public Consumer<TrajectoryPoint> listener() {
    return listener;
  }
}
