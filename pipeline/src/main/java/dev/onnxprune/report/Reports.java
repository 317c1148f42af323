package dev.onnxprune.report;

import dev.onnxprune.prune.PipelineResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a {@code report} option names, and writing it. A path that ends in {@code .json} (and is not
 * a folder), or names a regular file that exists, is the JSON report alone; any other path is a
 * folder (created when missing) that gets {@value HtmlReport#JSON} and {@value HtmlReport#HTML}.
 * The command line's {@code --report} and the Maven plugin's {@code <report>} both follow it.
 */
public final class Reports {
  private Reports() {}

  /** True when {@code report} names the JSON file alone, false when it names a folder for both files. */
  public static boolean jsonOnly(Path report) {
    if (Files.isDirectory(report)) {
      return false;
    }
    return report.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json") || Files.isRegularFile(report);
  }

  /**
   * The files a report at {@code report} consists of: the JSON file, or the folder's two files;
   * none for null.
   */
  public static List<Path> files(Path report) {
    if (report == null) {
      return List.of();
    }
    return jsonOnly(report) ? List.of(report) : List.of(report.resolve(HtmlReport.JSON),
        report.resolve(HtmlReport.HTML));
  }

  /** The page a reader opens: {@value HtmlReport#HTML} in the folder, or the JSON file itself. */
  public static Path main(Path report) {
    List<Path> f = files(report);
    return f.get(f.size() - 1);
  }

  /**
   * Writes the report of {@code result} at {@code report}: JSON only, or JSON and HTML into the
   * folder (each file atomically).
   *
   * @return the files written
   */
  public static List<Path> write(PipelineResult result, Path report) throws IOException {
    if (jsonOnly(report)) {
      result.writeJson(report);
      return List.of(report);
    }
    return HtmlReport.write(result, report);
  }

  /** Writes a sensitivity analysis at {@code report}, as {@link #write(PipelineResult, Path)} does. */
  public static List<Path> write(dev.onnxprune.prune.Sensitivity.Result result, Path report) throws IOException {
    if (jsonOnly(report)) {
      result.writeJson(report);
      return List.of(report);
    }
    return HtmlReport.write(result, report);
  }
}
