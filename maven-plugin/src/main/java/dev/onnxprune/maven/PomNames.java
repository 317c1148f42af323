package dev.onnxprune.maven;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.OutputPaths;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one table from the library's option keys ({@code target.flops}, {@code fineTuning.epochs},
 * ...) and the plugin's own keys to POM elements, and the one place that words a configuration
 * error: {@code <flops> must be in (0, 1): 1.5}. The library names options by key in its errors,
 * warnings and phase details; {@link #translate} and {@link #render} put the elements in their
 * place. A key with no element stays as the library wrote it.
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

  /**
   * The keys {@link #render} replaces in free text, longest first, matched whole: those with a dot
   * or an upper-case letter ({@code fineTuning.epochs}, {@code recovery.recalibrateBn}), never
   * plain words such as {@code model} that a sentence uses in their ordinary sense; nor a key that
   * is only the start of a longer one ({@code fineTuning} in {@code fineTuning.momentum}).
   */
  private static final Pattern KEYS = Pattern.compile("(?<![\\w.<-])(" + String.join("|",
      ELEMENTS.keySet().stream().filter(k -> k.contains(".") || !k.equals(k.toLowerCase(Locale.ROOT)))
          .sorted(Comparator.comparingInt(String::length).reversed()).map(Pattern::quote).toList())
      + ")(?![\\w>]|\\.\\w)");

  private PomNames() {}

  private static void element(String key, String element) {
    ELEMENTS.put(key, element);
  }

  /** The element of {@code key} ({@code <flops>}), or the key itself when the POM has none. */
  static String element(String key) {
    return ELEMENTS.getOrDefault(key, key);
  }

  /** The refusal in the POM's words: {@code <flops> must be in (0, 1): 1.5}. */
  static String translate(InvalidOptionException e) {
    if (e instanceof OutputPaths.SameFileException same) {
      return render(same.messageFor(element(same.key()), element(same.otherKey())));
    }
    return render(e.messageFor(element(e.key())));
  }

  /** {@code message} with every option key it names replaced by its element. */
  static String render(String message) {
    if (message == null) {
      return "";
    }
    Matcher m = KEYS.matcher(message);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(ELEMENTS.get(m.group(1))));
    }
    m.appendTail(sb);
    return sb.toString();
  }
}
