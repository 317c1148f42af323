package dev.onnxprune.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.Rounding;
import dev.onnxprune.prune.SpeedCheck;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The speed table of the README: for every torchvision model of the zoo, L1 pruning to {@code --flops}
 * with the library's defaults (uniform, widths {@code --round auto}), then ONNX Runtime CPU latency of
 * the original and the pruned model at each batch size, in alternating pairs in one process
 * ({@link SpeedCheck#pairs}). On shared cores the load comes and goes, so the pairs of a model are
 * spread over the whole run: {@code --rounds} rounds, each timing every model in turn with
 * {@code --pairs} pairs per batch size (fresh sessions, warm-up runs first); a quiet spell then
 * helps every model alike. Prints one Markdown row per model: FLOPs before and after, the FLOPs
 * reduction (before / after), the widths used, per batch the best and median latency of each
 * side, the speed-up (best / best, and the median over pairs of original / pruned) and speed-up
 * divided by FLOPs reduction; and the 1-minute load average at each round.
 *
 * <p>Usage: {@code SpeedTableBench [--zoo DIR] [--models a,b,...] [--flops F] [--batches 1,32]
 * [--pairs 4,1] [--rounds 5] [--threads 2] [--round auto|N] [--global] [--out FILE]}.
 */
public final class SpeedTableBench {
  public static void main(String[] args) throws Exception {
    Path zoo = Path.of(arg(args, "--zoo", "testmodels/zoo"));
    double flops = Double.parseDouble(arg(args, "--flops", "0.5"));
    int[] batches = ints(arg(args, "--batches", "1,32"));
    int[] pairs = ints(arg(args, "--pairs", "4,1"));
    int rounds = Integer.parseInt(arg(args, "--rounds", "5"));
    int threads = Integer.parseInt(arg(args, "--threads", "2"));
    String round = arg(args, "--round", "auto");
    boolean global = Arrays.asList(args).contains("--global");
    if (pairs.length != batches.length) {
      throw new IllegalArgumentException("--pairs needs one count per batch size: " + Arrays.toString(batches));
    }
    List<String> models = new ArrayList<>();
    String only = arg(args, "--models", null);
    if (only != null) {
      models.addAll(List.of(only.split(",")));
    } else {
      for (JsonNode m : new ObjectMapper().readTree(zoo.resolve("manifest.json").toFile()).get("models")) {
        String f = m.get("file").asText().replace(".onnx", "");
        if (!f.endsWith("_folded")) {
          models.add(f);
        }
      }
    }
    String file = arg(args, "--out", null);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    Path out = Files.createDirectories(Path.of(".bench-out"));
    Map<String, PruneReport> reports = new LinkedHashMap<>();
    for (String name : models) {
      Pruner.Builder b = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(flops)).global(global)
          .sessions(sessions);
      if (!round.equals("auto")) {
        b.rounding(Rounding.to(Integer.parseInt(round)));
      }
      var result = b.build().prune(OnnxModels.read(zoo.resolve(name + ".onnx")));
      OnnxModels.write(result.model(), out.resolve(name + ".pruned.onnx"));
      reports.put(name, result.report());
    }
    Map<String, SpeedCheck.Pairs[]> times = new LinkedHashMap<>();
    List<String> loads = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      loads.add(load());
      for (String name : models) {
        SpeedCheck.Pairs[] acc = times.computeIfAbsent(name, k -> new SpeedCheck.Pairs[batches.length]);
        for (int i = 0; i < batches.length; i++) {
          SpeedCheck.Timing t =
              new SpeedCheck.Timing(batches[i], batches[i] >= 16 ? 1 : 3, pairs[i], pairs[i], Duration.ofHours(1));
          SpeedCheck.Pairs p =
              SpeedCheck.pairs(sessions, zoo.resolve(name + ".onnx"), out.resolve(name + ".pruned.onnx"), t);
          acc[i] = acc[i] == null ? p : acc[i].plus(p);
        }
      }
      System.err.printf("round %d of %d done, load %s%n", r + 1, rounds, load());
      if (file != null) { // the table so far, in case the run is cut short
        List<String> so = new ArrayList<>(loads);
        so.add(load());
        Files.write(Path.of(file), table(models, reports, times, so, flops, global, round, threads, batches, pairs,
            r + 1));
      }
    }
    loads.add(load());
    List<String> lines = table(models, reports, times, loads, flops, global, round, threads, batches, pairs, rounds);
    lines.forEach(System.out::println);
    for (String name : models) {
      Files.delete(out.resolve(name + ".pruned.onnx"));
    }
  }

  /** The table after {@code done} rounds; the header lists the load at each round so far. */
  private static List<String> table(List<String> models, Map<String, PruneReport> reports,
      Map<String, SpeedCheck.Pairs[]> times, List<String> loads, double flops, boolean global, String round,
      int threads, int[] batches, int[] pairs, int done) {
    List<String> lines = new ArrayList<>();
    lines.add(String.format(Locale.ROOT, "L1, --flops %s, %s, --round %s; ONNX Runtime CPU, %d threads; batches %s,"
        + " %s pairs each over %d rounds; speed-up = best / best (median of pairs); ratio = speed-up / FLOPs"
        + " reduction; 1-minute load average at each round: %s", flops, global ? "global" : "uniform", round, threads,
        Arrays.toString(batches), Arrays.toString(Arrays.stream(pairs).map(p -> p * done).toArray()), done,
        String.join(", ", loads)));
    lines.add("");
    StringBuilder head = new StringBuilder("| model | FLOPs | FLOPs reduction | widths |");
    StringBuilder rule = new StringBuilder("|---|---|---:|---:|");
    for (int b : batches) {
      head.append(String.format(Locale.ROOT, " b%d original ms best / median | b%d pruned ms best / median |"
          + " b%d speed-up | b%d ratio |", b, b, b, b));
      rule.append("---:|---:|---:|---:|");
    }
    lines.add(head.toString());
    lines.add(rule.toString());
    for (String name : models) {
      PruneReport r = reports.get(name);
      double reduction = (double) r.before().flops() / r.after().flops();
      StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s -> %s | %.2fx | %d |", name,
          giga(r.before().flops()), giga(r.after().flops()), reduction, r.widths().multiple()));
      for (SpeedCheck.Pairs p : times.get(name)) {
        PruneReport.Speed s = p.summary();
        row.append(String.format(Locale.ROOT, " %s / %s | %s / %s | %.2fx (%.2fx) | %.2f (%.2f) |",
            ms(s.originalBestMs()), ms(s.originalMs()), ms(s.prunedBestMs()), ms(s.prunedMs()), s.bestSpeedup(),
            s.speedup(), s.bestSpeedup() / reduction, s.speedup() / reduction));
      }
      lines.add(row.toString());
    }
    return lines;
  }

  private static String giga(long flops) {
    return String.format(Locale.ROOT, flops >= 1e9 ? "%.2fG" : "%.0fM", flops >= 1e9 ? flops / 1e9 : flops / 1e6);
  }

  private static String ms(double ms) {
    return String.format(Locale.ROOT, ms >= 100 ? "%.0f" : ms >= 10 ? "%.1f" : "%.2f", ms);
  }

  /** The 1-minute load average. */
  private static String load() throws Exception {
    return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
  }

  private static int[] ints(String csv) {
    return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private static String arg(String[] args, String name, String dflt) {
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals(name)) {
        return args[i + 1];
      }
    }
    return dflt;
  }
}
