package dev.onnxprune.criteria;

import dev.onnxprune.methods.AdversarialPruning;
import dev.onnxprune.methods.AofpTraining;
import dev.onnxprune.methods.MethodSetup;
import dev.onnxprune.methods.PruneNet;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every validated setter of the methods' and criteria's options: the exact message, and the edge values it accepts. */
class OptionsValidationTest {
  private static void refuses(String message, Executable setter) {
    assertEquals(message, assertThrows(InvalidOptionException.class, setter).getMessage());
  }

  @Test
  void aofpTrainingOptionsNameTheOptionAndTheBadValue() {
    AofpTraining.Options o = new AofpTraining.Options();
    assertAll(
        () -> refuses("aofp.theta must be > 0: 0.0", () -> o.theta(0)),
        () -> refuses("aofp.theta must be > 0: NaN", () -> o.theta(Double.NaN)),
        () -> refuses("aofp.phi must be >= 1: 0", () -> o.phi(0)),
        () -> refuses("method.learningRate must be >= 0"
            + " and at most 3.4e38 (a finite float): -1.0", () -> o.learningRate(-1)),
        () -> refuses("method.learningRate must be >= 0"
            + " and at most 3.4e38 (a finite float): Infinity", () -> o.learningRate(Double.POSITIVE_INFINITY)),
        () -> refuses("aofp.momentum must be in [0, 1): 1.0", () -> o.momentum(1)),
        () -> refuses("aofp.momentum must be in [0, 1): -0.5", () -> o.momentum(-0.5)),
        () -> refuses("aofp.weightDecay must be >= 0: NaN", () -> o.weightDecay(Double.NaN)),
        () -> refuses("method.maxSteps must be >= 1: 0", () -> o.maxSteps(0)),
        () -> refuses("aofp.validateEvery must be >= 1: 0", () -> o.validateEvery(0)));
    o.theta(Double.POSITIVE_INFINITY).phi(1).learningRate(0).momentum(0).weightDecay(0).maxSteps(1).validateEvery(1);
    assertEquals(Double.POSITIVE_INFINITY, o.theta(), "theta has no upper bound");
    assertEquals(0, o.momentum());
  }

  @Test
  void dataCriteriaOptionsNameTheOptionAndTheBadValue() {
    DataCriteria.Options o = new DataCriteria.Options();
    assertAll(
        () -> refuses("calibration.batchSize must be >= 1: 0", () -> o.batchSize(0)),
        () -> refuses("calibration.limit must be >= 0: -1", () -> o.limit(-1)),
        () -> refuses("calibration.runSamples must be >= 1: 0", () -> o.runSamples(0)),
        () -> refuses("oracle.rescore must be >= 0: -1", () -> o.rescore(-1, 0.5)),
        () -> refuses("oracle.rescoreStep must be in (0, 1): 1.0", () -> o.rescore(2, 1)),
        () -> refuses("oracle.rescoreStep must be in (0, 1): NaN", () -> o.rescore(2, Double.NaN)),
        () -> refuses("aofp.theta must be > 0: -1.0", () -> o.theta(-1)),
        () -> refuses("aofp.phi must be >= 1: 0", () -> o.phi(0)),
        () -> refuses("aofp.maxSteps must be >= 1: 0", () -> o.maxSteps(0)),
        () -> refuses("criterion.maxSeconds must be > 0 (or none): 0.0", () -> o.timeBudget(java.time.Duration.ZERO)));
    assertEquals(3, o.rescoreRounds(), "a refused rescore sets neither value (the default: 3 rounds of 0.1)");
    assertEquals(0.1, o.rescoreStep());
    o.batchSize(1).limit(0).runSamples(1).rescore(0, 0.5).theta(Double.POSITIVE_INFINITY).phi(1).maxSteps(1);
    assertEquals(0.5, o.rescoreStep());
  }

  @Test
  void adversarialPruningOptionsNameTheOptionAndTheBadValue() {
    AdversarialPruning.Options o = new AdversarialPruning.Options();
    assertAll(
        () -> refuses("adversarial.epsilon must be in (0, 1): 0.0", () -> o.epsilon(0)),
        () -> refuses("adversarial.tau must be in [0, 1]: 1.5", () -> o.tau(1.5)),
        () -> refuses("adversarial.tau must be in [0, 1]: NaN", () -> o.tau(Double.NaN)),
        () -> refuses("adversarial.iterations must be >= 0: -1", () -> o.iterations(-1)),
        () -> refuses("adversarial.etaAdv must be > 0: Infinity", () -> o.etaAdv(Double.POSITIVE_INFINITY)),
        () -> refuses("adversarial.pgdSteps must be >= 1: 0", () -> o.pgdSteps(0)),
        () -> refuses("adversarial.etaReg must be > 0 and at most 3.4e38 (a finite float): 0.0", () -> o.etaReg(0)),
        () -> refuses("adversarial.decayInterval must be >= 1: 0", () -> o.decayInterval(0)),
        () -> refuses("adversarial.iterationBatches must be >= 1: 0", () -> o.iterationBatches(0)),
        () -> refuses("method.maxSteps must be >= 1: 0", () -> o.maxSteps(0)),
        () -> refuses("adversarial.tolerance must be in [0, 1]: -0.1", () -> o.tolerance(-0.1)),
        () -> refuses("adversarial.weightDecay must be >= 0: -1.0", () -> o.weightDecay(-1)),
        () -> refuses("adversarial.minChannels must be >= 1: 0", () -> o.minChannels(0)));
    o.tau(0).tau(1).iterations(0).pgdSteps(1).decayInterval(1).iterationBatches(1).maxSteps(1).tolerance(1)
        .weightDecay(0).minChannels(1);
    assertEquals(1, o.tau());
  }

  @Test
  void pruneNetOptionsNameTheOptionAndTheBadValue() {
    PruneNet.Options o = new PruneNet.Options();
    assertAll(
        () -> refuses("prunenet.lambda must be >= 0: Infinity", () -> o.lambda(Double.POSITIVE_INFINITY)),
        () -> refuses("prunenet.regularisedLearningRate must be > 0"
            + " and at most 3.4e38 (a finite float): 0.0", () -> o.regularisedLr(0)),
        () -> refuses("method.learningRate must be > 0"
            + " and at most 3.4e38 (a finite float): NaN", () -> o.recoveryLr(Double.NaN)),
        () -> refuses("prunenet.stepFraction must be in (0, 1): 0.0", () -> o.stepFraction(0)),
        () -> refuses("prunenet.regularisedSteps must be >= 0: -1", () -> o.regularisedSteps(-1)),
        () -> refuses("prunenet.recoverySteps must be >= 0: -1", () -> o.recoverySteps(-1)),
        () -> refuses("method.maxSteps must be >= 0: -1", () -> o.maxSteps(-1)));
    o.lambda(0).regularisedSteps(0).recoverySteps(0).maxSteps(0);
    assertEquals(0, o.maxSteps());
  }

  @Test
  void methodSetupNamesTheOptionAndTheBadValue() {
    MethodSetup s = new MethodSetup(new ArrayDataset(new float[2], new long[] {2}, new long[1]), null,
        new Sessions(Device.CPU, 0, 1));
    assertAll(
        () -> refuses("method.batchSize must be >= 2: 1", () -> s.batchSize(1)),
        () -> refuses("method.validationLimit must be >= 1: 0", () -> s.validationLimit(0)));
    assertEquals(2, s.batchSize(2).batchSize());
  }
}
