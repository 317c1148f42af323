package dev.onnxprune.bench;

import dev.onnxprune.methods.AdversarialPruning;
import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.PruneNet;
import dev.onnxprune.prune.Target;
import java.util.Map;

/**
 * The training-time methods of {@link MethodsBench}: each with the library's defaults (see each
 * Options class), AOFP's theta and phi and the step budget as given on the command line.
 */
final class MethodsBenchMethods {
  private MethodsBenchMethods() {}

  static void add(Map<String, MethodsBench.Method> methods, MethodSetup setup, Target target, int maxSteps,
      String[] args) {
    String theta = TrainThroughputBench.stringArg(args, "--theta", null);
    String phi = TrainThroughputBench.stringArg(args, "--phi", null);
    AofpTraining.Options aofp = new AofpTraining.Options();
    AdversarialPruning.Options adversarial = new AdversarialPruning.Options();
    PruneNet.Options prunenet = new PruneNet.Options();
    if (theta != null) {
      aofp.theta(Double.parseDouble(theta));
    }
    if (phi != null) {
      aofp.phi(Integer.parseInt(phi));
    }
    if (maxSteps > 0) { // 0: each method's own budget
      aofp.maxSteps(maxSteps);
      adversarial.maxSteps(maxSteps);
      prunenet.maxSteps(maxSteps);
    }
    methods.put("aofp", m -> MethodsBench.prune(m, AofpTraining.create(setup, aofp), target));
    methods.put("adversarial", m -> MethodsBench.prune(m, AdversarialPruning.create(setup, adversarial), target));
    methods.put("prunenet", m -> MethodsBench.prune(m, PruneNet.create(setup, prunenet), target));
  }
}
