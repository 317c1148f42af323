package dev.onnxprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxprune.cli.TextTable.Align;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code onnx-prune demo}: takes the bundled example model, inspects it, runs it through the
 * {@link #steps() steps} (each an onnx-prune command writing a new file) and prints a
 * before/after table with each step's check.
 */
@Command(name = "demo",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
        "Shows onnx-prune on the bundled example model, with no setup.",
        "Takes " + DemoCommand.EXAMPLE + " (a ResNet-20 trained on Fashion-MNIST) from the onnx-prune-testmodels jar,"
            + " inspects it, converts it (the lossless round trip) into a work folder, prunes half its FLOPs (L1"
            + " filter norm, verified in ONNX Runtime), and prints a before/after table: file size, nodes, parameters,"
            + " MACs, FLOPs, and each step's check."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class DemoCommand implements Callable<Integer> {
  /** The bundled model the demo runs on. */
  static final String EXAMPLE = "resnet20.onnx";

  @Mixin
  CommonOptions common;

  @Option(names = "--work-dir", paramLabel = "DIR",
      description = "Folder for the files the steps write (default: a new temporary folder; files are kept).")
  Path workDir;

  /** What the demo does to the model, in order. */
  static List<DemoStep> steps() {
    return List.of(new DemoStep.RoundTrip(), new DemoStep.Prune());
  }

  @Override
  public Integer call() {
    return common.run(() -> {
      PrintWriter out = common.out();
      Path bundled = exampleModel();
      out.println("example model: " + EXAMPLE + ", bundled at " + exampleLocation());
      describeExample().ifPresent(d -> out.println("  " + d));
      Path dir = workDir != null ? Files.createDirectories(workDir) : Files.createTempDirectory("onnx-prune-demo");
      Path example = dir.resolve("0-" + EXAMPLE);
      Files.copy(bundled, example, StandardCopyOption.REPLACE_EXISTING);
      out.println("work folder:   " + dir + " (kept; " + example.getFileName() + " is the example model)");

      int code = runCommand(List.of("inspect", "--summary", example.toString()));
      if (code != ExitCodes.OK) {
        return code;
      }

      List<String> titles = new ArrayList<>(List.of("input"));
      List<ModelSummary> stats = new ArrayList<>(List.of(ModelSummary.of(example, OnnxModels.read(example))));
      List<DemoStep.Check> checks = new ArrayList<>();
      Path current = example;
      List<DemoStep> steps = steps();
      for (int i = 0; i < steps.size(); i++) {
        DemoStep step = steps.get(i);
        Path next = dir.resolve(String.format(Locale.ROOT, "%d-%s.onnx", i + 1, step.title()));
        code = runCommand(step.arguments(current, next));
        if (code != ExitCodes.OK) {
          return code;
        }
        DemoStep.Check check = step.check(current, next);
        if (!check.ok()) {
          throw new CommandFailure(Messages.failedCheck(step.title(), next, check.verdict()));
        }
        titles.add(step.title());
        stats.add(ModelSummary.of(next, OnnxModels.read(next)));
        checks.add(check);
        current = next;
      }

      out.println();
      out.println("before / after");
      printTable(titles, stats, checks, out);
      out.println();
      out.println("result: " + current);
      return ExitCodes.OK;
    });
  }

  /** Runs one onnx-prune command in this JVM, printing it first as a shell line. */
  private int runCommand(List<String> args) {
    PrintWriter out = common.out();
    out.println();
    out.println("$ onnx-prune " + String.join(" ", args));
    out.flush();
    List<String> full = new ArrayList<>(args);
    if (common.verbose()) {
      full.add("--verbose");
    }
    CommandLine cli = Main.commandLine();
    cli.setOut(out);
    cli.setErr(common.err());
    return cli.execute(full.toArray(new String[0]));
  }

  private static Path exampleModel() throws CommandFailure {
    try {
      return TestModels.model(EXAMPLE);
    } catch (IllegalArgumentException | IllegalStateException | UncheckedIOException e) {
      throw new CommandFailure(Messages.bundledModelMissing(EXAMPLE, String.valueOf(e.getMessage())));
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

  private static void printTable(List<String> titles, List<ModelSummary> stats, List<DemoStep.Check> checks,
      PrintWriter out) {
    Align[] aligns = new Align[titles.size() + 1];
    Arrays.fill(aligns, Align.RIGHT);
    aligns[0] = Align.LEFT;
    TextTable t = new TextTable("  ", aligns);
    List<String> header = new ArrayList<>(List.of(""));
    header.addAll(titles);
    t.row(header.toArray(new String[0]));
    t.row(cells("file size", stats, s -> ModelFiles.describeSize(s.fileBytes(), s.externalDataBytes())));
    t.row(cells("bytes", stats, s -> Units.grouped(s.fileBytes() + s.externalDataBytes())));
    t.row(cells("nodes", stats, s -> Integer.toString(s.totals().nodes())));
    t.row(cells("parameters", stats, s -> Units.count(s.totals().parameters())
        + " (" + Units.grouped(s.totals().parameters()) + ")"));
    t.row(cells("MACs", stats, s -> Units.count(s.totals().macs())));
    t.row(cells("FLOPs", stats, s -> Units.count(s.totals().flops())));
    // a failed check ends the demo before the table, so every step shown passed its check
    List<String> checked = new ArrayList<>(List.of("check", "-"));
    checks.forEach(c -> checked.add(c.cell()));
    t.row(checked.toArray(new String[0]));
    t.print(out);
    for (int i = 0; i < checks.size(); i++) {
      out.println("  " + titles.get(i + 1) + ": " + checks.get(i).verdict());
    }
  }

  private static String[] cells(String label, List<ModelSummary> stats,
      Function<ModelSummary, String> cell) {
    List<String> row = new ArrayList<>(List.of(label));
    for (ModelSummary s : stats) {
      row.add(cell.apply(s));
    }
    return row.toArray(new String[0]);
  }
}
