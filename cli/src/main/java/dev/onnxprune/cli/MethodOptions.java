package dev.onnxprune.cli;

import dev.onnxprune.methods.AdversarialPruning;
import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.PruneNet;
import dev.onnxprune.methods.TrainingMethod;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * {@code prune --method NAME}: the training-time pruning methods, which train the network on
 * --images/--labels while they choose what to remove. Their hyper-parameters; every default is
 * the method's own (see each class's Options).
 */
final class MethodOptions {
  static final List<String> NAMES = List.of("aofp", "adversarial", "prunenet");

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

  @Option(names = "--T", paramLabel = "N",
      description = "adversarial: iterations of regular training to recover before the layer's mask is reversed"
          + " (default 10).")
  Integer iterations;

  @Option(names = "--objective", paramLabel = "NAME",
      description = "prunenet: the cost each channel's L1 weight is: flops, params or latency (measured on"
          + " --device) (default flops).")
  String objective;

  @Option(names = "--lambda", paramLabel = "L",
      description = "prunenet: strength of the cost-weighted L1 on BatchNorm gammas.")
  Double lambda;

  /** Checks the combination of --method and --criterion. */
  void check(String criterion) throws UsageFailure {
    if (method == null && criterion == null) {
      throw new UsageFailure("give --criterion NAME or --method NAME");
    }
    if (method != null && criterion != null) {
      throw new UsageFailure("--criterion and --method exclude each other: a method chooses the channels itself");
    }
    if (method != null && !NAMES.contains(method)) {
      throw new UsageFailure("--method must be one of " + String.join(", ", NAMES) + ": '" + method + "'");
    }
    if (method == null) {
      String stray = epsilon != null ? "--epsilon" : tau != null ? "--tau" : iterations != null ? "--T"
          : objective != null ? "--objective" : lambda != null ? "--lambda" : steps != null ? "--method-steps"
          : lr != null ? "--method-lr" : null;
      if (stray != null) {
        throw new UsageFailure(stray + " applies to --method only");
      }
    }
  }

  /** The method, configured; {@code theta}/{@code phi} are the command's (null: the method's defaults). */
  TrainingMethod create(MethodSetup setup, Double theta, Integer phi) throws UsageFailure {
    switch (method) {
      case "aofp": {
        AofpTraining.Options o = new AofpTraining.Options();
        UsageFailure.check("--theta", () -> theta == null ? o : o.theta(theta));
        UsageFailure.check("--phi", () -> phi == null ? o : o.phi(phi));
        UsageFailure.check("--method-lr", () -> lr == null ? o : o.learningRate(lr));
        UsageFailure.check("--method-steps", () -> steps == null ? o : o.maxSteps(Math.toIntExact(steps)));
        only("aofp", epsilon, "--epsilon", tau, "--tau", iterations, "--T", objective, "--objective", lambda, "--lambda");
        return AofpTraining.create(setup, o);
      }
      case "adversarial": {
        AdversarialPruning.Options o = new AdversarialPruning.Options();
        UsageFailure.check("--epsilon", () -> epsilon == null ? o : o.epsilon(epsilon));
        UsageFailure.check("--tau", () -> tau == null ? o : o.tau(tau));
        UsageFailure.check("--T", () -> iterations == null ? o : o.iterations(iterations));
        UsageFailure.check("--method-lr", () -> lr == null ? o : o.etaReg(lr));
        UsageFailure.check("--method-steps", () -> steps == null ? o : o.maxSteps(steps));
        only("adversarial", theta, "--theta", phi, "--phi", objective, "--objective", lambda, "--lambda", null, null);
        return AdversarialPruning.create(setup, o);
      }
      default: {
        PruneNet.Options o = new PruneNet.Options();
        if (objective != null) {
          PruneNet.Objective obj = UsageFailure.check("--objective", () -> PruneNet.Objective.byName(objective));
          o.objective(obj);
        }
        UsageFailure.check("--lambda", () -> lambda == null ? o : o.lambda(lambda));
        UsageFailure.check("--method-lr", () -> lr == null ? o : o.recoveryLr(lr));
        UsageFailure.check("--method-steps", () -> steps == null ? o : o.maxSteps(steps));
        only("prunenet", theta, "--theta", phi, "--phi", epsilon, "--epsilon", tau, "--tau", iterations, "--T");
        return PruneNet.create(setup, o);
      }
    }
  }

  /** Refuses options of other methods: pairs of (value, option name). */
  private static void only(String method, Object... pairs) throws UsageFailure {
    for (int i = 0; i < pairs.length; i += 2) {
      if (pairs[i] != null) {
        throw new UsageFailure(pairs[i + 1] + " does not apply to --method " + method);
      }
    }
  }
}
