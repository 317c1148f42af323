package dev.onnxprune.cli;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.criteria.DataCriterion;
import dev.onnxprune.criteria.ScoringStats;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune score MODEL --criterion NAME [--images FILE --labels FILE ...] [--json]}:
 * the score of every channel of every channel group under one criterion, data-free or
 * data-driven. Nothing is pruned or written.
 */
@Command(name = "score",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    customSynopsis = "onnx-prune score MODEL --criterion NAME [--images PATH [--labels PATH]] [OPTIONS]",
    parameterListHeading = "%nModel, criterion and output:%n",
    description = {
        "Scores every channel of every prunable channel group with a criterion (higher = more important) and"
            + " prints the scores per group. Nothing is pruned or written.",
        "Data-driven criteria run the model in ONNX Runtime over calibration images: apoz (1 - average percentage"
            + " of zeros where a channel enters its consumers), mean (mean |activation| there), oracle (mean loss"
            + " increase when the channel is ablated; about one forward pass per channel), aofp (isolated damage"
            + " at the next layer found by AOFP's binary filter search; channels it would prune first score"
            + " lowest), taylor (mean over samples of |sum of activation x loss gradient| over the channel's"
            + " activations, the first-order estimate of the loss change when it is removed; one forward and"
            + " backward pass), thinet (ThiNet: the order of greedy removal by the error it leaves in the next"
            + " convolution's output, as a share of removing the whole group; one forward pass), heads (Michel et"
            + " al.: mean over samples of |gradient of the loss| for a mask on each attention head, divided by"
            + " the L2 norm of its layer's), wanda (Sun et al.: |weight| x the input feature's norm over the"
            + " calibration tokens, summed over the weights that read the channel; one forward pass)."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json):%n",
    footer = {
        "  format    \"" + ScoreCommand.FORMAT + "\"",
        "  model, criterion",
        "  stats     {criterion, seconds, sessionRuns, sampleForwards, ablations, forwardEquivalents}",
        "            (data-driven criteria; null otherwise)",
        "  groups[]  {id, channels, prunable, producers[], scores[] (null: not scored), reasons[]}"})
public final class ScoreCommand implements Callable<Integer> {
  /** Version tag of the --json layout. */
  static final String FORMAT = "onnx-prune.score/1";

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to score.")
  Path model;

  @Option(names = "--criterion", required = true, paramLabel = "NAME",
      description = "l1, l2, bn, fpgm, random (data-free), or apoz, mean, oracle, aofp, taylor, thinet, heads, wanda"
          + " (need --images).")
  String criterion;

  @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
      description = "Seed of random and of aofp's random ablations (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--json", description = "Print the scores as one JSON document (fields listed below).")
  boolean json;

  @Mixin
  CommonOptions common;

  @ArgGroup(validate = false, heading = "%nCalibration data (apoz, mean, oracle, aofp, taylor, thinet):%n", order = 1)
  DataOptions data = new DataOptions();

  @ArgGroup(validate = false, heading = "%nData-driven criteria:%n", order = 2)
  CalibrationOptions calibration = new CalibrationOptions();

  /** Where data-driven criteria run. */
  @ArgGroup(validate = false, heading = "%nRuntime:%n", order = 3)
  RuntimeOptions runtime = new RuntimeOptions();

  /** The JSON document. */
  @JsonPropertyOrder({"format", "model", "criterion", "stats", "groups"})
  record Scores(String format, String model, String criterion, ScoringStats stats, List<Group> groups) {}

  /** One group's scores. */
  record Group(int id, int channels, boolean prunable, List<String> producers, double[] scores,
      List<String> reasons) {}

  @Mixin
  SparkOptions spark = new SparkOptions();

  @Override
  public Integer call() {
    return common.run(() -> {
      double[][] s;
      Criterion c;
      ChannelAnalysis a;
      // a criterion's notes (Oracle's estimated cost) go to stderr before it runs
      Progress.Sink notes = new Progress.Sink() {
        @Override
        public void progress(double fraction, String detail) {}

        @Override
        public void note(String message) {
          common.err().println(OptionNames.render(message));
          common.err().flush();
        }
      };
      try (ExecutionBackend backend = spark.backend(); Progress.Scope scope = Progress.open(notes)) {
        c = criterion(criterion, data, calibration, seed, runtime.sessions(), backend);
        Model m = OnnxModels.read(model);
        a = ChannelAnalysis.analyze(m);
        s = c.score(a);
      }
      List<Group> groups = new ArrayList<>();
      for (ChannelGroup g : a.groups()) {
        groups.add(new Group(g.id(), g.size(), g.prunable(), g.producers(), s[g.id()], g.blockReasons()));
      }
      ScoringStats stats = c instanceof DataCriterion dc ? dc.lastStats() : null;
      Scores doc = new Scores(FORMAT, model.toString(), c.name(), stats, groups);
      if (json) {
        Json.print(common.out(), doc);
      } else {
        print(doc, common.out());
      }
      return ExitCodes.OK;
    });
  }

  /** The criterion {@code name}, with its calibration data when it is data-driven; bad values name their option. */
  static Criterion criterion(String name, DataOptions data, CalibrationOptions calibration, long seed,
      Sessions sessions, ExecutionBackend backend) throws Exception {
    if (!DataCriteria.isDataDriven(name)) {
      return UsageFailure.check(null, () -> Criteria.byName(name, seed));
    }
    DataCriteria.Options o = calibration.options(seed).backend(backend);
    return DataCriteria.byName(name, calibration.read(data, "--criterion " + name), sessions, o);
  }

  private static void print(Scores doc, PrintWriter out) {
    out.println(doc.model() + ": " + doc.criterion() + " scores (higher = more important)");
    if (doc.stats() != null) {
      ScoringStats st = doc.stats();
      out.printf(Locale.ROOT, "scored in %.2f s: %d session runs, %d samples forwarded, about %.1f forward passes"
          + " over the calibration data%n", st.seconds(), st.sessionRuns(), st.sampleForwards(),
          st.forwardEquivalents());
    }
    for (Group g : doc.groups()) {
      out.println();
      out.printf("group %d  %d channels  %s%n", g.id(), g.channels(), String.join(", ", g.producers()));
      if (g.scores() == null) {
        out.println("  " + (g.prunable() ? "not scored by this criterion" : "unprunable: " + String.join("; ",
            g.reasons())));
        continue;
      }
      double[] s = g.scores();
      out.printf(Locale.ROOT, "  min %.4g  mean %.4g  max %.4g; lowest first: %s%n",
          Arrays.stream(s).min().orElse(0), Arrays.stream(s).average().orElse(0), Arrays.stream(s).max().orElse(0),
          lowestFirst(s, 8));
      StringBuilder line = new StringBuilder("  ");
      for (int u = 0; u < s.length; u++) {
        String cell = String.format(Locale.ROOT, "%d:%.4g", u, s[u]);
        if (line.length() + cell.length() > 100) {
          out.println(line.toString().stripTrailing());
          line = new StringBuilder("  ");
        }
        line.append(cell).append("  ");
      }
      out.println(line.toString().stripTrailing());
    }
  }

  private static String lowestFirst(double[] s, int n) {
    Integer[] idx = new Integer[s.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, (x, y) -> Double.compare(s[x], s[y]));
    List<String> out = new ArrayList<>();
    for (int i = 0; i < Math.min(n, idx.length); i++) {
      out.add(Integer.toString(idx[i]));
    }
    return String.join(" ", out) + (idx.length > n ? " ..." : "");
  }
}
