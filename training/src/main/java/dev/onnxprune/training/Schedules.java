package dev.onnxprune.training;

import java.util.Arrays;

/**
 * Learning-rate schedules (the formulas of {@code torch.optim.lr_scheduler} where one exists),
 * in a time unit of the caller's choosing.
 */
public final class Schedules {
  private Schedules() {}

  /** {@code lr} always. */
  public static LrSchedule constant(double lr) {
    check(lr >= 0, "learning rate must be >= 0: " + lr);
    return t -> lr;
  }

  /** StepLR: {@code lr * gamma^floor(t / every)}. */
  public static LrSchedule step(double lr, long every, double gamma) {
    check(lr >= 0, "learning rate must be >= 0: " + lr);
    check(every > 0, "step size must be > 0: " + every);
    check(gamma > 0, "gamma must be > 0: " + gamma);
    return t -> lr * Math.pow(gamma, Math.floorDiv(t, every));
  }

  /** MultiStepLR: {@code lr * gamma^k} with k the number of milestones {@code <= t}. */
  public static LrSchedule multiStep(double lr, long[] milestones, double gamma) {
    check(lr >= 0, "learning rate must be >= 0: " + lr);
    long[] m = milestones.clone();
    Arrays.sort(m);
    return t -> {
      int k = 0;
      while (k < m.length && m[k] <= t) {
        k++;
      }
      return lr * Math.pow(gamma, k);
    };
  }

  /**
   * CosineAnnealingLR over {@code total}: {@code min + (lr - min) (1 + cos(pi t / total)) / 2},
   * {@code min} from {@code total} on.
   */
  public static LrSchedule cosine(double lr, long total, double min) {
    check(total > 0, "cosine schedule length must be > 0: " + total);
    check(lr >= min && min >= 0, "need lr >= min >= 0: " + lr + ", " + min);
    return t -> t >= total ? min : min + (lr - min) * (1 + Math.cos(Math.PI * t / total)) / 2;
  }

  /**
   * Cosine annealing with warm restarts (SGDR, Loshchilov and Hutter 2017, eq. 5;
   * CosineAnnealingWarmRestarts): cycles of length {@code t0}, {@code t0 * mult}, {@code t0 *
   * mult^2}, ..., each restarting at {@code lr} and annealing to {@code min}.
   */
  public static LrSchedule warmRestarts(double lr, long t0, long mult, double min) {
    check(t0 > 0, "first cycle length must be > 0: " + t0);
    check(mult >= 1, "cycle multiplier must be >= 1: " + mult);
    check(lr >= min && min >= 0, "need lr >= min >= 0: " + lr + ", " + min);
    return t -> {
      long start = 0;
      long len = t0;
      while (t >= start + len) {
        start += len;
        len *= mult;
      }
      return min + (lr - min) * (1 + Math.cos(Math.PI * (t - start) / len)) / 2;
    };
  }

  /** Linear warm-up from {@code lr/warmup} to {@code inner.at(0)} over {@code warmup}, then {@code inner} shifted. */
  public static LrSchedule warmup(long warmup, LrSchedule inner) {
    check(warmup >= 0, "warm-up length must be >= 0: " + warmup);
    return t -> t < warmup ? inner.at(0) * (t + 1) / warmup : inner.at(t - warmup);
  }

  /**
   * Learning-rate rewinding (Renda, Frankle and Carbin 2020, sec. 2): after pruning, retrain with
   * the original training's schedule from time {@code from} on: {@code original.at(from + t)}.
   */
  public static LrSchedule rewind(LrSchedule original, long from) {
    check(from >= 0, "rewind point must be >= 0: " + from);
    return t -> original.at(from + t);
  }

  /**
   * An epoch-based schedule on a step clock: {@code epochs.at(floor(t / stepsPerEpoch))}, as
   * {@code scheduler.step()} once per epoch does in PyTorch.
   */
  public static LrSchedule perEpoch(LrSchedule epochs, long stepsPerEpoch) {
    check(stepsPerEpoch > 0, "steps per epoch must be > 0: " + stepsPerEpoch);
    return t -> epochs.at(Math.floorDiv(t, stepsPerEpoch));
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }
}
