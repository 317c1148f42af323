package dev.onnxprune.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code onnx-prune} command: subcommands {@code inspect}, {@code convert}, {@code prune},
 * {@code score}, {@code mask}, {@code eval}, {@code finetune}, {@code sensitivity}, {@code export-training} and
 * {@code demo}.
 *
 * <p>Exit codes: {@value ExitCodes#OK} on success, {@value ExitCodes#ERROR} when the work failed
 * (one line {@code onnx-prune: error: <reason>} on stderr), {@value ExitCodes#USAGE} for a
 * usage error (picocli's message and the usage help on stderr, or one line naming the option
 * for a bad value). Embed it as
 * {@code new CommandLine(new Main()).execute(args)}.
 */
@Command(name = "onnx-prune",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Prunes trained ONNX models. Start with `onnx-prune demo`.",
    subcommands = {InspectCommand.class, ConvertCommand.class, PruneCommand.class, ScoreCommand.class, MaskCommand.class,
        EvalCommand.class, FinetuneCommand.class, SensitivityCommand.class, ExportTrainingCommand.class, DemoCommand.class,
        CommandLine.HelpCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class Main implements Runnable {
  @Spec
  CommandSpec spec;

  /** Runs the CLI and exits the JVM with its exit code. */
  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new Main());
    int code = cli.execute(args);
    cli.getOut().flush();
    cli.getErr().flush();
    System.exit(code);
  }

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(),
        "Missing required subcommand (inspect, convert, prune, score, mask, eval, finetune, sensitivity,"
            + " export-training or demo)");
  }
}
