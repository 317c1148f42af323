package dev.onnxprune.cli;

import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.training.Optimizer;
import picocli.CommandLine.Option;

/**
 * The optimizer and loss of the training step, shared by {@code export-training} and (through
 * {@link RecoveryOptions}) {@code finetune} and {@code prune}: {@code --optimizer},
 * {@code --momentum}, {@code --weight-decay}, {@code --label-smoothing}; the library
 * ({@link FineTuning.Builder#optimizer(String, double, double)}) checks and builds them. An option
 * section, defaults as field initialisers; {@code order} places it after {@code --batch} in
 * {@link RecoveryOptions}.
 */
final class TrainingStepOptions {
  @Option(names = "--optimizer", order = 15, paramLabel = "NAME",
      description = "sgd, nesterov, adam or adamw (default: ${DEFAULT-VALUE}).")
  String optimizer = "sgd";

  @Option(names = "--momentum", order = 16, paramLabel = "M",
      description = "SGD momentum (default: ${DEFAULT-VALUE}).")
  double momentum = 0.9;

  @Option(names = "--weight-decay", order = 17, paramLabel = "WD",
      description = "Weight decay (L2 for sgd/adam, decoupled for adamw; default: 5e-4).")
  double weightDecay = 5e-4;

  @Option(names = "--label-smoothing", order = 18, paramLabel = "EPS",
      description = "Label smoothing of the cross-entropy, in [0, 1) (default: ${DEFAULT-VALUE}).")
  double labelSmoothing = 0;

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
