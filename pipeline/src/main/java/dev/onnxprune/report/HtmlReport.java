package dev.onnxprune.report;

import dev.onnxprune.graph.AtomicFiles;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.Sensitivity;
import dev.onnxprune.training.Trainer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report of a {@link PipelineResult} as one self-contained HTML page: the key numbers first
 * (accuracy after each stage; parameters, FLOPs and latency before and after; verification), then
 * charts, drawn as inline SVG (channels kept per group, the criterion's scores per group,
 * fine-tuning per epoch, a training-time method's trajectory, sensitivity curves), then the
 * groups and phase times as tables. Inline CSS, no script, nothing fetched: the page opens from
 * disk with no network.
 *
 * <pre>{@code
 * HtmlReport.write(result, Path.of("out/report"));   // out/report/report.json and report.html
 * }</pre>
 */
public final class HtmlReport {
  /** The JSON file in a report folder. */
  public static final String JSON = "report.json";
  /** The page in a report folder. */
  public static final String HTML = "report.html";

  private static final int WIDE = 900;
  private static final int HALF = 560;

  private HtmlReport() {}

  /**
   * Writes {@value #JSON} ({@link PipelineResult#toJson()}) and {@value #HTML} ({@link #page})
   * into {@code dir}, creating it when missing; each file atomically.
   *
   * @return the two files written
   */
  public static List<Path> write(PipelineResult result, Path dir) throws IOException {
    return write(dir, result.toJson(), page(result));
  }

  static List<Path> write(Path dir, String json, String html) throws IOException {
    Files.createDirectories(dir);
    Path j = dir.resolve(JSON);
    Path h = dir.resolve(HTML);
    AtomicFiles.write(j, "report", json.getBytes(StandardCharsets.UTF_8));
    AtomicFiles.write(h, "report", html.getBytes(StandardCharsets.UTF_8));
    return List.of(j, h);
  }

  /**
   * Writes {@value #JSON} ({@link Sensitivity.Result#toJson()}) and {@value #HTML}
   * ({@link #page(Sensitivity.Result)}) into {@code dir}, creating it when missing.
   *
   * @return the two files written
   */
  public static List<Path> write(Sensitivity.Result result, Path dir) throws IOException {
    return write(dir, result.toJson(), page(result));
  }

  /** The page of a sensitivity analysis on its own: its curves and the table of its measurements. */
  public static String page(Sensitivity.Result r) {
    Page page = new Page("onnx-prune sensitivity" + (r.model() != null ? ": " + r.model().getFileName() : ""));
    page.h1("onnx-prune sensitivity analysis");
    page.subtitle((r.model() != null ? Page.esc(r.model().toString()) + " &middot; " : "") + "criterion <b>"
        + Page.esc(r.criterion()) + "</b>");
    page.section("summary", "Summary");
    List<Sensitivity.Curve> byDamage = new ArrayList<>(r.curves());
    byDamage.sort(java.util.Comparator.comparingDouble(r::meanDrop));
    Sensitivity.Curve robust = byDamage.get(0);
    Sensitivity.Curve sensitive = byDamage.get(byDamage.size() - 1);
    page.cards(List.of(
        new String[] {"unpruned top-1", pct(r.baseline().top1()), "on " + Numbers.grouped(r.baseline().samples())
            + " samples"},
        new String[] {"measured", r.curves().size() + " groups &times; " + r.ratios().size() + " ratios",
            String.format(Locale.ROOT, "%.1f s on %d thread(s)", r.seconds(), r.workers())},
        new String[] {"most robust", "group " + robust.group(), String.format(Locale.ROOT, "loses %.1f points of"
            + " top-1 on average", r.meanDrop(robust))},
        new String[] {"most sensitive", "group " + sensitive.group(), String.format(Locale.ROOT, "loses %.1f points"
            + " of top-1 on average", r.meanDrop(sensitive))}));
    sensitivity(page, r, null, null);
    page.footer("Format " + r.format() + ". Every number on this page is in " + JSON + " beside it.");
    return page.html();
  }

  /** The page for {@code result}. */
  public static String page(PipelineResult r) {
    PruneReport p = r.report();
    Page page = new Page("onnx-prune report" + (r.input() != null ? ": " + r.input().getFileName() : ""));
    page.h1("onnx-prune report");
    page.subtitle(subtitle(r));
    summary(page, r);
    accuracyChart(page, r);
    costChart(page, r);
    if (p != null) {
      channelsChart(page, p);
      scoresChart(page, p);
    }
    fineTuning(page, r);
    if (p != null && p.trajectory() != null && !p.trajectory().isEmpty()) {
      trajectory(page, p);
    }
    if (r.sensitivity() != null) {
      sensitivity(page, r.sensitivity(), r.stages().isEmpty() ? null : r.stages().get(0).accuracy(), p);
    }
    if (p != null) {
      groupsTable(page, p);
    }
    phases(page, r.phaseSeconds());
    page.footer("Format " + r.format() + ". Every number on this page is in " + JSON + " beside it.");
    return page.html();
  }

  private static String subtitle(PipelineResult r) {
    List<String> parts = new ArrayList<>();
    if (r.input() != null) {
      parts.add(Page.esc(r.input().toString()) + (r.output() != null ? " &rarr; " + Page.esc(r.output().toString())
          : ""));
    }
    PruneReport p = r.report();
    if (p != null) {
      parts.add("criterion <b>" + Page.esc(p.criterion()) + "</b>, target <b>" + Page.esc(p.target())
          + "</b>, allocation <b>" + Page.esc(p.allocation()) + "</b>");
    }
    return String.join(" &middot; ", parts);
  }

  private static void summary(Page page, PipelineResult r) {
    List<PipelineResult.Stage> stages = r.stages();
    PipelineResult.Stage first = stages.get(0);
    PipelineResult.Stage last = stages.get(stages.size() - 1);
    List<String[]> cards = new ArrayList<>();
    if (first.accuracy() != null && last.accuracy() != null) {
      double d = 100 * (last.accuracy().top1() - first.accuracy().top1());
      cards.add(new String[] {"top-1", pct(first.accuracy().top1()) + " &rarr; " + pct(last.accuracy().top1()),
          String.format(Locale.ROOT, "%+.2f points, %s to %s", d, first.name(), last.name())});
    }
    cards.add(new String[] {"parameters", Numbers.count(first.params()) + " &rarr; " + Numbers.count(last.params()),
        change(first.params(), last.params())});
    PruneReport p = r.report();
    boolean lowerBound = p != null && (p.before().unknownShapeNodes() > 0 || p.after().unknownShapeNodes() > 0);
    cards.add(new String[] {"FLOPs", (lowerBound ? "&ge; " : "") + Numbers.count(first.flops()) + " &rarr; "
        + (lowerBound ? "&ge; " : "") + Numbers.count(last.flops()),
        lowerBound ? "lower bounds: " + p.after().unknownShapeNodes() + " node(s) of unknown shape"
            : change(first.flops(), last.flops())});
    if (first.latencySeconds() != null && last.latencySeconds() != null) {
      cards.add(new String[] {"latency", ms(first.latencySeconds()) + " &rarr; " + ms(last.latencySeconds()),
          speed(first.latencySeconds(), last.latencySeconds())});
    }
    if (p != null) {
      PruneReport.Verification v = p.verify();
      cards.add(v == null ? new String[] {"verification", "not run", "the prune was not checked in ONNX Runtime"}
          : new String[] {"verification", v.passed() ? "<span class=\"pass\">PASS</span>"
              : "<span class=\"fail\">FAIL</span>", String.format(Locale.ROOT, "max rel diff %.2g to the masked"
              + " original, %d batches", v.maxRelDiff(), v.batches())});
    }
    page.section("summary", "Summary");
    page.paragraph("story", story(r));
    page.cards(cards);
    List<String[]> rows = new ArrayList<>();
    for (PipelineResult.Stage s : stages) {
      PipelineResult.Accuracy a = s.accuracy();
      rows.add(new String[] {s.name(), a == null ? "-" : pct(a.top1()), a == null ? "-" : pct(a.top5()),
          a == null ? "-" : String.format(Locale.ROOT, "%.4f", a.loss()), Numbers.grouped(s.params()),
          Numbers.count(s.flops()), s.latencySeconds() == null ? "-" : ms(s.latencySeconds())});
    }
    page.table(new String[] {"stage", "top-1", "top-5", "loss", "params", "FLOPs", "latency"}, rows, "lrrrrrr");
    if (first.accuracy() != null) {
      page.note("Accuracy on " + Numbers.grouped(first.accuracy().samples()) + " evaluation samples"
          + (first.latencySeconds() != null ? "; latency: median time of one batch in ONNX Runtime, measured for the"
          + " first and the last stage" : "") + ".");
    }
    if (p != null && p.speed() != null && p.speed().skipped() == null) {
      PruneReport.Speed sp = p.speed();
      page.note(String.format(Locale.ROOT, "Speed check right after pruning, on %s at batch %d: %.2f ms &rarr; %.2f ms,"
          + " %.2f&times; %s (median of %d alternating pairs; best %.2f&times;).", Page.esc(sp.provider()), sp.batch(),
          sp.originalMs(), sp.prunedMs(), sp.speedup() >= 1 ? sp.speedup() : 1 / sp.speedup(),
          sp.speedup() >= 1 ? "faster" : "slower", sp.pairs(), sp.bestSpeedup()));
    }
    if (p != null && p.shortOfTarget() != null) {
      page.warning(p.shortOfTarget());
    }
    for (String w : r.warnings()) {
      page.warning(w);
    }
  }

  /** What was done, stage by stage, in one sentence. */
  private static String story(PipelineResult r) {
    List<String> steps = new ArrayList<>();
    PruneReport p = r.report();
    for (PipelineResult.Stage s : r.stages()) {
      String what = switch (s.name()) {
        case "original" -> "the original model";
        case "pruned" -> p == null ? "pruned" : String.format(Locale.ROOT, "pruned by <b>%s</b> to remove <b>%s of"
            + " the %s</b> (%s; %s removed%s)", Page.esc(p.criterion()), fraction(p.target()),
            measure(p.target()), p.allocation().equals(p.criterion()) ? "widths of its own choosing"
                : Page.esc(p.allocation()) + " allocation", pct(p.achieved()), widths(p.widths()));
        case "recalibrated" -> "<b>BatchNorm statistics re-estimated</b> on the training data";
        case "fine-tuned" -> "<b>fine-tuned</b> for " + r.fineTuning().size() + " epoch(s)";
        default -> Page.esc(s.name());
      };
      steps.add(what);
    }
    return String.join(" &rarr; ", steps) + ".";
  }

  /** The kept widths' multiple and why, for the story ("" for exact widths or none recorded). */
  private static String widths(PruneReport.Widths w) {
    if (w == null || w.multiple() <= 1) {
      return "";
    }
    return String.format(Locale.ROOT, "; kept widths in multiples of %d: %s%s", w.multiple(), Page.esc(w.reason()),
        w.keptWhole() > 0 ? String.format(Locale.ROOT, ", %d group(s) no wider than that kept whole", w.keptWhole())
            : "");
  }

  /** A target's fraction in percent ({@code "flops 0.5"}: 50%). */
  private static String fraction(String target) {
    String[] parts = target.split(" ");
    try {
      return String.format(Locale.ROOT, "%.4g%%", 100 * Double.parseDouble(parts[parts.length - 1]))
          .replaceFirst("\\.?0+%$", "%");
    } catch (NumberFormatException e) {
      return Page.esc(target);
    }
  }

  /** What a target's fraction is of, in words ({@code "flops 0.5"}: the FLOPs). */
  private static String measure(String target) {
    String kind = target.split(" ")[0];
    return switch (kind) {
      case "flops" -> "FLOPs";
      case "params" -> "parameters";
      case "latency" -> "latency";
      case "ratio" -> "scored groups' channels";
      default -> Page.esc(kind);
    };
  }

  private static String speed(double before, double after) {
    double ratio = before / after;
    if (Math.abs(ratio - 1) < 0.005) {
      return "no change";
    }
    return ratio > 1 ? String.format(Locale.ROOT, "%.2f&times; faster", ratio)
        : String.format(Locale.ROOT, "%.2f&times; slower", 1 / ratio);
  }

  private static void accuracyChart(Page page, PipelineResult r) {
    List<PipelineResult.Stage> stages = r.stages().stream().filter(s -> s.accuracy() != null).toList();
    if (stages.size() < 2) {
      return;
    }
    page.section("accuracy", "Accuracy after each stage");
    double[] top1 = stages.stream().mapToDouble(s -> 100 * s.accuracy().top1()).toArray();
    double[] top5 = stages.stream().mapToDouble(s -> 100 * s.accuracy().top5()).toArray();
    page.figure(Charts.bars(stages.stream().map(PipelineResult.Stage::name).toList(),
        List.of(new Charts.Bars("top-1", top1, Charts.AFTER, i -> String.format(Locale.ROOT, "%.1f%%", top1[i])),
            new Charts.Bars("top-5", top5, Charts.BEFORE, null)),
        // the width follows the stages: JFreeChart spreads a stage's two capped bars over its whole slot
        100, v -> String.format(Locale.ROOT, "%.0f%%", v), Math.min(WIDE, 160 + 190 * stages.size()), 300),
        "Top-1 (labelled) and top-5 accuracy, in %, on the evaluation data after each stage.");
  }

  private static void costChart(Page page, PipelineResult r) {
    List<PipelineResult.Stage> stages = r.stages();
    PipelineResult.Stage first = stages.get(0);
    PipelineResult.Stage last = stages.get(stages.size() - 1);
    if (stages.size() < 2) {
      return;
    }
    List<String> names = new ArrayList<>(List.of("parameters", "FLOPs"));
    List<Double> before = new ArrayList<>(List.of((double) first.params(), (double) first.flops()));
    List<Double> after = new ArrayList<>(List.of((double) last.params(), (double) last.flops()));
    if (first.latencySeconds() != null && last.latencySeconds() != null) {
      names.add("latency");
      before.add(first.latencySeconds());
      after.add(last.latencySeconds());
    }
    double[] b = new double[names.size()];
    double[] a = new double[names.size()];
    String[] absB = new String[names.size()];
    String[] absA = new String[names.size()];
    for (int i = 0; i < names.size(); i++) {
      b[i] = 100;
      a[i] = before.get(i) == 0 ? 0 : 100 * after.get(i) / before.get(i);
      boolean time = names.get(i).equals("latency");
      absB[i] = time ? ms(before.get(i)) : Numbers.count(before.get(i).longValue());
      absA[i] = time ? ms(after.get(i)) : Numbers.count(after.get(i).longValue());
    }
    page.section("costs", "Size and speed");
    page.figure(Charts.bars(names, List.of(
        new Charts.Bars(first.name(), b, Charts.BEFORE, i -> absB[i]),
        new Charts.Bars(last.name(), a, Charts.AFTER, i -> absA[i])),
        Math.max(115, 1.12 * java.util.Arrays.stream(a).max().orElse(100)), // a slower model's bar fits too
        v -> String.format(Locale.ROOT, "%.0f%%", v), HALF, 300),
        (names.contains("latency") ? "Parameters, FLOPs and latency" : "Parameters and FLOPs") + " of the "
            + last.name()
            + " model as % of the " + first.name() + " one; the labels give the absolute numbers.");
  }

  private static void channelsChart(Page page, PruneReport p) {
    List<PruneReport.Group> groups = p.groups();
    List<String> ids = groups.stream().map(g -> g.id() + (g.prunable() ? "" : "*")).toList();
    double[] before = groups.stream().mapToDouble(PruneReport.Group::channels).toArray();
    double[] after = groups.stream().mapToDouble(PruneReport.Group::kept).toArray();
    page.section("channels", "Channels kept per group");
    int width = Math.max(WIDE, 26 * groups.size());
    page.figure(Charts.bars(ids, List.of(new Charts.Bars("before", before, Charts.BEFORE, null),
        new Charts.Bars("after", after, Charts.AFTER, null)), Double.NaN, v -> String.format(Locale.ROOT, "%.0f", v),
        width, 320), "Channels of each group before and after pruning (x: group id, as in the table of groups"
        + " below; * marks a group that cannot be pruned). " + removedLine(p));
  }

  private static String removedLine(PruneReport p) {
    int before = p.groups().stream().mapToInt(PruneReport.Group::channels).sum();
    int after = p.groups().stream().mapToInt(PruneReport.Group::kept).sum();
    return String.format(Locale.ROOT, "%s of %s channels removed (%.1f%%); %s of the %s removed.",
        Numbers.grouped(before - after), Numbers.grouped(before), 100.0 * (before - after) / Math.max(1, before),
        pct(p.achieved()), measure(p.target()));
  }

  private static void scoresChart(Page page, PruneReport p) {
    List<String> ids = new ArrayList<>();
    List<double[]> boxes = new ArrayList<>();
    List<Double> marks = new ArrayList<>();
    for (PruneReport.Group g : p.groups()) {
      PruneReport.ScoreSummary s = g.scores();
      if (s == null) {
        continue;
      }
      double scale = Math.max(Math.abs(s.min()), Math.abs(s.max()));
      if (scale == 0 || !Double.isFinite(scale)) {
        continue;
      }
      ids.add(Integer.toString(g.id()));
      boxes.add(new double[] {s.min() / scale, s.q1() / scale, s.median() / scale, s.q3() / scale, s.max() / scale});
      marks.add(s.removedMax() == null ? Double.NaN : s.removedMax() / scale);
    }
    if (ids.isEmpty()) {
      return;
    }
    page.section("scores", "Scores per group (" + Page.esc(p.criterion()) + ")");
    int width = Math.max(WIDE, 26 * ids.size());
    page.figure(Charts.boxes(ids, boxes, marks.stream().mapToDouble(Double::doubleValue).toArray(),
        "scores: quartiles and range", "highest removed score", width, 320),
        "The criterion's scores of each group's channels, divided by the group's largest |score| so that groups"
        + " compare: the box spans the middle half, the line in it is the median, the whiskers reach the lowest and"
        + " highest score. The mark is the highest score that was removed" + (p.allocation().equals("uniform")
            ? " (uniform allocation removes a group's lowest scores, so everything below it went)." : "."));
  }

  private static void fineTuning(Page page, PipelineResult r) {
    List<Trainer.EpochStats> epochs = r.fineTuning();
    if (epochs == null || epochs.isEmpty()) {
      return;
    }
    // the stage before fine-tuning is its epoch 0 on the evaluation data
    PipelineResult.Stage start = null;
    for (PipelineResult.Stage s : r.stages()) {
      if (s.name().equals("fine-tuned")) {
        break;
      }
      start = s;
    }
    boolean val = epochs.stream().anyMatch(e -> !Double.isNaN(e.valAccuracy()));
    int n = epochs.size();
    boolean from0 = val && start != null && start.accuracy() != null;
    double[] x = new double[n];
    double[] trainLoss = new double[n];
    double[] trainAcc = new double[n];
    double[] valX = new double[from0 ? n + 1 : n];
    double[] valLoss = new double[valX.length];
    double[] valAcc = new double[valX.length];
    int o = from0 ? 1 : 0;
    if (from0) {
      valLoss[0] = start.accuracy().loss();
      valAcc[0] = 100 * start.accuracy().top1();
    }
    for (int i = 0; i < n; i++) {
      Trainer.EpochStats e = epochs.get(i);
      x[i] = e.epoch();
      valX[i + o] = e.epoch();
      trainLoss[i] = e.trainLoss();
      trainAcc[i] = 100 * e.trainAccuracy();
      valLoss[i + o] = e.valLoss();
      valAcc[i + o] = 100 * e.valAccuracy();
    }
    page.section("fine-tuning", "Fine-tuning");
    List<Charts.Line> loss = new ArrayList<>(List.of(new Charts.Line("training loss", x, trainLoss, Charts.palette(0),
        false)));
    List<Charts.Line> acc = new ArrayList<>(List.of(new Charts.Line("training top-1", x, trainAcc, Charts.palette(0),
        false)));
    if (val) {
      loss.add(new Charts.Line("evaluation loss", valX, valLoss, Charts.palette(1), true));
      acc.add(new Charts.Line("evaluation top-1", valX, valAcc, Charts.palette(1), true));
    }
    page.row(List.of(
        Charts.lines(loss, v -> String.format(Locale.ROOT, "%.0f", v), 1, v -> String.format(Locale.ROOT, "%.2f", v),
            Double.NaN, Double.NaN, true, 440, 280),
        Charts.lines(acc, v -> String.format(Locale.ROOT, "%.0f", v), 1, v -> String.format(Locale.ROOT, "%.0f%%", v),
            Double.NaN, Double.NaN, true, 440, 280)),
        "Mean cross-entropy (left) and top-1 in % (right) per epoch (x). Training numbers are averaged over each"
        + " epoch's batches, with augmentation"
        + (from0 ? "; the evaluation line starts at epoch 0 with the " + start.name() + " model." : ".")
        + (epochs.size() == 1 ? " With one epoch, each training series is a single point, at epoch 1." : ""));
    List<String[]> rows = new ArrayList<>();
    for (Trainer.EpochStats e : epochs) {
      rows.add(new String[] {e.epoch() + "/" + e.epochs(), String.format(Locale.ROOT, "%.4f", e.trainLoss()),
          pct(e.trainAccuracy()), Double.isNaN(e.valLoss()) ? "-" : String.format(Locale.ROOT, "%.4f", e.valLoss()),
          Double.isNaN(e.valAccuracy()) ? "-" : pct(e.valAccuracy()), String.format(Locale.ROOT, "%.3g", e.lr()),
          String.format(Locale.ROOT, "%.1f s", e.seconds())});
    }
    page.table(new String[] {"epoch", "loss", "top-1", "eval loss", "eval top-1", "last lr", "time"}, rows, "lrrrrrr");
  }

  private static void trajectory(Page page, PruneReport p) {
    List<TrajectoryPoint> t = p.trajectory();
    double[] step = t.stream().mapToDouble(TrajectoryPoint::step).toArray();
    double[] flops = t.stream().mapToDouble(q -> 100 * q.flopsKept()).toArray();
    double[] loss = t.stream().mapToDouble(TrajectoryPoint::loss).toArray();
    double[] acc = t.stream().mapToDouble(q -> q.accuracy() == null ? Double.NaN : 100 * q.accuracy()).toArray();
    page.section("trajectory", "Trajectory of " + Page.esc(p.criterion()));
    List<String> charts = new ArrayList<>();
    charts.add(Charts.lines(List.of(new Charts.Line("FLOPs kept", step, flops, Charts.palette(0), false)), null, 0,
        v -> String.format(Locale.ROOT, "%.0f%%", v), Double.NaN, Double.NaN, false, 440, 280));
    boolean hasAcc = java.util.Arrays.stream(acc).anyMatch(Double::isFinite);
    boolean hasLoss = java.util.Arrays.stream(loss).anyMatch(Double::isFinite);
    if (hasAcc) {
      charts.add(Charts.lines(List.of(new Charts.Line("validation top-1", step, acc, Charts.palette(1), false)), null,
          0, v -> String.format(Locale.ROOT, "%.0f%%", v), Double.NaN, Double.NaN, false, 440, 280));
    } else if (hasLoss) {
      charts.add(Charts.lines(List.of(new Charts.Line("training loss", step, loss, Charts.palette(1), false)), null,
          0, v -> String.format(Locale.ROOT, "%.2f", v), Double.NaN, Double.NaN, false, 440, 280));
    }
    page.row(charts, "FLOPs kept in % of the original (left) and " + (hasAcc ? "top-1 on the method's validation"
        + " samples in %" : "its training loss") + " (right) at each of the method's " + Numbers.grouped(t.size())
        + " recorded steps (x: the method's step).");
  }

  /**
   * The curves and their table; {@code evaluated}: the unpruned model on the run's evaluation data
   * (null: none), which the curves' own baseline, measured on other samples, is set against;
   * {@code pruned}: the prune the curves served (null: none), whose share removed per group the
   * table shows beside them.
   */
  private static void sensitivity(Page page, Sensitivity.Result r, PipelineResult.Accuracy evaluated,
      PruneReport pruned) {
    List<Sensitivity.Curve> curves = r.curves();
    boolean legend = curves.size() <= 16;
    List<Charts.Line> lines = new ArrayList<>();
    List<String> labels = new ArrayList<>();
    for (int i = 0; i < curves.size(); i++) {
      Sensitivity.Curve c = curves.get(i);
      int n = c.points().size();
      double[] x = new double[n + 1];
      double[] y = new double[n + 1];
      y[0] = 100 * r.baseline().top1();
      for (int k = 0; k < n; k++) {
        x[k + 1] = 100 * c.points().get(k).ratio();
        y[k + 1] = 100 * c.points().get(k).top1();
      }
      // many groups: a shade from light (first) to dark (last) instead of a legend
      lines.add(new Charts.Line("group " + c.group(), x, y, legend ? Charts.palette(i)
          : Charts.shade((double) i / Math.max(1, curves.size() - 1)), false));
      labels.add(Integer.toString(c.group()));
    }
    String samples = "on " + Numbers.grouped(r.baseline().samples()) + " samples";
    if (evaluated != null) {
      samples = String.format(Locale.ROOT, "on the first %s calibration samples, where the unpruned model's top-1 is"
          + " %s (%s on the evaluation data above)", Numbers.grouped(r.baseline().samples()), pct(r.baseline().top1()),
          pct(evaluated.top1()));
    }
    page.section("sensitivity", "Sensitivity of each group (criterion " + Page.esc(r.criterion()) + ")");
    page.figure(legend ? Charts.labelledLines(lines, labels, v -> String.format(Locale.ROOT, "%.0f%%", v), 10,
        v -> String.format(Locale.ROOT, "%.0f%%", v), 0, 100, true, WIDE, 400)
        : Charts.lines(lines, v -> String.format(Locale.ROOT, "%.0f%%", v), 10,
        v -> String.format(Locale.ROOT, "%.0f%%", v), 0, 100, false, WIDE, 380),
        "Top-1 in % (y) when one group alone loses the given % of its channels (x), those its criterion scores"
        + " lowest, evaluated " + samples + ", without retraining (Li et al. 2017, section 4.3)." + (legend
        ? " The group id is written at the end of its line; lines that end together share one label."
        : " Colour runs from the first group (light) to the last (dark)."));
    List<String> header = new ArrayList<>(List.of("group", "producers", "channels"));
    r.ratios().forEach(q -> header.add(String.format(Locale.ROOT, "%.0f%%", 100 * q)));
    if (pruned != null) {
      header.add("removed");
    }
    List<String[]> rows = new ArrayList<>();
    for (Sensitivity.Curve c : curves) {
      List<String> row = new ArrayList<>(List.of(Integer.toString(c.group()), firstProducer(c.producers()),
          Integer.toString(c.channels())));
      for (Sensitivity.Point q : c.points()) {
        double drop = Math.max(0, r.baseline().top1() - q.top1());
        double alpha = Math.min(0.85, drop * 1.7);
        row.add(String.format(Locale.ROOT, "<span class=\"heat\" style=\"background:rgba(217,72,15,%.2f)%s\""
            + " title=\"%d channel(s) removed, %.1f%% of the FLOPs\">%.1f</span>", alpha, alpha > 0.5 ? ";color:#fff"
            : "", q.removed(), 100 * q.flopsRemoved(), 100 * q.top1()));
      }
      if (pruned != null) {
        PruneReport.Group g = pruned.groups().stream().filter(x -> x.id() == c.group()).findFirst().orElse(null);
        row.add(g == null || g.channels() == 0 ? "-" : String.format(Locale.ROOT, "<b>%.0f%%</b>",
            100.0 * (g.channels() - g.kept()) / g.channels()));
      }
      rows.add(row.toArray(new String[0]));
    }
    page.details(curves.size() > 30, "top-1 (%) of each group pruned alone, by ratio", () -> page.table(
        header.toArray(new String[0]), rows, "rl" + "r".repeat(header.size() - 2), "dense"));
    page.note(String.format(Locale.ROOT, "The unpruned model: top-1 %s on these samples. The redder a cell, the"
        + " more top-1 that group loses at that ratio; its tooltip gives the channels and FLOPs removed.%s",
        pct(r.baseline().top1()), pruned == null ? "" : " Removed: the share of the group's channels this run"
        + " removed (" + Page.esc(pruned.allocation()) + " allocation)."));
  }

  /** The first producer, and how many more there are (all of them in the tooltip). */
  private static String firstProducer(List<String> producers) {
    if (producers.isEmpty()) {
      return "";
    }
    String more = producers.size() > 1 ? " <span class=\"more\">+" + (producers.size() - 1) + "</span>" : "";
    return "<span class=\"s nw\" title=\"" + Page.esc(String.join(", ", producers)) + "\">" + Page.esc(producers.get(0))
        + more + "</span>";
  }

  private static void groupsTable(Page page, PruneReport p) {
    List<String[]> rows = new ArrayList<>();
    for (PruneReport.Group g : p.groups()) {
      PruneReport.ScoreSummary s = g.scores();
      String producers = "<span class=\"s\">" + String.join("<br>", g.producers().stream().map(Page::esc).toList())
          + (g.prunable() ? "" : "<br><span class=\"why\">cannot be pruned: " + Page.esc(String.join("; ",
              g.reasons())) + "</span>") + "</span>";
      rows.add(new String[] {Integer.toString(g.id()), producers, Integer.toString(g.channels()),
          Integer.toString(g.kept()), g.channels() == 0 ? "-"
              : String.format(Locale.ROOT, "%.0f%%", 100.0 * (g.channels() - g.kept()) / g.channels()),
          s == null ? "-" : String.format(Locale.ROOT, "<span class=\"nw\">%.3g / %.3g / %.3g</span>", s.min(),
              s.median(), s.max())});
    }
    page.section("groups", "Groups");
    page.details(p.groups().size() > 30, p.groups().size() + " channel groups", () -> page.table(new String[] {"id",
        "producers", "channels", "kept", "removed", "scores (min / median / max)"}, rows, "rlrrrr"));
  }

  private static void phases(Page page, Map<String, Double> seconds) {
    if (seconds == null || seconds.isEmpty()) {
      return;
    }
    List<String[]> rows = new ArrayList<>();
    double total = 0;
    for (Map.Entry<String, Double> e : seconds.entrySet()) {
      rows.add(new String[] {Page.esc(e.getKey()), String.format(Locale.ROOT, "%.2f s", e.getValue())});
      total += e.getValue();
    }
    rows.add(new String[] {"<b>total</b>", String.format(Locale.ROOT, "<b>%.2f s</b>", total)});
    page.section("phases", "Time per phase");
    page.table(new String[] {"phase", "wall time"}, rows, "lr");
  }

  static String pct(double f) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * f);
  }

  static String ms(double seconds) {
    return String.format(Locale.ROOT, "%.2f ms", 1e3 * seconds);
  }

  private static String change(long before, long after) {
    return before == 0 ? "" : String.format(Locale.ROOT, "%+.1f%%", 100.0 * (after - before) / before);
  }
}
