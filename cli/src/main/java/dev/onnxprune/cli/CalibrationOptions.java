package dev.onnxprune.cli;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Calibration data and settings of the data-driven criteria (apoz, mean, oracle, aofp, taylor), shared
 * by {@code score} and {@code prune}. Images and labels are IDX files (MNIST format, gzipped or
 * not) for now.
 */
final class CalibrationOptions {
  @Option(names = "--images", paramLabel = "FILE",
      description = "Calibration images (IDX, e.g. train-images-idx3-ubyte[.gz]); needed by apoz, mean, oracle, aofp,"
          + " taylor.")
  Path images;

  @Option(names = "--labels", paramLabel = "FILE",
      description = "Their labels (IDX). Oracle and taylor use them for the loss; without them they use the"
          + " model's own predictions.")
  Path labels;

  @Option(names = "--mean", paramLabel = "M", split = ",", defaultValue = "0",
      description = "Per-channel mean subtracted after scaling pixels to [0, 1] (one value or one per channel;"
          + " default ${DEFAULT-VALUE}).")
  float[] mean;

  @Option(names = "--std", paramLabel = "S", split = ",", defaultValue = "1",
      description = "Per-channel standard deviation divided by (default ${DEFAULT-VALUE}).")
  float[] std;

  @Option(names = "--calib-limit", paramLabel = "N", defaultValue = "0",
      description = "Use only the first N calibration images (default ${DEFAULT-VALUE}: all). Oracle costs about"
          + " one forward pass over them per channel.")
  int limit;

  @Option(names = "--calib-batch", paramLabel = "N", defaultValue = "64",
      description = "Calibration batch size (default ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--rescore", paramLabel = "R", defaultValue = "0",
      description = "oracle: re-score R times, each time after removing the lowest --rescore-step of every"
          + " group's channels (default ${DEFAULT-VALUE}: score once). Each round costs about one more scoring.")
  int rescore;

  @Option(names = "--rescore-step", paramLabel = "S", defaultValue = "0.1",
      description = "oracle: fraction of each group's channels removed per re-scoring round (default"
          + " ${DEFAULT-VALUE}).")
  double rescoreStep;

  @Option(names = "--theta", paramLabel = "T",
      description = "aofp: refinement threshold, the largest isolated damage (relative squared change of the next"
          + " layer's output) one move may do (default 0.05 for --criterion aofp, 0.01 for --method aofp).")
  Double theta;

  @Option(names = "--phi", paramLabel = "N",
      description = "aofp: search cost, damage samples per binary-search step of each layer (default 256 for"
          + " --criterion aofp); for --method aofp, training batches per binary-search step.")
  Integer phi;

  @Option(names = "--aofp-exhaustive",
      description = "aofp: score every channel by its own isolated damage (eq. 6, one channel ablated at a time)"
          + " instead of the binary filter search.")
  boolean aofpExhaustive;

  @Option(names = "--aofp-plan",
      description = "aofp (prune only): let the search choose the channels and the per-layer widths, stopping"
          + " when the target is met, instead of ranking channels for the allocator.")
  boolean aofpPlan;

  /** The options for the data-driven criteria; a bad value names its option. */
  DataCriteria.Options options(long seed) throws UsageFailure {
    return UsageFailure.check(null, () -> new DataCriteria.Options().batchSize(batch).limit(limit).seed(seed)
        .rescore(rescore, rescoreStep).theta(theta == null ? 0.05 : theta).phi(phi == null ? 256 : phi).ownPlan(aofpPlan)
        .binarySearch(!aofpExhaustive));
  }

  /**
   * Reads the calibration data.
   *
   * @throws UsageFailure when no --images is given
   */
  ArrayDataset read(String criterion) throws UsageFailure, IOException {
    if (images == null) {
      throw new UsageFailure("--criterion " + criterion + " needs calibration data: --images FILE [--labels FILE]"
          + " [--mean M --std S]");
    }
    Normalization norm = UsageFailure.check("--std", () -> new Normalization(mean, std));
    return IdxDataset.read(images, labels, norm, limit);
  }
}
