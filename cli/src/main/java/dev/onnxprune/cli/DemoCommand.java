package dev.onnxprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxprune.testmodels.TestModels;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code onnx-prune demo}: copies the bundled example model and data into a work folder, inspects
 * the model, and runs the {@link #steps steps} (onnx-prune commands, each printed as a shell line
 * that runs in the work folder): the prune with verification, recovery, evaluation after every
 * stage and latency, whose stage table and report.html are what users care about.
 */
@Command(name = "demo",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
        "Shows onnx-prune on the bundled example model and data, with no setup.",
        "Copies " + DemoCommand.EXAMPLE + " (a ResNet-20 trained on Fashion-MNIST) and the bundled Fashion-MNIST"
            + " images into a work folder, inspects the model, then prunes half its FLOPs (L1 filter norm, verified in"
            + " ONNX Runtime), recovers (BatchNorm recalibration, then one epoch of fine-tuning on the 1,000 training"
            + " images) and measures top-1 on the 2,000 test images after every stage, with latency before and after.",
        "Prints the stages (top-1, params, FLOPs, latency) as a table, and the path of report.html: the same with"
            + " charts, a page that opens from disk. About a minute on two cores."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class DemoCommand implements Callable<Integer> {
  /** The bundled model the demo runs on. */
  static final String EXAMPLE = "resnet20.onnx";
  /** The bundled data: training images for recovery, test images for evaluation (IDX, gzipped). */
  static final List<String> DATA = List.of("fmnist-calib-images-idx3-ubyte.gz", "fmnist-calib-labels-idx1-ubyte.gz",
      "fmnist-test-images-idx3-ubyte.gz", "fmnist-test-labels-idx1-ubyte.gz");

  @Mixin
  CommonOptions common;

  @Option(names = "--work-dir", paramLabel = "DIR",
      description = "Folder for the files the demo copies and writes (default: a new temporary folder; files are"
          + " kept).")
  Path workDir;

  /** What the demo runs, in order, on the data copied into the work folder. */
  static List<DemoStep> steps(DemoStep.Data data) {
    return List.of(new DemoStep.Prune(data));
  }

  @Override
  public Integer call() {
    return common.run(() -> {
      long start = System.nanoTime();
      PrintWriter out = common.out();
      Path bundled = exampleModel();
      out.println("example model: " + EXAMPLE + ", bundled at " + exampleLocation());
      describeExample().ifPresent(d -> out.println("  " + d));
      Path dir = (workDir != null ? Files.createDirectories(workDir) : Files.createTempDirectory("onnx-prune-demo"))
          .toAbsolutePath();
      Path example = dir.resolve(EXAMPLE);
      Files.copy(bundled, example, StandardCopyOption.REPLACE_EXISTING);
      List<Path> files = new ArrayList<>();
      for (String name : DATA) {
        files.add(Files.copy(bundledFile(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING));
      }
      DemoStep.Data data = new DemoStep.Data(files.get(0), files.get(1), files.get(2), files.get(3));
      out.println("work folder:   " + dir + " (kept; the commands below run there)");
      out.println("data:          Fashion-MNIST, 1,000 training images (recovery) and 2,000 test images (evaluation)");

      int code = runCommand(dir, List.of(List.of("inspect", "--summary", example.toString())));
      if (code != ExitCodes.OK) {
        return code;
      }
      List<DemoStep.Check> checks = new ArrayList<>();
      for (DemoStep step : steps(data)) {
        code = runCommand(dir, step.lines(example, dir));
        if (code != ExitCodes.OK) {
          return code;
        }
        DemoStep.Check check = step.check(dir);
        if (!check.ok()) {
          throw new CommandFailure(Messages.failedCheck(step.arguments(example, dir).get(0), dir, check.verdict()));
        }
        checks.add(check);
      }
      out.println();
      checks.forEach(c -> out.println("check:  " + c.verdict()));
      Path page = dir.resolve(DemoStep.Prune.REPORT).resolve(dev.onnxprune.report.HtmlReport.HTML);
      out.println("report: " + page + " (open it in a browser)");
      out.printf(Locale.ROOT, "demo done in %.1f s%n", (System.nanoTime() - start) / 1e9);
      return ExitCodes.OK;
    });
  }

  /**
   * Runs one onnx-prune command in this JVM, printing it first as a shell command that runs in
   * {@code dir}: its paths relative to it, one line per element of {@code lines}.
   */
  private int runCommand(Path dir, List<List<String>> lines) {
    PrintWriter out = common.out();
    out.println();
    out.println(shellLine(dir, lines));
    out.flush();
    List<String> full = new ArrayList<>();
    lines.forEach(full::addAll);
    if (common.verbose()) {
      full.add("--verbose");
    }
    CommandLine cli = Main.commandLine();
    cli.setOut(out);
    cli.setErr(common.err());
    return cli.execute(full.toArray(new String[0]));
  }

  /** {@code $ onnx-prune ARGS}: paths under {@code dir} relative to it, each line but the last continued. */
  static String shellLine(Path dir, List<List<String>> lines) {
    List<String> shown = new ArrayList<>();
    for (List<String> line : lines) {
      List<String> words = new ArrayList<>();
      for (String a : line) {
        Path p = Path.of(a);
        words.add(p.isAbsolute() && p.startsWith(dir) ? dir.relativize(p).toString() : a);
      }
      shown.add(String.join(" ", words));
    }
    return "$ onnx-prune " + String.join(" \\\n    ", shown);
  }

  private static Path exampleModel() throws CommandFailure {
    try {
      return TestModels.model(EXAMPLE);
    } catch (IllegalArgumentException | IllegalStateException | UncheckedIOException e) {
      throw new CommandFailure(Messages.bundledModelMissing(EXAMPLE, String.valueOf(e.getMessage())));
    }
  }

  private static Path bundledFile(String name) throws CommandFailure {
    try {
      return TestModels.file(name);
    } catch (IllegalArgumentException | IllegalStateException | UncheckedIOException e) {
      throw new CommandFailure(Messages.bundledModelMissing(name, String.valueOf(e.getMessage())));
    }
  }

  /** Where the class path holds the example (a jar: or file: URL). */
  private static String exampleLocation() {
    URL url = TestModels.class.getClassLoader().getResource(TestModels.RESOURCE_DIR + EXAMPLE);
    return url == null ? TestModels.RESOURCE_DIR + EXAMPLE : url.toString();
  }

  /** The manifest's words on the example: architecture and accuracy, when the manifest has them. */
  private static Optional<String> describeExample() {
    try {
      JsonNode e = TestModels.entry(EXAMPLE);
      List<String> parts = new ArrayList<>();
      if (e.hasNonNull("architecture")) {
        parts.add(e.get("architecture").asText());
      }
      if (e.hasNonNull("test_accuracy")) {
        parts.add(String.format(Locale.ROOT, "Fashion-MNIST test accuracy %.1f%%",
            100 * e.get("test_accuracy").asDouble()));
      }
      return parts.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", parts));
    } catch (RuntimeException e) {
      // the manifest only adds a description; the demo does not need it
      return Optional.empty();
    }
  }
}
