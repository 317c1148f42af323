package dev.onnxprune.cli;

import dev.onnxprune.cli.TextTable.Align;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.prune.Sensitivity;
import dev.onnxprune.report.Reports;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Progress;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune sensitivity MODEL --images ... --labels ...}: the library's {@link Sensitivity}
 * analysis (Li et al. 2017, section 4.3), printed as a table, with {@code --json} and
 * {@code --report}.
 */
@Command(name = "sensitivity",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    customSynopsis = "onnx-prune sensitivity MODEL --images PATH [--labels PATH] [OPTIONS]",
    parameterListHeading = "%nModel and output:%n",
    description = {
        "Prunes each prunable channel group alone at several ratios (its channels the criterion scores lowest go"
            + " first) and evaluates every pruned copy on --images/--labels, without retraining: the sensitivity"
            + " analysis of Li et al., \"Pruning Filters for Efficient ConvNets\" (2017), section 4.3. A group"
            + " whose top-1 holds as its channels go is robust; one whose top-1 falls early is sensitive.",
        "The measurements run on several threads (--workers); a line per measurement goes to stderr. prune"
            + " --allocation sensitivity turns such curves into per-group ratios."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json, and report.json of --report):%n",
    footer = {
        "  format                 \"" + Sensitivity.FORMAT + "\"",
        "  model, criterion       as given",
        "  baseline               {samples, top1, top5, loss} of the unpruned model",
        "  ratios[], seconds, workers",
        "  curves[]               {group, producers[], channels, points[] {ratio, removed, top1, top5, loss,",
        "                          flopsRemoved, paramsRemoved (fractions of the whole model)}}"})
public final class SensitivityCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx classifier to analyse.")
  Path model;

  @Mixin
  ReportOptions report;

  @Mixin
  CommonOptions common;

  @ArgGroup(validate = false, heading = "%nData (each pruned copy is evaluated on it):%n", order = 1)
  EvaluationData data = new EvaluationData();

  /** The labelled data and how much of it; an option section, defaults as field initialisers. */
  static final class EvaluationData {
    @ArgGroup(validate = false)
    DataOptions files = new DataOptions();

    @Option(names = "--limit", paramLabel = "N", order = 10,
        description = "Evaluate on the first N samples of --images (default ${DEFAULT-VALUE}; 0: all).")
    int limit = 500;
  }

  @ArgGroup(validate = false, heading = "%nAnalysis:%n", order = 2)
  Analysis analysis = new Analysis();

  /** What is measured; an option section. */
  static final class Analysis {
    @Option(names = "--criterion", paramLabel = "NAME",
        description = "The ranking within each group: l1 (default), l2, bn, fpgm, random, or on --images apoz, mean,"
            + " oracle, aofp, taylor.")
    String criterion = "l1";

    @Option(names = "--ratios", split = ",", paramLabel = "R",
        description = "Fractions of each group's channels to remove, each in (0, 1) (default 0.1,0.2,...,0.9).")
    double[] ratios;

    @Option(names = "--workers", paramLabel = "N",
        description = "Measurements run at once (default ${DEFAULT-VALUE}: one per core).")
    int workers = 0;

    @Option(names = "--min-channels", paramLabel = "N",
        description = "Channels every group keeps at least (default ${DEFAULT-VALUE}).")
    int minChannels = 1;

    @Option(names = "--seed", paramLabel = "S",
        description = "Seed of the random criterion and of aofp's random ablations (default ${DEFAULT-VALUE}).")
    long seed = 0;
  }

  @ArgGroup(validate = false, heading = "%nData-driven criteria:%n", order = 3)
  CalibrationOptions calibration = new CalibrationOptions();

  @ArgGroup(validate = false, heading = "%nRuntime:%n", order = 4)
  RuntimeOptions runtime = new RuntimeOptions();

  @Mixin
  SparkOptions spark = new SparkOptions();

  @Override
  public Integer call() {
    return common.run(() -> {
      new OutputPaths().inputModel("model", model).input("images", data.files.images)
          .input("labels", data.files.labels).outputs("report", report.report, report.files()).check();
      Dataset eval = data.files.open("sensitivity", null, data.limit);
      ExecutionBackend backend = spark.backend();
      Criterion c = ScoreCommand.criterion(analysis.criterion, data.files, calibration, analysis.seed,
          runtime.sessions(), backend);
      Sensitivity.Builder b = Sensitivity.builder().criterion(c).evaluation(eval).limit(data.limit)
          .workers(analysis.workers).minChannels(analysis.minChannels).sessions(runtime.sessions()).backend(backend);
      if (analysis.ratios != null) {
        b.ratios(analysis.ratios);
      }
      Sensitivity sensitivity = b.build();
      PrintWriter err = common.err();
      Sensitivity.Result r;
      try (Progress.Scope s = Progress.open((fraction, detail) -> {
        err.printf(Locale.ROOT, "[%5.1f%%] %s%n", 100 * fraction, detail);
        err.flush();
      }, () -> false)) {
        r = sensitivity.run(model);
      } finally {
        backend.close();
      }
      if (report.report != null) {
        Reports.write(r, report.report);
      }
      if (report.json) {
        Json.print(common.out(), r);
        return ExitCodes.OK;
      }
      print(r, common.out());
      if (report.report != null) {
        common.out().println();
        common.out().println("report " + Reports.main(report.report));
      }
      return ExitCodes.OK;
    });
  }

  private static void print(Sensitivity.Result r, PrintWriter out) {
    out.printf(Locale.ROOT, "%s: top-1 of each group pruned alone (criterion %s, %d samples; unpruned %.2f%%)%n",
        r.model(), r.criterion(), r.baseline().samples(), 100 * r.baseline().top1());
    out.println();
    Align[] aligns = new Align[r.ratios().size() + 3];
    Arrays.fill(aligns, Align.RIGHT);
    aligns[aligns.length - 1] = Align.LEFT;
    TextTable t = new TextTable("  ", aligns);
    List<String> header = new ArrayList<>(List.of("group", "channels"));
    r.ratios().forEach(q -> header.add(String.format(Locale.ROOT, "%.0f%%", 100 * q)));
    header.add("producers");
    t.row(header.toArray(new String[0]));
    for (Sensitivity.Curve c : r.curves()) {
      List<String> row = new ArrayList<>(List.of(Integer.toString(c.group()), Integer.toString(c.channels())));
      c.points().forEach(p -> row.add(String.format(Locale.ROOT, "%.1f", 100 * p.top1())));
      row.add(String.join(", ", c.producers()));
      t.row(row.toArray(new String[0]));
    }
    t.print(out);
    List<Sensitivity.Curve> byDrop = new ArrayList<>(r.curves());
    byDrop.sort(Comparator.comparingDouble(r::meanDrop));
    out.println();
    out.printf(Locale.ROOT, "most robust:    group %d (%.1f points of top-1 lost on average over the ratios)%n",
        byDrop.get(0).group(), r.meanDrop(byDrop.get(0)));
    Sensitivity.Curve worst = byDrop.get(byDrop.size() - 1);
    out.printf(Locale.ROOT, "most sensitive: group %d (%.1f points)%n", worst.group(), r.meanDrop(worst));
    out.printf(Locale.ROOT, "measured in %.1f s on %d thread(s)%n", r.seconds(), r.workers());
  }
}
