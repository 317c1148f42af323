package dev.onnxprune.cli;

import dev.onnxprune.methods.MethodParameters;
import picocli.CommandLine.Option;

/**
 * {@code prune --method NAME}: the training-time pruning methods, which train the network on
 * --images/--labels while they choose what to remove, and their settings, adapted to the library's
 * {@link MethodParameters} (which refuses the settings of another method; every default is the
 * method's own).
 */
final class MethodOptions {
  @Option(names = "--method", paramLabel = "NAME",
      description = "Prune with a training-time method instead of a --criterion: aofp (AOFP multi-path"
          + " training-time pruning: damage isolation and binary filter search while fine-tuning), adversarial"
          + " (PGD on channel masks, layer by layer, alternating with Adam training), prunenet (cost-weighted L1"
          + " on BatchNorm gammas with proximal steps, step-wise pruning and recovery). Trains on --images/--labels;"
          + " --val-images gives the accuracy in the report's trajectory.")
  String method;

  @Option(names = "--method-steps", paramLabel = "N",
      description = "--method: the most optimizer steps the method may take (its budget; it stops there even if"
          + " the target is not met, and the command fails).")
  Long steps;

  @Option(names = "--method-seconds", paramLabel = "S",
      description = "--method: a time budget in seconds besides --method-steps (default none); the method stops"
          + " when either is spent. Progress shows the time left.")
  Double seconds;

  @Option(names = "--no-fail-early", negatable = false,
      description = "--method aofp, adversarial: train on to the budget even when the pace of the recent steps"
          + " projects that the target will not be met within it (by default the method ends there with the"
          + " reason, like at its budget).")
  boolean noFailEarly;

  @Option(names = "--patience", paramLabel = "K",
      description = "aofp: end as stalled once every layer's last K moves pruned nothing (default 3; 0: never).")
  Integer patience;

  @Option(names = "--method-lr", paramLabel = "LR",
      description = "--method: learning rate of the method's training (aofp: base path SGD; adversarial: Adam of"
          + " the regular phase, eta_reg; prunenet: the recovery phase).")
  Double lr;

  @Option(names = "--epsilon", paramLabel = "E",
      description = "adversarial: the box of the mask projection (eq. 4), masks stay in [1-E, 1+E] (default 0.1).")
  Double epsilon;

  @Option(names = "--tau", paramLabel = "T",
      description = "adversarial: clipping threshold of case 1 (eq. 5): keep channels with |m| >= 1 + tau*E"
          + " (default 0.9).")
  Double tau;

  @Option(names = {"--adv-iterations", "--T"}, paramLabel = "N",
      description = "adversarial: iterations of regular training to recover before the layer's mask is reversed"
          + " (T in the paper; default 10).")
  Integer iterations;

  @Option(names = "--objective", paramLabel = "NAME",
      description = "prunenet: the cost each channel's L1 weight is: flops, params or latency (measured on"
          + " --device) (default flops).")
  String objective;

  @Option(names = "--lambda", paramLabel = "L",
      description = "prunenet: strength of the cost-weighted L1 on BatchNorm gammas.")
  Double lambda;

  /** The settings given, for the method or (theta, phi) the AOFP criterion. */
  MethodParameters parameters(Double theta, Integer phi) {
    return new MethodParameters().theta(theta).phi(phi).learningRate(lr).maxSteps(steps).epsilon(epsilon).tau(tau)
        .iterations(iterations).objective(objective).lambda(lambda).patience(patience)
        .timeBudget(duration(seconds)).failEarly(noFailEarly ? Boolean.FALSE : null);
  }

  /** {@code seconds} as a duration (null stays null; the library checks the value and names its key). */
  static java.time.Duration duration(Double seconds) {
    return seconds == null ? null : java.time.Duration.ofNanos(Math.round(Math.min(seconds, 9e9) * 1e9));
  }
}
