package dev.onnxprune.runtime;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * Progress and cancellation of long work on the current thread. A caller that runs something long
 * (the pipeline: scoring, a training-time method, recalibration, fine-tuning, evaluation) opens a
 * {@link Scope} with a {@link Sink} and a cancellation flag; the loops inside report how far they
 * are with {@link #report(long, long)}, which is a no-op outside a scope. A report is also where
 * cancellation takes effect: when the flag is set, or the thread is interrupted, it throws
 * {@link CancelledException}, so work stops at its next batch or step (well under a second for
 * every loop that reports) and unwinds through the callers' {@code finally} blocks.
 *
 * <p>Scopes nest (a scope opened inside another reports to its own sink and shares the outer
 * cancellation); each thread has its own stack. Work handed to other threads does not report.
 */
public final class Progress {
  /** Hears the fraction done of the work in its scope. */
  @FunctionalInterface
  public interface Sink {
    /**
     * @param fraction in [0, 1]
     * @param detail what is being done, e.g. "batch 3 of 16" (may be empty)
     */
    void progress(double fraction, String detail);

    /**
     * A line the user should see before long work goes on, such as its estimated cost ("oracle:
     * about 180 forward passes, 41 s at 1,100 img/s"); ignored by default.
     */
    default void note(String message) {}
  }

  private static final ThreadLocal<Deque<Scope>> SCOPES = ThreadLocal.withInitial(ArrayDeque::new);

  private Progress() {}

  /** An open scope; closing it restores the enclosing one. */
  public static final class Scope implements AutoCloseable {
    private final Sink sink;
    private final BooleanSupplier cancelled;
    private final Thread owner = Thread.currentThread();

    private Scope(Sink sink, BooleanSupplier cancelled) {
      this.sink = sink;
      this.cancelled = cancelled;
    }

    @Override
    public void close() {
      if (Thread.currentThread() != owner) {
        throw new IllegalStateException("a progress scope is closed on the thread that opened it");
      }
      Deque<Scope> scopes = SCOPES.get();
      scopes.remove(this);
      if (scopes.isEmpty()) {
        SCOPES.remove();
      }
    }
  }

  /**
   * Opens a scope on this thread: reports go to {@code sink}; {@code cancelled} (and, in any
   * scope, an interrupt of the thread) makes the next report throw.
   */
  public static Scope open(Sink sink, BooleanSupplier cancelled) {
    Scope s = new Scope(Objects.requireNonNull(sink, "sink"), Objects.requireNonNull(cancelled, "cancelled"));
    SCOPES.get().push(s);
    return s;
  }

  /** A scope with {@code sink} that keeps the enclosing scope's cancellation (none outside one). */
  public static Scope open(Sink sink) {
    Scope outer = SCOPES.get().peek();
    return open(sink, outer == null ? () -> false : outer.cancelled);
  }

  /**
   * {@code done} of {@code total} units of the current scope's work are done.
   *
   * @throws CancelledException when the work was cancelled
   */
  public static void report(long done, long total) {
    report(total <= 0 ? 0 : Math.min(1, Math.max(0, (double) done / total)), done + " of " + total);
  }

  /**
   * The current scope's work is {@code fraction} done ({@code detail} says what).
   *
   * @throws CancelledException when the work was cancelled
   */
  public static void report(double fraction, String detail) {
    Deque<Scope> scopes = SCOPES.get();
    Scope s = scopes.peek();
    if (s == null) {
      if (scopes.isEmpty()) {
        SCOPES.remove();
      }
      return;
    }
    checkCancelled();
    s.sink.progress(fraction, detail);
  }

  /** Tells the current scope's sink {@code message} ({@link Sink#note}); a no-op outside a scope. */
  public static void note(String message) {
    Deque<Scope> scopes = SCOPES.get();
    Scope s = scopes.peek();
    if (s == null) {
      if (scopes.isEmpty()) {
        SCOPES.remove();
      }
      return;
    }
    s.sink.note(message);
  }

  /**
   * Throws when the current work was cancelled (its scopes' flag, or an interrupt of this thread,
   * which stays set).
   *
   * @throws CancelledException when it was
   */
  public static void checkCancelled() {
    if (Thread.currentThread().isInterrupted()) {
      throw new CancelledException("interrupted");
    }
    for (Scope s : SCOPES.get()) {
      if (s.cancelled.getAsBoolean()) {
        throw new CancelledException("cancelled");
      }
    }
  }
}
