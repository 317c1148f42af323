package dev.onnxprune.exec;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.training.BnRecalibration;

/**
 * Passes over data that a backend shards: evaluation ({@link Evaluator}'s counts and loss) and
 * BatchNorm statistics ({@link BnRecalibration}'s sums). Each shard runs the same code as the
 * in-process pass; the shards' counts and sums add up in shard order.
 */
public final class Passes {
  private Passes() {}

  /**
   * Top-1, top-5 and mean cross-entropy of {@code model}'s first output over every sample of
   * {@code data} ({@link Evaluator}), {@code batchSize} at a time, on {@code backend}.
   */
  public static Evaluation evaluate(ExecutionBackend backend, Sessions sessions, Model model, Dataset data,
      int batchSize) {
    long t0 = System.nanoTime();
    Evaluator.Tally t = backend.sum("evaluation", new EvaluationJob(), JobModels.of("model", model),
        ShardedData.of(data, batchSize, 0, 0), sessions);
    return t.evaluation((System.nanoTime() - t0) / 1e9);
  }

  /**
   * {@link BnRecalibration#run} on {@code backend}: the running statistics of every
   * BatchNormalization of {@code model} re-estimated as the mean of the per-batch statistics over
   * {@code data} in batches of {@code batchSize}, at most {@code maxBatches} of them (0: all).
   */
  public static BnRecalibration.Result recalibrateBn(ExecutionBackend backend, Sessions sessions, Model model,
      Dataset data, int batchSize, int maxBatches) throws OrtException {
    if (backend.isInProcess()) {
      return BnRecalibration.run(model, data, batchSize, maxBatches, sessions);
    }
    if (batchSize < 2) {
      throw new IllegalArgumentException("batch statistics need batches of at least 2 samples: " + batchSize);
    }
    if (maxBatches < 0) {
      throw new IllegalArgumentException("the number of batches must be >= 0 (0: all): " + maxBatches);
    }
    long t0 = System.nanoTime();
    Model stats = BnRecalibration.statisticsModel(model);
    if (stats == null) {
      return new BnRecalibration.Result(model.copy(), 0, 0, 0, (System.nanoTime() - t0) / 1e9);
    }
    BnRecalibration.Sums sums = backend.sum("BatchNorm statistics", new BnJob(new BnRecalibration.Sums(model)),
        JobModels.of("stats", stats), ShardedData.of(data, batchSize, 0, maxBatches), sessions);
    return BnRecalibration.finish(model, sums, t0, data.size());
  }

  /** Per shard: the evaluation counts and summed loss. */
  private static final class EvaluationJob implements DataJob<Evaluator.Tally> {
    private static final long serialVersionUID = 1L;

    @Override
    public Evaluator.Tally run(Shard shard) throws OrtException {
      Evaluator.Tally t = new Evaluator.Tally();
      try (Runner runner = Runner.open(shard.sessions(), shard.model("model"))) {
        Evaluator e = new Evaluator(runner);
        long first = shard.firstSample();
        for (Batch b : shard.batches()) {
          e.add(t, b, first + t.samples());
          shard.progress((double) t.samples() / shard.totalSamples(), t.samples() + " samples");
        }
      }
      return t;
    }

    @Override
    public Evaluator.Tally merge(Evaluator.Tally earlier, Evaluator.Tally later) {
      earlier.add(later);
      return earlier;
    }
  }

  /** Per shard: the sums of the per-batch BatchNorm statistics. */
  private static final class BnJob implements DataJob<BnRecalibration.Sums> {
    private static final long serialVersionUID = 1L;
    private final BnRecalibration.Sums empty;

    BnJob(BnRecalibration.Sums empty) {
      this.empty = empty;
    }

    @Override
    public BnRecalibration.Sums run(Shard shard) throws OrtException {
      BnRecalibration.Sums sums = empty.copy();
      try (OrtSession s = shard.open("stats")) {
        for (Batch b : shard.batches()) {
          sums.add(s, b);
        }
      }
      return sums;
    }

    @Override
    public BnRecalibration.Sums merge(BnRecalibration.Sums earlier, BnRecalibration.Sums later) {
      earlier.add(later);
      return earlier;
    }
  }
}
