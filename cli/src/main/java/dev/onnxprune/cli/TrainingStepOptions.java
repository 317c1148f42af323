package dev.onnxprune.cli;

import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingOptions;
import picocli.CommandLine.Option;

/**
 * The optimizer and loss of the training step, shared by {@code export-training} and (through
 * {@link RecoveryOptions}) {@code finetune} and {@code prune}: {@code --optimizer},
 * {@code --momentum}, {@code --weight-decay}, {@code --label-smoothing}. Adapts them to
 * {@link TrainingOptions.Builder}; a bad value is a {@link UsageFailure} naming its option.
 */
final class TrainingStepOptions {
  @Option(names = "--optimizer", paramLabel = "NAME", defaultValue = "sgd",
      description = "sgd, nesterov, adam or adamw (default: ${DEFAULT-VALUE}).")
  String optimizer;

  @Option(names = "--momentum", paramLabel = "M", defaultValue = "0.9",
      description = "SGD momentum (default: ${DEFAULT-VALUE}).")
  double momentum;

  @Option(names = "--weight-decay", paramLabel = "WD", defaultValue = "5e-4",
      description = "Weight decay (L2 for sgd/adam, decoupled for adamw; default: ${DEFAULT-VALUE}).")
  double weightDecay;

  @Option(names = "--label-smoothing", paramLabel = "EPS", defaultValue = "0",
      description = "Label smoothing of the cross-entropy, in [0, 1) (default: ${DEFAULT-VALUE}).")
  double labelSmoothing;

  /** The optimizer of --optimizer, --momentum and --weight-decay. */
  Optimizer optimizer() throws UsageFailure {
    return UsageFailure.check("--optimizer", () -> switch (optimizer) {
      case "sgd" -> new Optimizer.Sgd(momentum, 0, false, weightDecay);
      case "nesterov" -> new Optimizer.Sgd(momentum, 0, true, weightDecay);
      case "adam" -> Optimizer.adam(weightDecay);
      case "adamw" -> Optimizer.adamW(weightDecay);
      default -> throw new IllegalArgumentException("must be sgd, nesterov, adam or adamw: '" + optimizer + "'");
    });
  }

  /**
   * Sets --label-smoothing on {@code b}. Separate from {@link #optimizer()} so that a command
   * checks its own options in between, in the order it always has.
   */
  void applyLabelSmoothing(TrainingOptions.Builder b) throws UsageFailure {
    UsageFailure.check("--label-smoothing", () -> b.labelSmoothing(labelSmoothing));
  }
}
