package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine.Model.ArgGroupSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/** {@code --help}: sections, width, synopses that say what is required. */
class HelpTest {
  static Stream<String> commands() {
    return Main.commandLine().getSubcommands().keySet().stream().filter(c -> !c.equals("help"));
  }

  private static CommandSpec spec(String command) {
    return Main.commandLine().getSubcommands().get(command).getCommandSpec();
  }

  private static String help(String command) {
    Cli.Result r = Cli.run(command, "--help");
    assertEquals(0, r.exitCode(), r.err());
    return r.out();
  }

  @ParameterizedTest
  @MethodSource("commands")
  void helpFitsInHundredColumns(String command) {
    for (String line : help(command).split("\n")) {
      assertTrue(line.length() <= Main.HELP_WIDTH, command + ": " + line.length() + " columns: " + line);
    }
  }

  @ParameterizedTest
  @MethodSource("commands")
  void everyOptionIsListed(String command) {
    String help = help(command);
    for (OptionSpec o : spec(command).options()) {
      String name = o.negatable() ? "--[no-]" + o.longestName().substring(2) : o.longestName();
      assertTrue(help.contains(name), command + " --help lacks " + name);
    }
  }

  /** Picocli may break a line inside "OUT.<hash>.data" (after the dot); no help text should let it. */
  @ParameterizedTest
  @MethodSource("commands")
  void noDottedWordIsBrokenAcrossLines(String command) {
    CommandSpec spec = spec(command);
    List<String> texts = new ArrayList<>(List.of(spec.usageMessage().description()));
    spec.options().forEach(o -> texts.addAll(List.of(o.description())));
    spec.positionalParameters().forEach(p -> texts.addAll(List.of(p.description())));
    String help = help(command).replaceAll("\\n +", "\n");
    Matcher dotted = Pattern.compile("[\\w<>-]+\\.[\\w<>/-]+").matcher(String.join(" ", texts));
    while (dotted.find()) {
      assertTrue(help.contains(dotted.group()), command + " --help breaks '" + dotted.group() + "':\n" + help);
    }
  }

  /** A custom synopsis is written by hand: it must name every required option, group and parameter. */
  @ParameterizedTest
  @MethodSource("commands")
  void synopsisNamesWhatIsRequired(String command) {
    CommandSpec spec = spec(command);
    List<String> lines = help(command).lines().toList();
    StringBuilder sb = new StringBuilder(lines.get(0));
    for (int i = 1; i < lines.size() && lines.get(i).startsWith(" "); i++) {
      sb.append(lines.get(i));
    }
    String synopsis = sb.toString();
    assertTrue(synopsis.startsWith("Usage: onnx-prune " + command + " "), synopsis);
    for (PositionalParamSpec p : spec.positionalParameters()) {
      if (p.required()) {
        assertTrue(synopsis.contains(p.paramLabel()), command + ": " + p.paramLabel() + " missing from " + synopsis);
      }
    }
    for (OptionSpec o : spec.options()) {
      if (o.required() && o.group() == null) {
        assertTrue(synopsis.contains(o.shortestName()), command + ": " + o.shortestName() + " not in " + synopsis);
      }
    }
    for (ArgGroupSpec g : spec.argGroups()) {
      if (g.validate() && g.multiplicity().min() > 0) {
        for (OptionSpec o : g.allOptionsNested()) {
          assertTrue(synopsis.contains(o.longestName()), command + ": " + o.longestName() + " not in " + synopsis);
        }
      }
    }
  }

  @Test
  void pruneHelpIsInTitledSections() {
    assertSections(help("prune"), "Input and output:", "Target (exactly one):",
        "Allocation (how the target is spread over the groups):", "Criterion (how channels are scored):",
        "Training-time method (instead of a criterion; trains on --images):",
        "Data (calibration of data-driven criteria; training of --method and recovery):", "Evaluation:",
        "Recovery (after pruning, before OUT is written):", "Checks:", "Runtime:", "Exit codes:",
        "Report (report.json of --report DIR, --report FILE.json, or --json):");
  }

  @Test
  void finetuneHelpIsInTitledSections() {
    assertSections(help("finetune"), "Input and output:", "Training data:", "Evaluation:", "Fine-tuning:",
        "Scratch baseline (Liu et al.):", "Runtime:", "Exit codes:",
        "Report (report.json of --report DIR, --report FILE.json, or --json):");
  }

  @Test
  void scoreEvalAndExportTrainingHelpAreInTitledSections() {
    assertSections(help("score"), "Model, criterion and output:",
        "Calibration data (apoz, mean, oracle, aofp, taylor, thinet):", "Data-driven criteria:", "Runtime:", "Exit codes:", "JSON fields (--json):");
    assertSections(help("eval"), "Input and output:", "Data:", "Runtime:", "Exit codes:", "JSON fields (--json):");
    assertSections(help("sensitivity"), "Model and output:", "Data (each pruned copy is evaluated on it):",
        "Analysis:", "Data-driven criteria:", "Runtime:", "Exit codes:",
        "JSON fields (--json, and report.json of --report):");
    assertSections(help("export-training"), "Input and output:", "Optimizer and loss:", "Parameters and BatchNorm:",
        "Exit codes:");
  }

  @Test
  void optionsOfASectionStayInIt() {
    String help = help("prune");
    assertInSection(help, "Criterion (how channels are scored):", "--criterion", "--calib-limit", "--aofp-plan");
    assertInSection(help, "Recovery (after pruning, before OUT is written):", "--epochs, --finetune-epochs", "--lr=",
        "--optimizer", "--label-smoothing", "--resume");
    assertInSection(help, "Data (calibration of data-driven criteria; training of --method and recovery):",
        "--images", "--std", "--limit", "--seed");
  }

  /** {@code headings} are lines of {@code help}, each after a blank line, in this order. */
  private static void assertSections(String help, String... headings) {
    int at = 0;
    for (String h : headings) {
      int i = help.indexOf("\n\n" + h + "\n", at);
      assertTrue(i >= 0, "no section '" + h + "' (in order) in\n" + help);
      at = i + 1;
    }
  }

  private static void assertInSection(String help, String heading, String... options) {
    int start = help.indexOf("\n" + heading + "\n");
    assertTrue(start >= 0, heading);
    int end = help.indexOf("\n\n", start + 1);
    String section = help.substring(start, end);
    for (String o : options) {
      assertTrue(section.contains(o), o + " not in section '" + heading + "':\n" + section);
    }
  }

  @Test
  void commandListNamesEveryCommand() {
    String help = Cli.run("--help").out();
    commands().forEach(c -> assertTrue(help.contains("\n  " + c + " ") || help.contains("\n  " + c + "\n"), c));
  }
}
