package dev.onnxprune.criteria;

import dev.onnxprune.internal.HeldData;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Labels;
import java.util.List;

/** The first {@code limit} samples of a dataset in batches, held in memory (criteria run over them many times). */
final class Calibration {
  final List<Batch> batches;
  final int samples;

  private Calibration(List<Batch> batches) {
    this.batches = List.copyOf(batches);
    this.samples = batches.stream().mapToInt(Batch::size).sum();
  }

  /** Reads {@code data} in batches of {@code batchSize}, stopping after {@code limit} samples (0: all). */
  static Calibration of(Dataset data, int batchSize, int limit) {
    List<Batch> out = HeldData.of(data, batchSize, limit).batches();
    if (out.isEmpty()) {
      throw new IllegalArgumentException("the calibration data has no samples");
    }
    return new Calibration(out);
  }

  /** These batches as a backend shards them; a remote worker reads them from {@code data}'s files. */
  dev.onnxprune.exec.ShardedData sharded(Dataset data, DataCriteria.Options options) {
    return dev.onnxprune.exec.ShardedData.held(data, batches, options.batchSize(), options.limit());
  }

  /** Refuses a label outside {@code [0, classes)}, naming its sample ({@link Labels#check}). */
  void checkLabels(long classes, String where) {
    long first = 0;
    for (Batch b : batches) {
      if (b.labels() != null) {
        Labels.check(b.labels(), first, classes, where);
      }
      first += b.size();
    }
  }

  boolean labelled() {
    return batches.stream().allMatch(b -> b.labels() != null);
  }
}
