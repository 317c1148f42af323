package dev.onnxprune.maven;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OptionSpelling;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one table from the library's option keys ({@code target.flops}, {@code fineTuning.epochs},
 * ...) and the plugin's own keys to POM elements, and the one place that words a configuration
 * error: {@code <flops> must be in (0, 1): 1.5}. The library names options by key in its errors,
 * warnings and phase details; {@link #translate} and {@link #render} put the elements in their
 * place ({@link OptionSpelling}, which the command line's table uses too). A key with no element
 * stays as the library wrote it.
 */
final class PomNames {
  private static final Map<String, String> ELEMENTS = new LinkedHashMap<>();

  static {
    // the library's keys
    element("model", "<model>");
    element("output", "<output>");
    element("report", "<report>");
    element("criterion", "<criterion>");
    element("method", "<method>");
    element("target", "one of <flops>, <params>, <ratio> or <latency>");
    element("target.flops", "<flops>");
    element("target.params", "<params>");
    element("target.ratio", "<ratio>");
    element("target.latency", "<latency>");
    element("allocation", "<allocation>");
    element("global", "<global>");
    element("minChannels", "<minChannels>");
    element("maxGroupRatio", "<maxGroupRatio>");
    element("roundTo", "<roundTo>");
    element("verify", "<verify>");
    element("calibration", "<calibrationImages> (or <trainingImages>)");
    element("trainingData", "<trainingImages>");
    element("evaluation", "<evaluationImages>");
    element("normalization.mean", "<mean>");
    element("normalization.std", "<std>");
    element("recovery.recalibrateBn", "<recalibrateBn>");
    element("recovery.bnSamples", "<bnSamples>");
    element("recovery.refit", "<refit>");
    element("recovery.refitSamples", "<refitSamples>");
    element("fineTuning", "<fineTuningEpochs>");
    element("fineTuning.epochs", "<fineTuningEpochs>");
    element("fineTuning.learningRate", "<learningRate>");
    element("fineTuning.batchSize", "<batchSize>");
    element("method.batchSize", "<batchSize>");
    element("sessions.threads", "<threads>");
    // the plugin's own keys (checks the library cannot make: files, text it parses, the accuracy gate)
    element("models", "<models>");
    element("device", "<device>");
    element("mean", "<mean>");
    element("std", "<std>");
    element("trainingImages", "<trainingImages>");
    element("trainingLabels", "<trainingLabels>");
    element("calibrationImages", "<calibrationImages>");
    element("calibrationLabels", "<calibrationLabels>");
    element("evaluationImages", "<evaluationImages>");
    element("evaluationLabels", "<evaluationLabels>");
    element("maxAccuracyDrop", "<maxAccuracyDrop>");
  }

  /** The table at work: in errors ({@link #translate}) and in free text ({@link #render}). */
  private static final OptionSpelling SPELLING = new OptionSpelling(ELEMENTS);

  private PomNames() {}

  private static void element(String key, String element) {
    ELEMENTS.put(key, element);
  }

  /** The refusal in the POM's words: {@code <flops> must be in (0, 1): 1.5}. */
  static String translate(InvalidOptionException e) {
    return SPELLING.translate(e);
  }

  /** {@code message} with every option key it names replaced by its element; null becomes empty. */
  static String render(String message) {
    return message == null ? "" : SPELLING.render(message);
  }
}
