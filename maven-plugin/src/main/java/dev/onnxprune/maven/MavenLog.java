package dev.onnxprune.maven;

import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.prune.Equivalence;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.training.Trainer;
import java.time.Duration;
import java.util.Locale;
import org.apache.maven.plugin.logging.Log;

/**
 * What a {@link PruningPipeline} run does, in Maven's log: one line per finished phase
 * ({@code   evaluating     2.63 s  original: top-1 92.25%}), one per epoch of fine-tuning, the
 * events of a training-time method (its plain training steps at debug level), warnings, and at the
 * end the stages as a table. Option keys in the library's words become POM elements.
 */
final class MavenLog implements PruningPipeline.Listener {
  private final Log log;

  MavenLog(Log log) {
    this.log = log;
  }

  @Override
  public void phaseFinished(PruningPipeline.Phase phase, Duration took, String detail) {
    String line = String.format(Locale.ROOT, "  %-13s %7.2f s", phase.label(), took.toNanos() / 1e9);
    log.info(detail == null || detail.isEmpty() ? line : line + "  " + PomNames.render(detail));
  }

  @Override
  public void methodStep(TrajectoryPoint p) {
    String line = String.format(Locale.ROOT, "  %-8s step %5d  FLOPs %5.1f%%  loss %.4f%s", p.event(), p.step(),
        100 * p.flopsKept(), p.loss(), p.accuracy() == null ? "" : String.format(Locale.ROOT, "  top-1 %.2f%%",
            100 * p.accuracy()));
    if ("train".equals(p.event())) {
      log.debug(line);
    } else {
      log.info(line);
    }
  }

  @Override
  public void epochEnded(Trainer.EpochStats s) {
    log.info(String.format(Locale.ROOT, "  epoch %d/%d    loss %.4f  acc %.2f%%%s  %.1f s", s.epoch(), s.epochs(),
        s.trainLoss(), 100 * s.trainAccuracy(), Double.isNaN(s.valAccuracy()) ? ""
            : String.format(Locale.ROOT, "  val top-1 %.2f%%", 100 * s.valAccuracy()), s.seconds()));
  }

  @Override
  public void warning(String message) {
    log.warn(PomNames.render(message));
  }

  /** The stages of {@code r}: top-1, top-5 and loss (when evaluated), parameters and FLOPs after each. */
  void stages(PipelineResult r) {
    log.info(String.format(Locale.ROOT, "  %-13s %7s %7s %7s %10s %8s", "stage", "top-1", "top-5", "loss", "params",
        "MFLOPs"));
    for (PipelineResult.Stage s : r.stages()) {
      PipelineResult.Accuracy a = s.accuracy();
      log.info(String.format(Locale.ROOT, "  %-13s %7s %7s %7s %,10d %8.1f", s.name(),
          a == null ? "-" : percent(a.top1()), a == null ? "-" : percent(a.top5()),
          a == null ? "-" : String.format(Locale.ROOT, "%.4f", a.loss()), s.params(), s.flops() / 1e6));
    }
  }

  /** The verification's numbers, when the run verified the prune. */
  void verification(PipelineResult r) {
    PruneReport.Verification v = r.report() == null ? null : r.report().verify();
    if (v != null) {
      log.info(String.format(Locale.ROOT, "  verify %s: max rel diff %.2e to the masked original (tolerance %.0e, %d"
          + " random batches)", v.passed() ? "PASS" : "FAIL", v.maxRelDiff(), v.tolerance(), v.batches()));
    }
  }

  static String percent(double fraction) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * fraction);
  }
}
