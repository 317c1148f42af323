package dev.onnxprune.prune;

import dev.onnxprune.methods.TrainingMethod;
import dev.onnxprune.methods.TrajectoryPoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What a prune did, per group and in total; written as JSON by {@link #toJson()}.
 *
 * @param criterion criterion name
 * @param target the target asked for
 * @param allocation "uniform", "global" or "sensitivity"; a criterion or method that chooses its own
 *     removals: its name
 * @param groups one entry per channel group (prunable or not)
 * @param before costs before
 * @param after costs after (measured on the pruned model by the cost model)
 * @param achieved the fraction of the target's measure actually removed
 * @param verify the equivalence check, or null when not run
 * @param trajectory for a {@link TrainingMethod}, its steps from start to end (FLOPs, widths per
 *     group, loss, accuracy); null for a criterion that does not train
 * @param shortOfTarget null when the target was met; otherwise why the criterion stopped before it,
 *     the prune having kept what it reached ({@link Pruner.Builder#keepPartial})
 * @param widths the channel multiple kept widths were rounded to, and why ({@link Rounding})
 * @param speed the pruned model timed against the original ({@link SpeedCheck}); null when not checked
 */
public record PruneReport(String criterion, String target, String allocation, List<Group> groups, Totals before,
    Totals after, double achieved, Verification verify, List<TrajectoryPoint> trajectory, String shortOfTarget,
    Widths widths, Speed speed) {

  /**
   * The channel multiple of the kept widths.
   *
   * @param multiple kept channel counts are multiples of it where the graph allows (1: exact widths)
   * @param automatic chosen for the execution provider ({@link Rounding#auto()}) rather than given
   * @param reason why this multiple: the provider and CPU feature it follows, and whether a coarser
   *     one was given up because it could not land on the target
   * @param keptWhole prunable groups kept whole because they are no wider than one step
   */
  public record Widths(int multiple, boolean automatic, String reason, int keptWhole) {}

  /**
   * Latency of the pruned model against the original, measured in alternating pairs in one process.
   *
   * @param provider the execution provider ("CPU", "CUDA")
   * @param batch the batch size timed
   * @param pairs how many (original, pruned) pairs were timed
   * @param originalMs median latency of the original, milliseconds
   * @param prunedMs median latency of the pruned model, milliseconds
   * @param originalBestMs best latency of the original
   * @param prunedBestMs best latency of the pruned model
   * @param speedup the median over pairs of original / pruned
   * @param bestSpeedup best original / best pruned
   * @param skipped null when measured; otherwise why not (the other fields are then 0)
   */
  public record Speed(String provider, int batch, int pairs, double originalMs, double prunedMs,
      double originalBestMs, double prunedBestMs, double speedup, double bestSpeedup, String skipped) {

    /** True when measured and the pruned model is not faster (median speed-up at most 1). */
    public boolean notFaster() {
      return skipped == null && speedup <= 1;
    }
  }

  /**
   * One channel group.
   *
   * @param id group id
   * @param producers nodes whose output channels the group is
   * @param members every node the group touches, as "name (Op, role)"
   * @param channels channels before
   * @param kept channels after
   * @param removed removed channel indices
   * @param scores summary of the criterion's scores (null when not scored)
   * @param prunable whether the group could be pruned
   * @param reasons why not, when not
   * @param kind what its units are: "channels" (a CNN's channels, an MLP's hidden features),
   *     "heads" (attention heads) or "hidden" (a transformer's hidden width, the residual stream)
   */
  public record Group(int id, List<String> producers, List<String> members, int channels, int kept, int[] removed,
      ScoreSummary scores, boolean prunable, List<String> reasons, String kind) {}

  /**
   * A group's scores in brief: min, mean and max; the mean of the removed ones; the quartiles
   * (linear interpolation between order statistics); the highest removed score.
   */
  public record ScoreSummary(double min, double mean, double max, Double removedMean, double q1, double median,
      double q3, Double removedMax) {
    /** The summary of {@code scores}, of which the units {@code removed} were removed. */
    public static ScoreSummary of(double[] scores, int[] removed) {
      double[] sorted = scores.clone();
      java.util.Arrays.sort(sorted);
      Double removedMean = null;
      Double removedMax = null;
      if (removed.length > 0) {
        removedMean = java.util.Arrays.stream(removed).mapToDouble(i -> scores[i]).average().orElse(0);
        removedMax = java.util.Arrays.stream(removed).mapToDouble(i -> scores[i]).max().orElse(0);
      }
      return new ScoreSummary(sorted.length == 0 ? 0 : sorted[0], java.util.Arrays.stream(scores).average().orElse(0),
          sorted.length == 0 ? 0 : sorted[sorted.length - 1], removedMean, quantile(sorted, 0.25),
          quantile(sorted, 0.5), quantile(sorted, 0.75), removedMax);
    }

    private static double quantile(double[] sorted, double q) {
      if (sorted.length == 0) {
        return 0;
      }
      double pos = q * (sorted.length - 1);
      int lo = (int) Math.floor(pos);
      int hi = Math.min(lo + 1, sorted.length - 1);
      return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }
  }

  /**
   * Model totals (FLOPs = 2 x MACs for Conv/Gemm/MatMul plus elementwise FLOPs).
   * {@code unknownShapeNodes} nodes have a cost the cost model cannot count (shapes unknown, e.g.
   * a symbolic sequence length or sizes computed at run time): when it is not 0, {@code macs} and
   * {@code flops} count only the other nodes and are lower bounds.
   */
  public record Totals(long params, long macs, long flops, int nodes, int unknownShapeNodes) {}

  /** The pruned model against the original with removed channels masked, on the same inputs. */
  public record Verification(double maxAbsDiff, double maxRelDiff, int batches, boolean passed, double tolerance) {}

  /** The report as indented JSON. */
  public String toJson() {
    return JsonText.of(this);
  }

  /**
   * Writes the JSON report to {@code file}, atomically ({@link dev.onnxprune.graph.AtomicFiles#write}).
   *
   * @throws dev.onnxprune.errors.InvalidOptionException (key {@code report}) when {@code file}
   *     exists and is not a regular file
   */
  public void write(Path file) throws IOException {
    JsonText.write(file, toJson());
  }
}
