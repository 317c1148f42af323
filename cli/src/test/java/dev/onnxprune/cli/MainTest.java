package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MainTest {
  @ParameterizedTest
  @ValueSource(strings = {"", "inspect", "convert", "prune", "mask", "demo"})
  void everyCommandHasHelp(String command) {
    Cli.Result r = command.isEmpty() ? Cli.run("--help") : Cli.run(command, "--help");

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().startsWith("Usage: onnx-prune" + (command.isEmpty() ? "" : " " + command)), r.out());
    assertTrue(r.out().contains("Exit codes:"), r.out());
  }

  @Test
  void noCommandIsAUsageError() {
    Cli.Result r = Cli.run();

    assertEquals(2, r.exitCode());
    assertEquals("onnx-prune: error: missing required subcommand (inspect, convert, prune, score, mask, eval, finetune,"
        + " sensitivity, export-training or demo)\nonnx-prune: try 'onnx-prune --help'\n", r.err());
  }

  @Test
  void unknownOptionIsTwoLinesWithoutTheUsage() {
    Cli.Result r = Cli.run("inspect", "--frobnicate", "x.onnx");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("inspect", "unknown option: '--frobnicate'"), r.err());
    assertEquals("", r.out());
  }

  @Test
  void misspeltOptionGetsPicocliSuggestionInTheHint() {
    Cli.Result r = Cli.run("prune", "m.onnx", "-o", "o.onnx", "--flops", "0.5", "--verfy");

    assertEquals(2, r.exitCode());
    assertEquals("onnx-prune: error: unknown option: '--verfy'\n"
        + "onnx-prune: did you mean --verify? try 'onnx-prune prune --help'\n", r.err());
  }

  @Test
  void misspeltCommandGetsPicocliSuggestionInTheHint() {
    Cli.Result r = Cli.run("prnue", "m.onnx");

    assertEquals(2, r.exitCode());
    assertEquals("onnx-prune: error: unmatched arguments from index 0: 'prnue', 'm.onnx'\n"
        + "onnx-prune: did you mean prune? try 'onnx-prune --help'\n", r.err());
  }

  @Test
  void nonNumericValueIsTwoLinesNamingTheOption() {
    Cli.Result r = Cli.run("prune", "m.onnx", "-o", "o.onnx", "--flops", "abc");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("prune", "invalid value for option '--flops': 'abc' is not a double"), r.err());
    assertEquals("", r.out());
  }

  @Test
  void nonNumericValueInAnOptionSectionIsTwoLines() {
    Cli.Result r = Cli.run("finetune", "m.onnx", "-o", "o.onnx", "--epochs", "1", "--lr", "fast");

    assertEquals(2, r.exitCode());
    assertEquals(Cli.usageError("finetune", "invalid value for option '--lr': 'fast' is not a double"), r.err());
  }

  @Test
  void missingRequiredOptionAndParameterAreTwoLines() {
    Cli.Result output = Cli.run("mask", "m.onnx", "--sparsity", "0.5");
    Cli.Result model = Cli.run("eval", "--images", "x.gz");

    assertEquals(2, output.exitCode());
    assertEquals(Cli.usageError("mask", "missing required option: '--output=OUT'"), output.err());
    assertEquals(2, model.exitCode());
    assertEquals(Cli.usageError("eval", "missing required parameter: 'MODEL'"), model.err());
  }

  @Test
  void editDistanceCountsEdits() {
    assertEquals(1, Main.editDistance("--verfy", "--verify"));
    assertEquals(4, Main.editDistance("--verfy", "--verbose"));
    assertEquals(0, Main.editDistance("", ""));
    assertEquals(5, Main.editDistance("prune", ""));
  }

  @Test
  void picocliMessagesBecomeOneLowerCaseLine() {
    assertEquals("unknown option: '--x'", Messages.parseError("Unknown option: '--x'"));
    assertEquals("missing required argument: (--a | --b)", Messages.parseError("Error: Missing required argument:\n"
        + "  (--a | --b)"));
    assertEquals("--flops=F, --params=P are mutually exclusive", Messages.parseError(
        "--flops=F, --params=P are mutually exclusive"));
    assertEquals("MODEL is missing", Messages.parseError("MODEL is missing"));
  }

  @Test
  void versionNamesTheTool() {
    Cli.Result r = Cli.run("--version");

    assertEquals(0, r.exitCode());
    assertTrue(r.out().startsWith("onnx-prune "), r.out());
  }

  @Test
  void inspectHelpDocumentsTheJsonFields() {
    String help = Cli.run("inspect", "--help").out();

    for (String field : new String[] {"opHistogram", "totals", "nodes[]", "outputShapes", "macs", "flops"}) {
      assertTrue(help.contains(field), field + " missing from\n" + help);
    }
  }
}
