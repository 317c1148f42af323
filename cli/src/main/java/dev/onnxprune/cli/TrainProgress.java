package dev.onnxprune.cli;

import dev.onnxprune.training.Trainer;
import java.io.PrintWriter;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * What {@link Trainer} does, on stderr: a progress bar per epoch with the running loss and
 * accuracy (when stderr is a terminal and not --quiet), and one line per finished epoch.
 */
final class TrainProgress implements Trainer.Listener, AutoCloseable {
  private final PrintWriter err;
  private final boolean bars;
  private ProgressBar bar;

  TrainProgress(PrintWriter err, boolean quiet) {
    this.err = err;
    // System.console() is null unless the JVM runs on a terminal (and so in tests and pipes)
    this.bars = !quiet && System.console() != null;
  }

  @Override
  public void started(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {
    if (epoch > epochs) {
      err.println("the checkpoint already holds all " + epochs + " epochs; nothing to train");
      err.flush();
      return;
    }
    err.println(String.format(Locale.ROOT, "%s epoch %d of %d: %s samples, %d steps per epoch",
        resumed ? "resuming at" : "training from", epoch, epochs, Units.grouped(samples), stepsPerEpoch));
    err.flush();
  }

  @Override
  public void epochStarted(int epoch, int epochs, int steps) {
    if (bars) {
      bar = new ProgressBarBuilder().setTaskName("epoch " + epoch + "/" + epochs).setInitialMax(steps)
          .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(250)
          .setUnit(" steps", 1).showSpeed().clearDisplayOnFinish().build();
    }
  }

  @Override
  public void stepped(Trainer.StepProgress p) {
    if (bar != null) {
      bar.stepTo(p.step());
      bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f acc %.2f%% lr %.3g", p.loss(), 100 * p.accuracy(),
          p.lr()));
    }
  }

  @Override
  public void epochEnded(Trainer.EpochStats s) {
    close();
    err.println(line(s));
    err.flush();
  }

  static String line(Trainer.EpochStats s) {
    String val = Double.isNaN(s.valAccuracy()) ? ""
        : String.format(Locale.ROOT, "  val loss %.4f  val top-1 %.2f%%", s.valLoss(), 100 * s.valAccuracy());
    return String.format(Locale.ROOT, "epoch %d/%d  loss %.4f  acc %.2f%%%s  lr %.3g  %.1f s (%s img/s)", s.epoch(),
        s.epochs(), s.trainLoss(), 100 * s.trainAccuracy(), val, s.lr(), s.seconds(),
        Units.grouped(Math.round(s.trainSamples() / Math.max(1e-9, s.seconds()))));
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }
}
