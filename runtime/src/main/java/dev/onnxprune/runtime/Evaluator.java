package dev.onnxprune.runtime;

import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Top-1, top-5 and mean cross-entropy of a classifier over a labelled {@link Dataset}, run by a
 * {@link Runner}. The scored output is {@code [N, classes]} (trailing 1s, as in {@code
 * [N, classes, 1, 1]}, are allowed).
 *
 * <p>The loss is the mean of {@code -log softmax(logits)[label]}, computed in double. A model
 * that already ends in Softmax or LogSoftmax (through Identity, Reshape, Flatten or Squeeze) is
 * detected from its graph, and its output is taken as probabilities or log-probabilities instead
 * of being passed through softmax a second time.
 */
public final class Evaluator {
  /** What the scored output holds. */
  public enum Scores {
    /** Unnormalised scores: the loss applies log-softmax. */
    LOGITS,
    /** A Softmax output: the loss is {@code -log p[label]}. */
    PROBABILITIES,
    /** A LogSoftmax output: the loss is {@code -out[label]}. */
    LOG_PROBABILITIES;

    private static final Set<String> PASS_THROUGH = Set.of("Identity", "Reshape", "Flatten", "Squeeze");

    /** What {@code output} of {@code model} holds, judged from the op that computes it. */
    public static Scores of(Model model, String output) {
      Value v = model.graph().outputs().stream().filter(o -> o.name().equals(output)).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("the model has no output '" + output + "'"));
      Node p = v.producer();
      while (p != null && p.domain().isEmpty() && PASS_THROUGH.contains(p.opType())) {
        p = p.input(0).producer();
      }
      if (p == null || !p.domain().isEmpty()) {
        return LOGITS;
      }
      return switch (p.opType()) {
        case "Softmax" -> PROBABILITIES;
        case "LogSoftmax" -> LOG_PROBABILITIES;
        default -> LOGITS;
      };
    }
  }

  /** log(Double.MIN_NORMAL): the loss of a probability that underflowed to 0 stays finite. */
  private static final double LOG_TINY = Math.log(Double.MIN_NORMAL);

  private final Runner runner;
  private final String output;
  private final Scores scores;

  /** Scores the runner's first output, with its kind detected from the model. */
  public Evaluator(Runner runner) {
    this(runner, runner.outputNames().get(0), Scores.of(runner.model(), runner.outputNames().get(0)));
  }

  /** Scores {@code output}, which holds {@code scores}. */
  public Evaluator(Runner runner, String output, Scores scores) {
    if (!runner.outputNames().contains(output)) {
      throw new IllegalArgumentException("the model has no output '" + output + "'; outputs: "
          + runner.outputNames());
    }
    this.runner = runner;
    this.output = output;
    this.scores = scores;
  }

  /** What the scored output holds. */
  public Scores scores() {
    return scores;
  }

  /** Evaluates every sample of {@code data}, {@code batchSize} at a time. */
  public Evaluation evaluate(Dataset data, int batchSize) throws OrtException {
    return evaluate(data, batchSize, done -> {});
  }

  /**
   * Evaluates every sample of {@code data}, {@code batchSize} at a time; {@code progress} hears
   * the number of samples done after each batch.
   *
   * @throws IllegalArgumentException when the data has no labels, or the batches do not fit the
   *     model's input
   * @throws dev.onnxprune.errors.DataMismatchException when a label is outside the model's classes
   * @throws OrtException when ONNX Runtime fails
   */
  public Evaluation evaluate(Dataset data, int batchSize, IntConsumer progress) throws OrtException {
    if (batchSize <= 0) {
      throw new IllegalArgumentException("batch size must be > 0: " + batchSize);
    }
    long start = System.nanoTime();
    Tally t = new Tally();
    Iterator<Batch> it = data.batches(batchSize);
    while (it.hasNext()) {
      add(t, it.next(), t.samples);
      progress.accept((int) t.samples);
      Progress.report(t.samples, data.size());
    }
    return t.evaluation((System.nanoTime() - start) / 1e9);
  }

  /**
   * Counts of an evaluation over some of the data, which add up: a shard's tally joins the others'
   * with {@link #add(Tally)} (the loss is a sum in double, so shards change only its summation order).
   */
  public static final class Tally implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private long samples;
    private long top1;
    private long top5;
    private double loss;

    public long samples() {
      return samples;
    }

    /** Adds {@code other}'s counts and loss to these. */
    public void add(Tally other) {
      samples += other.samples;
      top1 += other.top1;
      top5 += other.top5;
      loss += other.loss;
    }

    /** The evaluation these counts make, over {@code seconds} of wall time. */
    public Evaluation evaluation(double seconds) {
      if (samples == 0) {
        return new Evaluation(0, Double.NaN, Double.NaN, Double.NaN, seconds, 0);
      }
      return new Evaluation((int) samples, (double) top1 / samples, (double) top5 / samples, loss / samples, seconds,
          samples / seconds);
    }
  }

  /**
   * Runs {@code b} and adds its counts to {@code t}; {@code first} is the index of its first sample
   * in the data (for error messages).
   *
   * @throws IllegalArgumentException when the batch has no labels or does not fit the model
   * @throws dev.onnxprune.errors.DataMismatchException when a label is outside the model's classes
   */
  public void add(Tally t, Batch b, long first) throws OrtException {
    if (b.labels() == null) {
      throw new IllegalArgumentException("the data has no labels; evaluation needs them");
    }
    int n = b.size();
    Runner.Output o = runner.run(b, List.of(output)).get(output);
    float[] out = o.values();
    long[] shape = o.shape();
    int classes = classes(shape, n);
    Labels.check(b.labels(), first, classes, "output '" + output + "' " + Arrays.toString(shape));
    for (int i = 0; i < n; i++) {
      int off = i * classes;
      int y = (int) b.labels()[i];
      int rank = rank(out, off, classes, y);
      t.top1 += rank < 1 ? 1 : 0;
      t.top5 += rank < 5 ? 1 : 0;
      t.loss += loss(out, off, classes, y);
    }
    t.samples += n;
  }

  private int classes(long[] shape, int n) {
    long per = 1;
    for (int i = 1; i < shape.length; i++) {
      per *= shape[i];
    }
    boolean trailingOnes = shape.length >= 2;
    for (int i = 2; i < shape.length; i++) {
      trailingOnes &= shape[i] == 1;
    }
    if (shape.length < 2 || shape[0] != n || !trailingOnes) {
      throw new IllegalArgumentException("output '" + output + "' is " + Arrays.toString(shape)
          + " for a batch of " + n + "; evaluation needs [N, classes]");
    }
    return (int) per;
  }

  /** How many classes beat the label's: higher scores, and equal scores at lower indices (argmax order). */
  static int rank(float[] s, int off, int classes, int label) {
    float mine = s[off + label];
    int rank = 0;
    for (int j = 0; j < classes; j++) {
      float v = s[off + j];
      if (v > mine || (v == mine && j < label) || Float.isNaN(mine)) {
        rank++;
      }
    }
    return rank;
  }

  private double loss(float[] s, int off, int classes, int label) {
    switch (scores) {
      case PROBABILITIES -> {
        double p = s[off + label];
        return p > 0 ? -Math.log(p) : -LOG_TINY;
      }
      case LOG_PROBABILITIES -> {
        return -(double) s[off + label];
      }
      default -> {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < classes; j++) {
          max = Math.max(max, s[off + j]);
        }
        double sum = 0;
        for (int j = 0; j < classes; j++) {
          sum += Math.exp(s[off + j] - max);
        }
        return max + Math.log(sum) - s[off + label];
      }
    }
  }
}
