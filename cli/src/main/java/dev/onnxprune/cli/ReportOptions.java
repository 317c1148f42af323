package dev.onnxprune.cli;

import dev.onnxprune.report.Reports;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * {@code --report} and {@code --json} of the commands whose result is a report ({@code prune},
 * {@code finetune}, {@code sensitivity}), declared once. Whether {@code --report} names a folder
 * (report.json and report.html) or the JSON file alone is the library's rule ({@link Reports}).
 */
final class ReportOptions {
  @Option(names = "--report", paramLabel = "DIR|FILE.json",
      description = "Write the report into folder DIR (created when missing) as report.json (fields below) and"
          + " report.html, a page with charts that opens from disk; or as FILE.json alone (a path ending in .json,"
          + " or an existing file).")
  Path report;

  @Option(names = "--json", description = "Print the report's JSON (fields below) on stdout instead of the tables.")
  boolean json;

  /** The files --report writes (none without it), for the check of outputs against inputs. */
  List<Path> files() {
    return Reports.files(report);
  }

  /** {@code "; report PAGE"} for the command's last line (the HTML page, or the JSON file), or "". */
  String wrote() {
    return report == null ? "" : "; report " + Reports.main(report);
  }
}
