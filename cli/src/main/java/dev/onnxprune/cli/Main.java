package dev.onnxprune.cli;

import java.io.PrintWriter;
import java.util.Comparator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The {@code onnx-prune} command: subcommands {@code inspect}, {@code convert}, {@code prune},
 * {@code score}, {@code mask}, {@code eval}, {@code finetune}, {@code sensitivity}, {@code export-training} and
 * {@code demo}.
 *
 * <p>Exit codes: {@value ExitCodes#OK} on success, {@value ExitCodes#ERROR} when the work failed
 * (one line {@code onnx-prune: error: <reason>} on stderr), {@value ExitCodes#USAGE} for a
 * usage error (an unknown, missing or malformed option or a value the library refuses: one line
 * {@code onnx-prune: error: <what>} and one line {@code onnx-prune: try 'onnx-prune COMMAND --help'},
 * no usage dump). Embed it as {@code Main.commandLine().execute(args)}.
 */
@Command(name = "onnx-prune",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Prunes trained ONNX models. Start with `onnx-prune demo`.",
    subcommands = {InspectCommand.class, ConvertCommand.class, PruneCommand.class, ScoreCommand.class, MaskCommand.class,
        EvalCommand.class, FinetuneCommand.class, SensitivityCommand.class, ExportTrainingCommand.class,
        DemoCommand.class, CommandLine.HelpCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class Main implements Runnable {
  /** Columns of the {@code --help} text. */
  static final int HELP_WIDTH = 100;

  @Spec
  CommandSpec spec;

  /** Runs the CLI and exits the JVM with its exit code. */
  public static void main(String[] args) {
    CommandLine cli = commandLine();
    int code = cli.execute(args);
    cli.getOut().flush();
    cli.getErr().flush();
    System.exit(code);
  }

  /**
   * The command line, ready to {@link CommandLine#execute}: help {@value #HELP_WIDTH} columns wide,
   * and picocli's parse errors (unknown, missing or malformed options) as two lines on stderr, exit
   * code {@value ExitCodes#USAGE}.
   */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.setUsageHelpWidth(HELP_WIDTH);
    cli.setParameterExceptionHandler(Main::parseError);
    return cli;
  }

  /** A parse error in two lines: picocli's message, then where to look (with its suggestion, if any). */
  private static int parseError(ParameterException e, String[] args) {
    CommandLine cli = e.getCommandLine();
    PrintWriter err = cli.getErr();
    err.println(Messages.error(Messages.parseError(e.getMessage())));
    String suggestion = null;
    if (e instanceof UnmatchedArgumentException u && !u.getSuggestions().isEmpty() && !u.getUnmatched().isEmpty()) {
      // picocli ranks by shared letter pairs (--verfy: --verbose first); the fewest edits is what was meant
      String typed = u.getUnmatched().get(0).replaceFirst("=.*", "");
      suggestion = u.getSuggestions().stream().min(Comparator.comparingInt(s -> editDistance(typed, s))).orElseThrow();
    }
    err.println(Messages.usageHint(cli.getCommandSpec().qualifiedName(), suggestion));
    err.flush();
    return ExitCodes.USAGE;
  }

  /** Levenshtein distance: insertions, deletions and substitutions that turn {@code a} into {@code b}. */
  static int editDistance(String a, String b) {
    int[] row = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      row[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      int diagonal = row[0];
      row[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int above = row[j];
        int substitution = diagonal + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        row[j] = Math.min(Math.min(row[j] + 1, row[j - 1] + 1), substitution);
        diagonal = above;
      }
    }
    return row[b.length()];
  }

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(),
        "Missing required subcommand (inspect, convert, prune, score, mask, eval, finetune, sensitivity,"
            + " export-training or demo)");
  }
}
