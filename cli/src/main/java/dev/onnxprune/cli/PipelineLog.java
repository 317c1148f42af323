package dev.onnxprune.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.training.Trainer;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * What a {@link PruningPipeline} run does, on stderr (stdout stays the command's result): one line
 * per finished phase ({@code scoring     1.42 s  detail}), one line per epoch of fine-tuning,
 * warnings, and a progress bar for the long phases when stderr is a terminal (not with --quiet).
 *
 * <p>A training-time method records several trajectory points per optimizer step (AOFP: one per
 * layer whose search step finished on that batch); they are printed as one line per step, with
 * the count of each event, at most one line per {@link #METHOD_INTERVAL_NANOS} (the points in
 * between are summed into the next line; the start and the end are always printed), with the
 * step rate and the time left: the rest of the step budget at that rate, or the rest of the time
 * budget, whichever is less.
 *
 * <p>With {@code json}, each of those lines is a JSON object on a line of its own instead (an
 * {@code "event"} field says which: {@code phase}, {@code method}, {@code fineTuning}, {@code epoch},
 * {@code note}, {@code warning}, {@code progress}), and there is no bar; {@code progress} lines
 * (fraction of the current phase) come at most one a second.
 */
final class PipelineLog implements PruningPipeline.Listener, AutoCloseable {
  private static final long BAR_MAX = 1000;
  /** At most one method progress line per second. */
  static final long METHOD_INTERVAL_NANOS = 1_000_000_000L;

  private final PrintWriter err;
  private final boolean bars;
  private ProgressBar bar;
  private PruningPipeline.Phase barPhase;
  private long start = System.nanoTime();
  private String method = "";
  private int epochs;
  private long budget;
  private Duration timeBudget;
  private final long interval;
  private final boolean json;
  private long lastProgressLine = Long.MIN_VALUE;
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private TrajectoryPoint pending;
  private final Map<String, Integer> events = new LinkedHashMap<>();
  private Double pendingAccuracy;
  private long lastMethodLine = Long.MIN_VALUE;
  private TrajectoryPoint methodStart;

  PipelineLog(PrintWriter err, boolean quiet) {
    this(err, quiet, false);
  }

  /** {@code json}: JSON lines instead of text (see the class comment). */
  PipelineLog(PrintWriter err, boolean quiet, boolean json) {
    this(err, quiet, METHOD_INTERVAL_NANOS, json);
  }

  /** {@code interval}: nanoseconds at least between two method lines (0: one line per step). */
  PipelineLog(PrintWriter err, boolean quiet, long interval) {
    this(err, quiet, interval, false);
  }

  private PipelineLog(PrintWriter err, boolean quiet, long interval, boolean json) {
    this.err = err;
    this.interval = interval;
    this.json = json;
    // System.console() is null unless the JVM runs on a terminal (and so in tests and pipes)
    this.bars = !quiet && !json && System.console() != null;
  }

  /** The training-time method whose steps {@link #methodStep} prints, and its step budget (0: unknown). */
  PipelineLog method(String name, long budget) {
    return method(name, budget, null);
  }

  /** As {@link #method(String, long)}, with the method's time budget (null: none). */
  PipelineLog method(String name, long budget, Duration timeBudget) {
    this.method = name + " ";
    this.budget = budget;
    this.timeBudget = timeBudget;
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
    printPending();
    line(phase.label(), took, OptionNames.render(detail));
  }

  @Override
  public void note(PruningPipeline.Phase phase, String message) {
    closeBar();
    printPending();
    if (json) {
      Map<String, Object> o = event("note");
      o.put("phase", phase == null ? null : phase.label());
      o.put("message", OptionNames.render(message));
      emit(o);
      return;
    }
    err.println("  " + OptionNames.render(message));
    err.flush();
  }

  @Override
  public void progress(PruningPipeline.Phase phase, double fraction, String detail) {
    if (json) {
      long now = System.nanoTime();
      if (now - lastProgressLine >= METHOD_INTERVAL_NANOS || fraction >= 1) {
        lastProgressLine = now;
        Map<String, Object> o = event("progress");
        o.put("phase", phase.label());
        o.put("fraction", fraction);
        o.put("detail", detail);
        emit(o);
      }
      return;
    }
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
    boolean edge = p.event().equals("start") || p.event().equals("end");
    if (p.event().equals("start")) {
      methodStart = p; // the rate counts from here, without the session's setup
    }
    if (pending != null && (edge || p.step() != pending.step() && System.nanoTime() - lastMethodLine >= interval)) {
      printPending();
    }
    pending = p;
    events.merge(p.event(), 1, Integer::sum);
    if (p.accuracy() != null) {
      pendingAccuracy = p.accuracy();
    }
    if (edge) {
      printPending();
    }
  }

  /** Prints the held method line: the latest point, the events since the previous line, the rate and time left. */
  private void printPending() {
    if (pending == null) {
      return;
    }
    TrajectoryPoint p = pending;
    long from = methodStart == null ? 0 : methodStart.step();
    double since = p.seconds() - (methodStart == null ? 0 : methodStart.seconds());
    double rate = Double.NaN;
    double left = Double.NaN;
    if (p.step() > from && since > 0 && !p.event().equals("end")) {
      rate = (p.step() - from) / since;
      if (budget > p.step()) {
        left = (budget - p.step()) / rate;
      }
      if (timeBudget != null) {
        double t = Math.max(0, timeBudget.toNanos() / 1e9 - p.seconds());
        left = Double.isNaN(left) ? t : Math.min(left, t);
      }
    }
    if (json) {
      Map<String, Object> o = event("method");
      o.put("method", method.trim());
      o.put("point", p.event());
      o.put("events", new LinkedHashMap<>(events));
      o.put("step", p.step());
      o.put("flopsKept", p.flopsKept());
      o.put("loss", Double.isNaN(p.loss()) ? null : p.loss());
      o.put("top1", pendingAccuracy);
      o.put("seconds", p.seconds());
      o.put("stepsPerSecond", Double.isNaN(rate) ? null : rate);
      o.put("secondsLeft", Double.isNaN(left) ? null : left);
      emit(o);
    } else {
      String what = events.size() == 1 && events.values().iterator().next() == 1 ? p.event()
          : events.entrySet().stream().map(e -> e.getValue() == 1 ? e.getKey() : e.getKey() + " x" + e.getValue())
              .collect(Collectors.joining(", "));
      StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
          "  %s%-8s step %5d  FLOPs %5.1f%%  loss %s  top-1 %s  %.1f s", method, what, p.step(), 100 * p.flopsKept(),
          Double.isNaN(p.loss()) ? "-" : String.format(Locale.ROOT, "%.4f", p.loss()),
          pendingAccuracy == null ? "-" : String.format(Locale.ROOT, "%.2f%%", 100 * pendingAccuracy), p.seconds()));
      if (!Double.isNaN(rate)) {
        line.append(String.format(Locale.ROOT, "  %.1f steps/s", rate));
      }
      if (!Double.isNaN(left)) {
        line.append("  budget left ").append(clock(left)).append(" at most");
      }
      err.println(line);
      err.flush();
    }
    pending = null;
    pendingAccuracy = null;
    events.clear();
    lastMethodLine = System.nanoTime();
  }

  /** A JSON line's object, its {@code event} field first. */
  private static Map<String, Object> event(String name) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("event", name);
    return o;
  }

  private void emit(Map<String, Object> o) {
    try {
      err.println(MAPPER.writeValueAsString(o));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a progress line could not be written as JSON", e);
    }
    err.flush();
  }

  /** {@code seconds} as h:mm:ss or m:ss. */
  static String clock(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
        : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
  }

  @Override
  public void fineTuningStarted(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {
    closeBar();
    printPending();
    if (json) {
      Map<String, Object> o = event("fineTuning");
      o.put("epoch", epoch);
      o.put("epochs", epochs);
      o.put("stepsPerEpoch", stepsPerEpoch);
      o.put("samples", samples);
      o.put("resumed", resumed);
      emit(o);
      return;
    }
    err.println(epoch > epochs ? "the checkpoint already holds all " + epochs + " epochs; nothing to train"
        : String.format(Locale.ROOT, "%s epoch %d of %d: %s samples, %d steps per epoch",
            resumed ? "resuming at" : "training from", epoch, epochs, Units.grouped(samples), stepsPerEpoch));
    err.flush();
  }

  @Override
  public void epochEnded(Trainer.EpochStats s) {
    closeBar();
    epochs++;
    if (json) {
      Map<String, Object> o = event("epoch");
      o.put("epoch", s.epoch());
      o.put("epochs", s.epochs());
      o.put("loss", s.trainLoss());
      o.put("accuracy", s.trainAccuracy());
      o.put("valLoss", Double.isNaN(s.valLoss()) ? null : s.valLoss());
      o.put("valAccuracy", Double.isNaN(s.valAccuracy()) ? null : s.valAccuracy());
      o.put("lr", s.lr());
      o.put("seconds", s.seconds());
      o.put("samplesPerSecond", s.trainSamples() / Math.max(1e-9, s.seconds()));
      emit(o);
      return;
    }
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
    printPending();
    if (json) {
      Map<String, Object> o = event("warning");
      o.put("message", OptionNames.render(message));
      emit(o);
      return;
    }
    err.println("warning: " + OptionNames.render(message));
    err.flush();
  }

  private void line(String phase, Duration took, String detail) {
    if (json) {
      Map<String, Object> o = event("phase");
      o.put("phase", phase);
      o.put("seconds", took.toNanos() / 1e9);
      o.put("detail", detail == null || detail.isEmpty() ? null : detail);
      emit(o);
      start = System.nanoTime();
      return;
    }
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
    printPending();
  }
}
