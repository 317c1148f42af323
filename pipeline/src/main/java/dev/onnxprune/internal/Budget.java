package dev.onnxprune.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A long-running method's budget, in steps and optionally in wall time, and the projection that
 * ends a run early when the target is out of reach within it.
 *
 * <p><b>Used.</b> The share of the budget spent is the larger of steps over the step budget and
 * seconds over the time budget; the budget is spent at 1.
 *
 * <p><b>Projection.</b> Each {@link #projection} call records (used, progress), progress being
 * the share of the way to the target made (0 at the start, 1 when the target is met). From
 * {@value #FIRST_CHECK} of the budget and {@value #MIN_RECORDS} records on, the rate is the progress gained over the second half of
 * what was used (the recent rate: a method that slows down is judged by its slower pace); the run
 * is out of reach when even at {@value #SLACK} times that rate the rest of the budget would not
 * take it to the target: {@code progress + SLACK * rate * (1 - used) < 1}.
 */
public final class Budget {
  /** The projection is not made before this share of the budget is used. */
  public static final double FIRST_CHECK = 0.2;
  /** How much faster than its recent rate a run may still get before the projection gives up on it. */
  public static final double SLACK = 2;
  /** Nor before this many records (a budget of a few steps is too coarse to project). */
  public static final int MIN_RECORDS = 10;

  private final long maxSteps;
  private final long maxNanos;
  private final long start = System.nanoTime();
  private final List<double[]> history = new ArrayList<>();
  private double lastRecorded = Double.NEGATIVE_INFINITY;

  /**
   * @param maxSteps the step budget (at least 1)
   * @param time the time budget, or null for none
   */
  public Budget(long maxSteps, Duration time) {
    this.maxSteps = Math.max(1, maxSteps);
    this.maxNanos = time == null ? 0 : Math.max(1, time.toNanos());
  }

  /** Seconds since the budget was made. */
  public double seconds() {
    return (System.nanoTime() - start) / 1e9;
  }

  /** True when the time budget is spent (never without one). */
  public boolean outOfTime() {
    return maxNanos > 0 && System.nanoTime() - start >= maxNanos;
  }

  /** Share of the budget used after {@code steps} steps: the larger of the step and time shares. */
  public double used(long steps) {
    double s = (double) steps / maxSteps;
    return maxNanos > 0 ? Math.max(s, (double) (System.nanoTime() - start) / maxNanos) : s;
  }

  /**
   * True when a {@link #projection} is due: at least 1% of the budget was used since the last one
   * (so a caller measures its progress, which may cost a walk over the model, at most 100 times).
   */
  public boolean due(long steps) {
    return used(steps) - lastRecorded >= 0.01 - 1e-9;
  }

  /**
   * Records the run's state and says whether the target is still in reach (see the class
   * comment).
   *
   * @param steps steps taken so far
   * @param progress share of the way to the target made so far (may exceed 1)
   * @return null while in reach; else why not, as a clause ("at 40% of its budget it had made
   *     ...")
   */
  public String projection(long steps, double progress) {
    double used = Math.min(1, used(steps));
    lastRecorded = used;
    history.add(new double[] {used, progress});
    if (used < FIRST_CHECK || history.size() < MIN_RECORDS || progress >= 1 || used >= 1) {
      return null;
    }
    double[] from = history.get(0);
    for (double[] h : history) {
      if (h[0] >= used / 2) {
        from = h;
        break;
      }
    }
    double span = used - from[0];
    if (span <= 0) {
      return null;
    }
    double rate = (progress - from[1]) / span;
    double projected = progress + SLACK * rate * (1 - used);
    if (projected >= 1) {
      return null;
    }
    return String.format(Locale.ROOT, "at %.0f%% of its budget it had gone %.0f%% of the way to the target and"
        + " %.0f%% over the last %.0f%% of the budget: even at %.0fx that rate it would end at %.0f%% of the way",
        100 * used, 100 * progress, 100 * (progress - from[1]), 100 * span, SLACK, 100 * Math.max(0, projected));
  }
}
