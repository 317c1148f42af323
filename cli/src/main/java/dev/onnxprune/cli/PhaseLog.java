package dev.onnxprune.cli;

import dev.onnxprune.prune.PruneProgress;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;

/**
 * Progress lines on stderr, one per finished phase: {@code analysing    0.08 s}, with an
 * optional detail after the time. stdout stays the command's result.
 */
final class PhaseLog implements PruneProgress {
  private final PrintWriter err;
  private long start = System.nanoTime();

  PhaseLog(PrintWriter err) {
    this.err = err;
  }

  /** Starts timing a phase the command runs itself (reading, writing). */
  void start() {
    start = System.nanoTime();
  }

  /** Ends the phase started last: prints its line. */
  void done(String phase, String detail) {
    line(phase, Duration.ofNanos(System.nanoTime() - start), detail);
    start = System.nanoTime();
  }

  @Override
  public void finished(Phase phase, Duration took) {
    line(phase.name().toLowerCase(Locale.ROOT), took, "");
    start = System.nanoTime();
  }

  private void line(String phase, Duration took, String detail) {
    String text = String.format(Locale.ROOT, "%-10s %7.2f s", phase, took.toNanos() / 1e9);
    err.println(detail.isEmpty() ? text : text + "  " + detail);
    err.flush();
  }
}
