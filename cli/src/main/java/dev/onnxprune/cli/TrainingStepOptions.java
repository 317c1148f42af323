package dev.onnxprune.cli;

import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.training.Optimizer;
import picocli.CommandLine.Option;

/**
 * The optimizer and loss of the training step, shared by {@code export-training} and (through
 * {@link RecoveryOptions}) {@code finetune} and {@code prune}: {@code --optimizer},
 * {@code --momentum}, {@code --weight-decay}, {@code --label-smoothing}; the library
 * ({@link FineTuning.Builder#optimizer(String, double, double)}) checks and builds them.
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
    return UsageFailure.check(null, () -> FineTuning.builder().optimizer(optimizer, momentum, weightDecay).build()
        .optimizer());
  }

  /** --label-smoothing, checked. */
  double labelSmoothing() throws UsageFailure {
    UsageFailure.check(null, () -> FineTuning.builder().labelSmoothing(labelSmoothing));
    return labelSmoothing;
  }
}
