package dev.onnxprune.cli;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.runtime.Dataset;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Settings of the data-driven criteria (apoz, mean, oracle, aofp, taylor, thinet), shared by {@code score}
 * and {@code prune}; their data is {@link DataOptions}' {@code --images}/{@code --labels}. An option
 * section (an initialised {@code @ArgGroup(validate = false)}), so defaults are field initialisers:
 * picocli applies a group's {@code defaultValue}s only to the instances it creates itself. Its
 * options come after a section's own first ones ({@code order} 10 on).
 */
final class CalibrationOptions {
  @Option(names = "--calib-limit", order = 10, paramLabel = "N",
      description = "Score on the first N samples of --images only (default ${DEFAULT-VALUE}: all; it limits the"
          + " calibration, not the training data). Oracle costs about one forward pass over them per channel.")
  int limit = 0;

  @Option(names = "--calib-batch", order = 11, paramLabel = "N",
      description = "Calibration batch size (default ${DEFAULT-VALUE}).")
  int batch = 64;

  @Option(names = "--rescore", order = 12, paramLabel = "R",
      description = "oracle: re-score R times, each time after removing the lowest --rescore-step of every"
          + " group's channels (default 3; 0: score once, about 3.4x faster and less accurate). Each round costs"
          + " about one more scoring; the estimated cost is printed before scoring starts.")
  Integer rescore;

  @Option(names = "--criterion-seconds", order = 18, paramLabel = "S",
      description = "oracle, aofp: a time budget in seconds for the scoring (default none): oracle makes no"
          + " further re-scoring round once it is spent, aofp's search ends there.")
  Double seconds;

  @Option(names = "--rescore-step", order = 13, paramLabel = "S",
      description = "oracle: fraction of each group's channels removed per re-scoring round (default"
          + " ${DEFAULT-VALUE}).")
  double rescoreStep = 0.1;

  @Option(names = "--theta", order = 14, paramLabel = "T",
      description = "aofp: refinement threshold, the largest isolated damage (relative squared change of the next"
          + " layer's output) one move may do (default 0.05; the paper's CIFAR setting is 0.01).")
  Double theta;

  @Option(names = "--phi", order = 15, paramLabel = "N",
      description = "aofp: search cost, damage samples per binary-search step of each layer (default 256 for"
          + " --criterion aofp); for --method aofp, training batches per binary-search step (default 10).")
  Integer phi;

  @Option(names = "--aofp-exhaustive", order = 16,
      description = "aofp: score every channel by its own isolated damage (eq. 6, one channel ablated at a time)"
          + " instead of the binary filter search.")
  boolean aofpExhaustive;

  @Option(names = "--aofp-plan", order = 17,
      description = "aofp (prune only): let the search choose the channels and the per-layer widths, stopping"
          + " when the target is met, instead of ranking channels for the allocator.")
  boolean aofpPlan;

  /** The options for the data-driven criteria; a bad value names its option. */
  DataCriteria.Options options(long seed) throws UsageFailure {
    return UsageFailure.check(null, () -> new DataCriteria.Options().batchSize(batch).limit(limit).seed(seed)
        .rescore(rescore == null ? new DataCriteria.Options().rescoreRounds() : rescore, rescoreStep)
        .timeBudget(MethodOptions.duration(seconds)).theta(theta == null ? 0.05 : theta).phi(phi == null ? 256 : phi).ownPlan(aofpPlan)
        .binarySearch(!aofpExhaustive));
  }

  /** The calibration data: the first --calib-limit samples of --images in file order. */
  Dataset read(DataOptions data, String why) throws UsageFailure, IOException {
    return data.open(why, null, limit);
  }
}
