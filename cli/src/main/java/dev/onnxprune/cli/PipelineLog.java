package dev.onnxprune.cli;

import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.training.Trainer;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * What a {@link PruningPipeline} run does, on stderr (stdout stays the command's result): one line
 * per finished phase ({@code scoring     1.42 s  detail}), one line per step of a training-time
 * method, one line per epoch of fine-tuning, warnings, and a progress bar for the long phases when
 * stderr is a terminal (not with --quiet).
 */
final class PipelineLog implements PruningPipeline.Listener, AutoCloseable {
  private static final long BAR_MAX = 1000;

  private final PrintWriter err;
  private final boolean bars;
  private ProgressBar bar;
  private PruningPipeline.Phase barPhase;
  private long start = System.nanoTime();
  private String method = "";
  private int epochs;

  PipelineLog(PrintWriter err, boolean quiet) {
    this.err = err;
    // System.console() is null unless the JVM runs on a terminal (and so in tests and pipes)
    this.bars = !quiet && System.console() != null;
  }

  /** The training-time method whose steps {@link #methodStep} prints. */
  PipelineLog method(String name) {
    this.method = name + " ";
    return this;
  }

  /** Epochs of fine-tuning this run trained (not those a checkpoint held). */
  int epochsTrained() {
    return epochs;
  }

  /** A line for work the command does itself, timed from the previous line. */
  void detail(String what, String detail) {
    line(what, Duration.ofNanos(System.nanoTime() - start), detail);
  }

  @Override
  public void phaseFinished(PruningPipeline.Phase phase, Duration took, String detail) {
    closeBar();
    line(phase.label(), took, OptionNames.render(detail));
  }

  @Override
  public void progress(PruningPipeline.Phase phase, double fraction, String detail) {
    if (!bars || phase == PruningPipeline.Phase.EVALUATING && fraction >= 1) {
      return;
    }
    if (bar == null || barPhase != phase) {
      closeBar();
      barPhase = phase;
      bar = new ProgressBarBuilder().setTaskName(phase.label()).setInitialMax(BAR_MAX)
          .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(250)
          .clearDisplayOnFinish().build();
    }
    bar.stepTo(Math.round(fraction * BAR_MAX));
    bar.setExtraMessage(detail);
  }

  @Override
  public void methodStep(TrajectoryPoint p) {
    closeBar();
    err.printf(Locale.ROOT, "  %s%-8s step %5d  FLOPs %5.1f%%  loss %s  top-1 %s  %.1f s%n", method, p.event(), p.step(),
        100 * p.flopsKept(), Double.isNaN(p.loss()) ? "-" : String.format(Locale.ROOT, "%.4f", p.loss()),
        p.accuracy() == null ? "-" : String.format(Locale.ROOT, "%.2f%%", 100 * p.accuracy()), p.seconds());
    err.flush();
  }

  @Override
  public void fineTuningStarted(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {
    closeBar();
    err.println(epoch > epochs ? "the checkpoint already holds all " + epochs + " epochs; nothing to train"
        : String.format(Locale.ROOT, "%s epoch %d of %d: %s samples, %d steps per epoch",
            resumed ? "resuming at" : "training from", epoch, epochs, Units.grouped(samples), stepsPerEpoch));
    err.flush();
  }

  @Override
  public void epochEnded(Trainer.EpochStats s) {
    closeBar();
    epochs++;
    String val = Double.isNaN(s.valAccuracy()) ? ""
        : String.format(Locale.ROOT, "  val loss %.4f  val top-1 %.2f%%", s.valLoss(), 100 * s.valAccuracy());
    err.println(String.format(Locale.ROOT, "epoch %d/%d  loss %.4f  acc %.2f%%%s  lr %.3g  %.1f s (%s img/s)",
        s.epoch(), s.epochs(), s.trainLoss(), 100 * s.trainAccuracy(), val, s.lr(), s.seconds(),
        Units.grouped(Math.round(s.trainSamples() / Math.max(1e-9, s.seconds())))));
    err.flush();
  }

  @Override
  public void warning(String message) {
    closeBar();
    err.println("warning: " + OptionNames.render(message));
    err.flush();
  }

  private void line(String phase, Duration took, String detail) {
    String text = String.format(Locale.ROOT, "%-13s %7.2f s", phase, took.toNanos() / 1e9);
    err.println(detail == null || detail.isEmpty() ? text : text + "  " + detail);
    err.flush();
    start = System.nanoTime();
  }

  private void closeBar() {
    if (bar != null) {
      bar.close();
      bar = null;
      barPhase = null;
    }
  }

  @Override
  public void close() {
    closeBar();
  }
}
