package dev.onnxprune.training;

/**
 * A learning rate as a function of time {@code t >= 0} (steps or epochs, as the caller counts;
 * {@code t = 0} is the first). The training step takes the rate as an input, so schedules live on
 * the host; see {@link Schedules}.
 */
@FunctionalInterface
public interface LrSchedule {
  double at(long t);
}
