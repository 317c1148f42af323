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
    assertTrue(r.err().startsWith("Missing required subcommand"), r.err());
  }

  @Test
  void unknownOptionIsAUsageError() {
    assertEquals(2, Cli.run("inspect", "--frobnicate", "x.onnx").exitCode());
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
