package dev.onnxprune.bench;

import dev.onnxprune.methods.AdversarialPruning;
import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.PruneNet;
import dev.onnxprune.prune.Target;
import java.util.Map;

/**
 * The training-time methods of {@link MethodsBench}: each with its defaults (the paper's settings
 * where the paper gives them; see each Options class) and the same cap on optimizer steps.
 */
final class MethodsBenchMethods {
  private MethodsBenchMethods() {}

  static void add(Map<String, MethodsBench.Method> methods, MethodSetup setup, Target target, int maxSteps,
      String[] args) {
    double theta = Double.parseDouble(TrainThroughputBench.stringArg(args, "--theta", "0.01"));
    int phi = TrainThroughputBench.intArg(args, "--phi", 20);
    methods.put("aofp", m -> MethodsBench.prune(m,
        AofpTraining.create(setup, new AofpTraining.Options().theta(theta).phi(phi).maxSteps(maxSteps)), target));
    methods.put("adversarial", m -> MethodsBench.prune(m,
        AdversarialPruning.create(setup, new AdversarialPruning.Options().maxSteps(maxSteps)), target));
    methods.put("prunenet", m -> MethodsBench.prune(m,
        PruneNet.create(setup, new PruneNet.Options().maxSteps(maxSteps)), target));
  }
}
