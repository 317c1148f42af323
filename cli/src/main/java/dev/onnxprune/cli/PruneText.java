package dev.onnxprune.cli;

import dev.onnxprune.cli.TextTable.Align;
import dev.onnxprune.prune.Equivalence;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.Target;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/** The human-readable summary of a {@link PruneReport}: before/after table, target, groups, verification. */
final class PruneText {
  private PruneText() {}

  /**
   * Prints the summary; {@code bytesAfter} is null when no file was written (failed
   * verification). {@code groups} adds one row per channel group.
   */
  static void print(PruneReport r, Target target, long bytesBefore, Long bytesAfter, boolean groups,
      PrintWriter out) {
    PruneReport.Totals b = r.before();
    PruneReport.Totals a = r.after();
    TextTable t = new TextTable("  ", Align.LEFT, Align.RIGHT, Align.RIGHT, Align.RIGHT)
        .row("", "before", "after", "change");
    t.row("parameters", Units.count(b.params()), Units.count(a.params()), change(b.params(), a.params()));
    boolean partial = b.unknownShapeNodes() > 0 || a.unknownShapeNodes() > 0;
    t.row("MACs", cost(b.macs(), b), cost(a.macs(), a), partial ? "?" : change(b.macs(), a.macs()));
    t.row("FLOPs", cost(b.flops(), b), cost(a.flops(), a), partial ? "?" : change(b.flops(), a.flops()));
    t.row("nodes", Integer.toString(b.nodes()), Integer.toString(a.nodes()), change(b.nodes(), a.nodes()));
    t.row("file size", Units.bytes(bytesBefore), bytesAfter == null ? "not written" : Units.bytes(bytesAfter),
        bytesAfter == null ? "" : change(bytesBefore, bytesAfter));
    out.println("before / after");
    t.print(out);
    if (partial) {
      out.println("  " + b.unknownShapeNodes() + " node(s) before and " + a.unknownShapeNodes() + " after have unknown"
          + " shapes and are not in MACs/FLOPs: those are lower bounds, and their change is not known");
    }
    out.println();

    TextTable s = new TextTable("", Align.LEFT, Align.LEFT);
    s.row("achieved", String.format(Locale.ROOT, "%s of %s removed (target %s; criterion %s, %s)",
        percent(r.achieved()), measure(target.kind()) + (partial && target.kind() == Target.Kind.FLOPS
            ? " (of the nodes whose cost is known)" : ""), percent(target.fraction()), r.criterion(), r.allocation()));
    s.row("groups", groupCounts(r.groups()));
    if (r.widths() != null) {
      s.row("widths", widths(r.widths()));
    }
    if (r.speed() != null) {
      s.row("speed", speed(r.speed()));
    }
    if (r.verify() != null) {
      PruneReport.Verification v = r.verify();
      s.row("verify", String.format(Locale.ROOT, "%s  max abs diff %.3g, max rel diff %.3g (tolerance %.0e; %d"
              + " random batches, against MODEL with the removed channels masked)",
          v.passed() ? "PASS" : "FAIL", v.maxAbsDiff(), v.maxRelDiff(), v.tolerance(), v.batches()));
    }
    s.print(out);
    if (groups) {
      out.println();
      out.println("channel groups");
      TextTable gt = new TextTable("  ", Align.RIGHT, Align.RIGHT, Align.RIGHT, Align.LEFT, Align.LEFT)
          .row("id", "channels", "kept", "producers", "note");
      for (PruneReport.Group g : r.groups()) {
        String note = !g.prunable() ? "unprunable: " + String.join("; ", g.reasons())
            : g.scores() == null ? "not scored by " + r.criterion() : "";
        gt.row(Integer.toString(g.id()), Integer.toString(g.channels()), Integer.toString(g.kept()),
            InspectText.abbreviate(g.producers(), 2), note);
      }
      gt.print(out);
    }
  }

  /** "multiples of 16 (auto: CPU with AVX-512: ...)", "exact (as asked)". */
  static String widths(PruneReport.Widths w) {
    String text = (w.multiple() == 1 ? "exact" : "multiples of " + w.multiple()) + " (" + (w.automatic() ? "auto: "
        : "") + w.reason() + ")";
    if (w.keptWhole() > 0) {
      text += "; " + w.keptWhole() + " group(s) no wider than one step kept whole";
    }
    return text;
  }

  /** "1.85x faster at batch 1 on CPU (median of 10 pairs: 12.30 -> 6.65 ms; best 1.90x)". */
  static String speed(PruneReport.Speed s) {
    if (s.skipped() != null) {
      return "not timed: " + s.skipped();
    }
    return String.format(Locale.ROOT, "%.2fx %s at batch %d on %s (median of %d pairs: %.2f -> %.2f ms; best %.2fx)",
        s.speedup(), s.notFaster() ? "NOT FASTER" : "faster", s.batch(), s.provider(), s.pairs(), s.originalMs(),
        s.prunedMs(), s.bestSpeedup());
  }

  /** A MAC or FLOP total, marked as a lower bound when some nodes' cost is unknown. */
  private static String cost(long count, PruneReport.Totals totals) {
    return (totals.unknownShapeNodes() > 0 ? ">= " : "") + Units.count(count);
  }

  private static String groupCounts(List<PruneReport.Group> groups) {
    long pruned = groups.stream().filter(g -> g.kept() < g.channels()).count();
    long unprunable = groups.stream().filter(g -> !g.prunable()).count();
    long unscored = groups.stream().filter(g -> g.prunable() && g.scores() == null).count();
    long whole = groups.stream().filter(g -> g.prunable() && g.scores() != null && g.kept() == g.channels()).count();
    StringBuilder sb = new StringBuilder();
    sb.append(pruned).append(" of ").append(groups.size()).append(" pruned");
    if (groups.stream().anyMatch(g -> !"channels".equals(g.kind()))) {
      // a transformer: say which kinds of unit went (attention heads, hidden width, MLP channels)
      java.util.Map<String, Long> kinds = new java.util.TreeMap<>();
      groups.stream().filter(g -> g.kept() < g.channels()).forEach(g -> kinds.merge(g.kind(), 1L, Long::sum));
      java.util.List<String> parts = new java.util.ArrayList<>();
      kinds.forEach((k, n) -> parts.add(n + " " + k));
      sb.append(" (").append(String.join(", ", parts)).append(")");
    }
    if (whole > 0) {
      sb.append(", ").append(whole).append(" kept whole");
    }
    if (unscored > 0) {
      sb.append(", ").append(unscored).append(" not scored by the criterion");
    }
    sb.append(", ").append(unprunable).append(" unprunable");
    return sb.toString();
  }

  private static String measure(Target.Kind kind) {
    return switch (kind) {
      case RATIO -> "the channels of prunable groups";
      case FLOPS -> "FLOPs";
      case PARAMS -> "parameters";
      case LATENCY -> "latency (predicted from measured per-channel costs)";
    };
  }

  static String percent(double fraction) {
    return String.format(Locale.ROOT, "%.1f%%", 100 * fraction);
  }

  /** "-50.2%", "+0.0%", "0" for no change. */
  static String change(long before, long after) {
    if (before == after) {
      return "0";
    }
    if (before == 0) {
      return "n/a";
    }
    return String.format(Locale.ROOT, "%+.1f%%", 100.0 * (after - before) / before);
  }
}
