package dev.onnxprune.cli;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OptionSpelling;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one table from the library's option keys ({@code target.flops}, {@code fineTuning.epochs},
 * ...) to this command line's flags. The library names options by key in its errors and messages;
 * {@link #translate} and {@link #render} put the flags in their place. A key the command line has
 * no flag for stays as the library wrote it.
 */
final class OptionNames {
  private static final Map<String, String> FLAGS = new LinkedHashMap<>();

  static {
    flag("model", "MODEL");
    flag("original", "--original");
    flag("images", "--images");
    flag("labels", "--labels");
    flag("valImages", "--val-images");
    flag("valLabels", "--val-labels");
    flag("checkpointDir", "--checkpoint-dir");
    flag("output", "-o/--output");
    flag("report", "--report");
    flag("target", "--ratio, --flops, --params or --latency");
    flag("target.ratio", "--ratio");
    flag("target.flops", "--flops");
    flag("target.params", "--params");
    flag("target.latency", "--latency");
    flag("criterion", "--criterion");
    flag("method", "--method");
    flag("allocation", "--allocation");
    flag("minChannels", "--min-channels");
    flag("maxGroupRatio", "--max-group-ratio");
    flag("roundTo", "--round");
    flag("keepPartial", "--keep-partial");
    flag("steps", "--steps");
    flag("blocks", "--blocks");
    flag("blockFlops", "--block-flops");
    flag("stepSchedule", "--step-schedule");
    flag("verify", "--verify");
    flag("verifyTolerance", "--verify-tolerance");
    flag("measureLatency", "--measure-latency");
    flag("latencyTimingBatch", "--latency-batch");
    flag("externalData", "--external-data");
    flag("calibration", "--images");
    flag("trainingData", "--images/--labels");
    flag("evaluation", "--val-images/--val-labels");
    flag("calibration.batchSize", "--calib-batch");
    flag("calibration.limit", "--calib-limit");
    flag("oracle.rescore", "--rescore");
    flag("oracle.rescoreStep", "--rescore-step");
    flag("aofp.theta", "--theta");
    flag("aofp.phi", "--phi");
    flag("method.maxSteps", "--method-steps");
    flag("method.maxSeconds", "--method-seconds");
    flag("method.failEarly", "--no-fail-early");
    flag("aofp.patience", "--patience");
    flag("criterion.maxSeconds", "--criterion-seconds");
    flag("method.learningRate", "--method-lr");
    flag("method.batchSize", "--batch");
    flag("adversarial.epsilon", "--epsilon");
    flag("adversarial.tau", "--tau");
    flag("adversarial.iterations", "--adv-iterations");
    flag("prunenet.objective", "--objective");
    flag("prunenet.lambda", "--lambda");
    flag("recovery.bnSamples", "--bn-samples");
    flag("recovery.insertBn", "--insert-bn");
    flag("recovery.refit", "--refit");
    flag("rewindWeights", "--rewind-weights");
    flag("recovery.refitSamples", "--refit-samples");
    flag("recoverBn", "--recalibrate-bn");
    flag("recovery.recalibrateBn", "--recalibrate-bn");
    flag("fineTuning", "--epochs");
    flag("fineTuning.epochs", "--epochs");
    flag("fineTuning.learningRate", "--lr");
    flag("fineTuning.batchSize", "--batch");
    flag("fineTuning.optimizer", "--optimizer");
    flag("fineTuning.momentum", "--momentum");
    flag("fineTuning.weightDecay", "--weight-decay");
    flag("fineTuning.labelSmoothing", "--label-smoothing");
    flag("fineTuning.schedule", "--schedule");
    flag("fineTuning.milestones", "--milestones");
    flag("fineTuning.lrDecay", "--lr-decay");
    flag("fineTuning.originalEpochs", "--original-epochs");
    flag("fineTuning.warmupEpochs", "--warmup-epochs");
    flag("fineTuning.cropPadding", "--crop-padding");
    flag("fineTuning.checkpointDir", "--checkpoint-dir");
    flag("fineTuning.resume", "--resume");
    flag("fineTuning.keepSparsity", "--keep-sparsity");
    flag("fineTuning.distillation", "--distill");
    flag("fineTuning.temperature", "--temperature");
    flag("fineTuning.distillWeight", "--distill-weight");
    flag("teacher", "--teacher");
    flag("normalization.mean", "--mean");
    flag("normalization.std", "--std");
    flag("sessions.threads", "--threads");
    flag("sessions.deviceId", "--device-id");
    flag("backend.master", "--spark-master");
    flag("data.limit", "--limit");
    flag("sensitivity.ratios", "--ratios");
    flag("sensitivity.limit", "--limit");
    flag("sensitivity.workers", "--workers");
    flag("data.size", "--size");
    flag("data.resize", "--resize");
    flag("data.channels", "--channels");
    flag("device", "--device");
    flag("masking.sparsity", "--sparsity");
    flag("masking.nm", "--nm");
  }

  /** The table at work: in errors ({@link #translate}) and in free text ({@link #render}). */
  private static final OptionSpelling SPELLING = new OptionSpelling(FLAGS);

  private OptionNames() {}

  private static void flag(String key, String flag) {
    FLAGS.put(key, flag);
  }

  /** Every key's flag as the table spells it ("--images/--labels", "-o/--output"), for tests. */
  static java.util.Collection<String> flags() {
    return FLAGS.values();
  }

  /** The flag of {@code key}, or the key itself when the command line has none. */
  static String flag(String key) {
    return SPELLING.name(key);
  }

  /** The library's refusal in the command line's words: {@code "--flops must be in (0, 1): 1.5"}. */
  static String translate(InvalidOptionException e) {
    return SPELLING.translate(e);
  }

  /** {@code message} with every option key it names replaced by its flag (see {@link OptionSpelling}). */
  static String render(String message) {
    return SPELLING.render(message);
  }
}
