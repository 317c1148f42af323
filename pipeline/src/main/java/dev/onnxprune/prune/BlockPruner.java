package dev.onnxprune.prune;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.NothingPrunableException;
import dev.onnxprune.errors.TargetUnreachableException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.RandomInputs;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ResidualBlocks;
import dev.onnxprune.surgery.ResidualBlocks.Block;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Depth pruning: removes whole residual blocks ({@link ResidualBlocks}), each replaced by the
 * identity, ranked by a criterion:
 * <ul>
 *   <li>{@link Criterion#BLOCK_INFLUENCE} (ShortGPT, Men et al. 2024): {@code 1 - cos(x, x + f(x))},
 *       the cosine similarity of the block's input and output hidden states averaged over every
 *       position (token, or pixel of a feature map: the vector is the channel axis, axis 1 of
 *       NCHW, the last axis otherwise), on calibration data; a block that barely turns the
 *       hidden state goes first;
 *   <li>{@link Criterion#L1}: the mean magnitude of the branch's weights;
 *   <li>{@link Criterion#ORACLE}: the loss increase on the calibration data when the block's branch
 *       is multiplied by zero ({@link ResidualBlocks#maskBranches}, which computes what removing it
 *       computes): {@code L(masked) - L(original)}, the mean softmax cross-entropy against the labels,
 *       or without labels (or on random inputs) the mean squared error of the outputs against the
 *       original's; one pass over the data per removable block;
 *   <li>{@link Criterion#TAYLOR}: its first-order estimate. With a mask {@code m} multiplying the
 *       branch output {@code b}, {@code dL_n/dm = sum_i g[n,i] b[n,i]} ({@code g = dL_n/db}, summed
 *       over the branch output of sample n), from one gradient pass ({@code Autodiff}, as the channel
 *       Taylor criterion computes it); the score is {@code (1/N) sum_n |dL_n/dm|} (per-sample absolute
 *       value, as for channels), the loss the cross-entropy against the labels, or without labels
 *       against the original's argmax. Where the branch output's first axis is not the batch, the
 *       batch's sum is taken whole;
 *   <li>{@link Criterion#RANDOM}: seeded.
 * </ul>
 * The target is a number of blocks, or a fraction of the FLOPs ({@link Builder#flops}). With {@link Builder#verify}, the pruned model is checked in
 * ONNX Runtime against the original with the removed branches multiplied by zero
 * ({@link ResidualBlocks#maskBranches}): the two compute the same (max difference 0 in float).
 */
public final class BlockPruner {
  /** How blocks are ranked (lowest score removed first). */
  public enum Criterion {
    BLOCK_INFLUENCE,
    L1,
    ORACLE,
    TAYLOR,
    RANDOM;

    /**
     * The criterion named {@code name}: "block-influence" (or "bi"), "l1", "oracle", "taylor", "random".
     *
     * @throws InvalidOptionException (key {@code criterion}) for another name
     */
    public static Criterion byName(String name) {
      return switch (name.toLowerCase(java.util.Locale.ROOT)) {
        case "block-influence", "bi" -> BLOCK_INFLUENCE;
        case "l1" -> L1;
        case "oracle" -> ORACLE;
        case "taylor" -> TAYLOR;
        case "random" -> RANDOM;
        default -> throw new InvalidOptionException("criterion", name,
            "blocks are ranked by block-influence (bi), l1, oracle, taylor or random");
      };
    }
  }

  /**
   * What {@link #prune} did.
   *
   * @param model the pruned model (the one given, changed in place)
   * @param blocks every residual block found, removable or not, as found on the original
   * @param scores each block's score (NaN for blocks that are not removable)
   * @param removed the blocks removed, lowest score first
   * @param flopsBefore FLOPs per sample before
   * @param flopsAfter FLOPs per sample after
   * @param verify the check against the masked original, or null without {@link Builder#verify}
   * @param report the same as the channel prune's report: one group per block (kind {@code block},
   *     1 unit, kept 0 when removed; its score, or why it is not removable), totals before and after
   */
  public record Result(Model model, List<Block> blocks, double[] scores, List<Block> removed, long flopsBefore,
      long flopsAfter, PruneReport.Verification verify, PruneReport report) {

    /**
     * The result in the layout of {@link PipelineResult} ({@link PipelineResult#toJson}, {@link
     * dev.onnxprune.report.Reports#write}): stages {@code original} and {@code pruned} (params and
     * FLOPs; no accuracy), the prune step's {@link #report}.
     *
     * @param input the model file read, or null
     * @param output the model file written, or null
     */
    public PipelineResult pipelineResult(java.nio.file.Path input, java.nio.file.Path output) {
      return BlockPruner.pipelineResult(model, report, input, output);
    }
  }

  /**
   * A block prune's {@code report} in the layout of {@link PipelineResult}, as {@link
   * Result#pipelineResult}; also for the report a {@link VerificationFailedException} carries.
   */
  public static PipelineResult pipelineResult(Model model, PruneReport report, java.nio.file.Path input,
      java.nio.file.Path output) {
    List<PipelineResult.Stage> stages = List.of(
        new PipelineResult.Stage("original", null, report.before().params(), report.before().flops(), null),
        new PipelineResult.Stage("pruned", null, report.after().params(), report.after().flops(), null));
    return new PipelineResult(PipelineResult.FORMAT, input, model, new PruneResult(model, null, report), stages,
        List.of(), new LinkedHashMap<>(), List.of(), output, null);
  }

  private final Criterion criterion;
  private final int blocks;
  private final double flops;
  private final Dataset data;
  private final int batchSize;
  private final int limit;
  private final long seed;
  private final boolean verify;
  private final double tolerance;
  private final Sessions sessions;

  private BlockPruner(Builder b) {
    criterion = b.criterion;
    blocks = b.blocks;
    flops = b.flops;
    data = b.data;
    batchSize = b.batchSize;
    limit = b.limit;
    seed = b.seed;
    verify = b.verify;
    tolerance = b.tolerance;
    sessions = b.sessions;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Removes the {@link Builder#blocks} lowest-scored removable blocks of {@code model}, in place.
   *
   * @throws NothingPrunableException when the model has no removable block (each block's reason is named)
   * @throws TargetUnreachableException when fewer removable blocks exist than asked for
   * @throws VerificationFailedException when {@link Builder#verify} is on and the result differs
   * @throws IOException when ONNX Runtime cannot run the model for scoring or verification
   */
  public Result prune(Model model) throws IOException {
    List<Block> found = ResidualBlocks.find(model);
    List<Block> removable = found.stream().filter(Block::removable).toList();
    if (removable.isEmpty()) {
      throw new NothingPrunableException("no residual block can be replaced by the identity" + (found.isEmpty()
          ? " (no Add of a block's input and a weighted branch of it)" : ""),
          found.stream().map(b -> "block " + b.id() + " (" + b.add() + "): " + b.reason()).toList());
    }
    if (flops == 0 && blocks > removable.size()) {
      throw new TargetUnreachableException(blocks + " blocks asked for, " + removable.size() + " of the model's "
          + found.size() + " residual blocks are removable");
    }
    double[] scores = score(model, found);
    List<Block> chosen = new ArrayList<>(removable);
    chosen.sort(Comparator.comparingDouble((Block b) -> scores[b.id()]).thenComparingInt(Block::id));
    Map<String, String> ops = new java.util.HashMap<>();
    model.graph().nodes().forEach(n -> ops.put(n.name(), n.opType()));
    dev.onnxprune.graph.cost.CostReport costBefore = CostModel.analyze(model);
    int nodesBefore = model.graph().nodes().size();
    long before = costBefore.totalFlops();
    int take = blocks;
    if (flops > 0) {
      // the fewest lowest-scored blocks whose removal takes at least the fraction of FLOPs
      take = -1;
      for (int k = 1; k <= chosen.size() && take < 0; k++) {
        Model trial = model.copy();
        ResidualBlocks.remove(trial, chosen.subList(0, k));
        if (1 - (double) CostModel.analyze(trial).totalFlops() / before >= flops) {
          take = k;
        }
      }
      if (take < 0) {
        throw new TargetUnreachableException(String.format(java.util.Locale.ROOT, "removing all %d removable residual"
            + " blocks of %d does not remove %.1f%% of the FLOPs", chosen.size(), found.size(), 100 * flops));
      }
    }
    chosen = List.copyOf(chosen.subList(0, take));
    Model original = verify ? model.copy() : null;
    ResidualBlocks.remove(model, chosen);
    dev.onnxprune.graph.cost.CostReport costAfter = CostModel.analyze(model);
    long after = costAfter.totalFlops();
    PruneReport.Verification v = null;
    if (verify) {
      ResidualBlocks.maskBranches(original, chosen);
      try {
        v = compare(original, model);
      } catch (OrtException e) {
        throw new IOException("verification could not run the models in ONNX Runtime: " + e.getMessage(), e);
      }
    }
    String target = flops > 0 ? String.format(java.util.Locale.ROOT, "blocks to %.1f%% of FLOPs", 100 * flops)
        : blocks + " blocks";
    PruneReport report = new PruneReport(criterion.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'),
        target, "blocks", describe(found, scores, chosen, ops), totals(costBefore, nodesBefore),
        totals(costAfter, model.graph().nodes().size()),
        before == 0 ? 0 : 1 - (double) after / before, v, null, null, null, null);
    Result r = new Result(model, found, scores, chosen, before, after, v, report);
    if (v != null && !v.passed()) {
      throw new VerificationFailedException(new PruneResult(model, null, report));
    }
    return r;
  }

  private static PruneReport.Totals totals(dev.onnxprune.graph.cost.CostReport c, int nodes) {
    return new PruneReport.Totals(c.totalParams(), c.totalMacs(), c.totalFlops(), nodes, c.unknownNodes());
  }

  /** One report group per block: 1 unit (the block), removed or kept, its score or why it is not removable. */
  private static List<PruneReport.Group> describe(List<Block> found, double[] scores, List<Block> removed,
      Map<String, String> ops) {
    List<PruneReport.Group> out = new ArrayList<>();
    for (Block b : found) {
      boolean gone = removed.contains(b);
      int[] idx = gone ? new int[] {0} : new int[0];
      List<String> members = b.nodes().stream().map(n -> n + " (" + ops.getOrDefault(n, "?") + ", branch)").toList();
      out.add(new PruneReport.Group(b.id(), List.of(b.add()), members, 1, gone ? 0 : 1, idx,
          b.removable() ? PruneReport.ScoreSummary.of(new double[] {scores[b.id()]}, idx) : null, b.removable(),
          b.removable() ? List.of() : List.of(b.reason()), "block"));
    }
    return out;
  }

  /** Each block's score: lower goes first; NaN for blocks that are not removable. */
  double[] score(Model model, List<Block> found) throws IOException {
    double[] s = new double[found.size()];
    Arrays.fill(s, Double.NaN);
    Random r = new Random(seed);
    switch (criterion) {
      case RANDOM -> found.stream().filter(Block::removable).forEach(b -> s[b.id()] = r.nextDouble());
      case L1 -> {
        for (Block b : found) {
          if (b.removable()) {
            s[b.id()] = meanMagnitude(model, b);
          }
        }
      }
      case ORACLE, TAYLOR -> {
        List<Block> removable = found.stream().filter(Block::removable).toList();
        double[] o = criterion == Criterion.ORACLE ? oracle(model, removable) : taylor(model, removable);
        for (Block b : removable) {
          s[b.id()] = o[b.id()];
        }
      }
      case BLOCK_INFLUENCE -> {
        double[] bi = blockInfluence(model, found.stream().filter(Block::removable).toList());
        for (Block b : found) {
          if (b.removable()) {
            s[b.id()] = bi[b.id()];
          }
        }
      }
    }
    return s;
  }

  private static double meanMagnitude(Model model, Block b) {
    double sum = 0;
    long n = 0;
    for (String w : b.weights()) {
      Tensor t = model.graph().value(w).initializer();
      if (t.dataType() == DataType.FLOAT) {
        Tensor.Reader rd = t.reader();
        float[] chunk = new float[(int) Math.min(t.elementCount(), 1 << 16)];
        for (long left = t.elementCount(); left > 0; left -= chunk.length) {
          int k = (int) Math.min(chunk.length, left);
          rd.get(chunk, 0, k);
          for (int i = 0; i < k; i++) {
            sum += Math.abs(chunk[i]);
          }
        }
      } else {
        for (float f : t.toFloatArray()) {
          sum += Math.abs(f);
        }
      }
      n += t.elementCount();
    }
    return n == 0 ? 0 : sum / n;
  }

  /** Block Influence of each block in {@code blocks} (indexed by block id; others 0). */
  private double[] blockInfluence(Model model, List<Block> blocks) throws IOException {
    Model copy = model.copy();
    Set<String> names = new LinkedHashSet<>();
    for (Block b : blocks) {
      for (String n : List.of(b.input(), b.output())) {
        Value v = copy.graph().value(n);
        if (!v.isGraphOutput() && !v.isGraphInput()) {
          copy.graph().addOutput(v);
        }
        names.add(n);
      }
    }
    int maxId = blocks.stream().mapToInt(Block::id).max().orElse(0);
    double[] cosSum = new double[maxId + 1];
    long[] count = new long[maxId + 1];
    try (OrtSession s = sessions.open(copy)) {
      for (Feed fd : calibration(copy)) {
        Map<String, HostTensor> feed = fd.inputs();
        Map<String, HostTensor> out = OrtTensors.run(s, feed, names);
        for (Block b : blocks) {
          HostTensor in = feed.containsKey(b.input()) ? feed.get(b.input()) : out.get(b.input());
          HostTensor o = out.get(b.output());
          double[] cs = cosines(in, o);
          cosSum[b.id()] += cs[0];
          count[b.id()] += (long) cs[1];
        }
      }
    } catch (OrtException e) {
      throw new IOException("Block Influence could not run the model in ONNX Runtime: " + e.getMessage(), e);
    }
    double[] bi = new double[maxId + 1];
    for (Block b : blocks) {
      bi[b.id()] = 1 - cosSum[b.id()] / Math.max(1, count[b.id()]);
    }
    return bi;
  }

  /**
   * The sum of the cosine similarities of {@code a} and {@code b} over every position, and the
   * number of positions: the vectors lie along the channel axis (1 for rank 4, the last otherwise).
   */
  static double[] cosines(HostTensor a, HostTensor b) {
    long[] shape = a.shape();
    if (!Arrays.equals(shape, b.shape())) {
      throw new IllegalArgumentException("block input " + Arrays.toString(shape) + " and output "
          + Arrays.toString(b.shape()) + " differ in shape");
    }
    int axis = shape.length == 4 ? 1 : shape.length - 1;
    long outer = 1;
    for (int d = 0; d < axis; d++) {
      outer *= shape[d];
    }
    long inner = 1;
    for (int d = axis + 1; d < shape.length; d++) {
      inner *= shape[d];
    }
    int n = axis < 0 ? 1 : (int) shape[axis];
    double sum = 0;
    long positions = 0;
    for (long o = 0; o < outer; o++) {
      for (long i = 0; i < inner; i++) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int k = 0; k < n; k++) {
          int at = (int) ((o * n + k) * inner + i);
          double x = a.get(at);
          double y = b.get(at);
          dot += x * y;
          na += x * x;
          nb += y * y;
        }
        sum += na == 0 && nb == 0 ? 1 : na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb);
        positions++;
      }
    }
    return new double[] {sum, positions};
  }

  /** A calibration batch: the model's inputs and the labels (null without). */
  private record Feed(Map<String, HostTensor> inputs, long[] labels) {}

  /**
   * Oracle: per block, {@code L(branch x 0) - L(original)} on the calibration feeds ({@link
   * #loss}), indexed by block id.
   */
  double[] oracle(Model model, List<Block> blocks) throws IOException {
    List<Feed> feeds = calibration(model);
    double[] s = new double[blocks.stream().mapToInt(Block::id).max().orElse(0) + 1];
    try {
      List<Map<String, HostTensor>> reference = outputs(model, feeds);
      double base = loss(feeds, reference, reference);
      for (Block b : blocks) {
        Model masked = model.copy();
        ResidualBlocks.maskBranches(masked, List.of(b));
        s[b.id()] = loss(feeds, outputs(masked, feeds), reference) - base;
      }
    } catch (OrtException e) {
      throw new IOException("oracle could not run the model in ONNX Runtime: " + e.getMessage(), e);
    }
    return s;
  }

  private List<Map<String, HostTensor>> outputs(Model m, List<Feed> feeds) throws IOException, OrtException {
    List<Map<String, HostTensor>> out = new ArrayList<>();
    try (OrtSession s = sessions.open(m)) {
      for (Feed f : feeds) {
        out.add(OrtTensors.run(s, f.inputs(), Set.of()));
      }
    }
    return out;
  }

  /**
   * The mean over samples of the softmax cross-entropy of the first output (N x K logits) against
   * the labels; without labels, the mean squared error of every output against {@code reference}.
   */
  private static double loss(List<Feed> feeds, List<Map<String, HostTensor>> got,
      List<Map<String, HostTensor>> reference) {
    double sum = 0;
    long n = 0;
    for (int i = 0; i < feeds.size(); i++) {
      long[] y = feeds.get(i).labels();
      if (y != null) {
        HostTensor z = got.get(i).values().iterator().next();
        int k = (int) (z.size() / y.length);
        for (int r = 0; r < y.length; r++) {
          double max = Double.NEGATIVE_INFINITY;
          for (int c = 0; c < k; c++) {
            max = Math.max(max, z.get(r * k + c));
          }
          double lse = 0;
          for (int c = 0; c < k; c++) {
            lse += Math.exp(z.get(r * k + c) - max);
          }
          sum += max + Math.log(lse) - z.get(r * k + (int) y[r]);
          n++;
        }
      } else {
        for (Map.Entry<String, HostTensor> e : reference.get(i).entrySet()) {
          HostTensor a = e.getValue();
          HostTensor b = got.get(i).get(e.getKey());
          for (int j = 0; j < a.size(); j++) {
            double d = a.get(j) - b.get(j);
            sum += d * d;
          }
          n += a.size();
        }
      }
    }
    return n == 0 ? 0 : sum / n;
  }

  /** What {@link #taylor} last computed per block: {@code sum_n dL_n/dm / N}, signed (for the check). */
  private double[] taylorSigned;

  /** Per block id, {@code (1/N) sum_n dL_n/dm} from the last Taylor scoring (signed); null before. */
  double[] lastTaylorSigned() {
    return taylorSigned;
  }

  /** Taylor: per block, {@code (1/N) sum_n |sum_i g[n,i] b[n,i]|}, indexed by block id. */
  double[] taylor(Model model, List<Block> blocks) throws IOException {
    List<Feed> feeds = calibration(model);
    String logits = model.graph().outputs().get(0).name();
    String labels = model.graph().uniqueName("onnxprune_labels");
    List<String> wrt = blocks.stream().map(Block::branchOutput).distinct().toList();
    Model grads;
    try {
      grads = dev.onnxprune.training.Autodiff.gradients(model,
          new dev.onnxprune.training.Loss.CrossEntropy(logits, labels, 0), wrt);
    } catch (dev.onnxprune.training.GradientException e) {
      throw new IllegalArgumentException("taylor needs the gradient of the loss, and the model cannot be"
          + " differentiated: " + e.getMessage(), e);
    }
    for (String w : wrt) {
      Value v = grads.graph().value(w);
      if (!v.isGraphOutput()) {
        grads.graph().addOutput(v);
      }
    }
    int size = blocks.stream().mapToInt(Block::id).max().orElse(0) + 1;
    double[] abs = new double[size];
    double[] signed = new double[size];
    long samples = 0;
    try {
      List<Map<String, HostTensor>> plain = feeds.get(0).labels() == null ? outputs(model, feeds) : null;
      try (OrtSession s = sessions.open(grads)) {
        Set<String> names = new LinkedHashSet<>(wrt);
        wrt.forEach(w -> names.add(dev.onnxprune.training.Autodiff.gradientName(w)));
        for (int i = 0; i < feeds.size(); i++) {
          Feed f = feeds.get(i);
          long[] y = f.labels();
          int n = (int) f.inputs().values().iterator().next().shape()[0];
          if (y == null) {
            HostTensor z = plain.get(i).get(logits);
            int k = (int) (z.size() / n);
            y = new long[n];
            for (int r = 0; r < n; r++) {
              for (int c = 1; c < k; c++) {
                if (z.get(r * k + c) > z.get(r * k + (int) y[r])) {
                  y[r] = c;
                }
              }
            }
          }
          Map<String, HostTensor> feed = new LinkedHashMap<>(f.inputs());
          feed.put(labels, HostTensor.longs(y, y.length));
          Map<String, HostTensor> out = OrtTensors.run(s, feed, names);
          for (Block b : blocks) {
            HostTensor v = out.get(b.branchOutput());
            HostTensor g = out.get(dev.onnxprune.training.Autodiff.gradientName(b.branchOutput()));
            boolean perSample = v.shape().length > 0 && v.shape()[0] == n;
            int rows = perSample ? n : 1;
            int per = v.size() / rows;
            for (int r = 0; r < rows; r++) {
              double t = 0;
              for (int j = r * per; j < (r + 1) * per; j++) {
                t += v.get(j) * g.get(j);
              }
              t *= n; // the loss is the batch mean: its gradient is dL_n/db / n
              abs[b.id()] += Math.abs(t);
              signed[b.id()] += t;
            }
          }
          samples += n;
        }
      }
    } catch (OrtException e) {
      throw new IOException("taylor could not run the model in ONNX Runtime: " + e.getMessage(), e);
    }
    for (int i = 0; i < size; i++) {
      abs[i] /= Math.max(1, samples);
      signed[i] /= Math.max(1, samples);
    }
    taylorSigned = signed;
    return abs;
  }

  /** The calibration feeds: the data set's batches (up to the limit), or random inputs. */
  private List<Feed> calibration(Model m) throws IOException {
    List<Feed> feeds = new ArrayList<>();
    if (data == null) {
      RandomInputs ri;
      try {
        ri = RandomInputs.of(m);
      } catch (IllegalArgumentException e) {
        throw new IOException(e.getMessage(), e);
      }
      Random r = new Random(seed);
      for (int i = 0; i < 4; i++) {
        feeds.add(new Feed(ri.draw(r), null));
      }
      return feeds;
    }
    String first = m.graph().runtimeInputs().get(0).name();
    int samples = 0;
    for (Iterator<Batch> it = data.batches(batchSize); it.hasNext() && (limit <= 0 || samples < limit); ) {
      Batch b = it.next();
      Map<String, HostTensor> f = new LinkedHashMap<>();
      b.features().forEach((k, v) -> f.put(k.equals(Batch.DATA) ? first : k, v));
      feeds.add(new Feed(f, b.labels()));
      samples += (int) b.features().values().iterator().next().shape()[0];
    }
    return feeds;
  }

  /** Pruned against masked on random inputs, as {@link Equivalence} compares them. */
  private PruneReport.Verification compare(Model masked, Model pruned) throws IOException, OrtException {
    RandomInputs inputs;
    try {
      inputs = RandomInputs.of(masked);
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
    Random r = new Random(1234);
    List<Map<String, HostTensor>> feeds = List.of(inputs.draw(r), inputs.draw(r));
    List<Map<String, HostTensor>> expected = new ArrayList<>();
    try (OrtSession s = sessions.open(masked)) {
      for (Map<String, HostTensor> f : feeds) {
        expected.add(OrtTensors.run(s, f, Set.of()));
      }
    }
    double maxAbs = 0;
    double maxRel = 0;
    try (OrtSession s = sessions.open(pruned)) {
      for (int i = 0; i < feeds.size(); i++) {
        Map<String, HostTensor> got = OrtTensors.run(s, feeds.get(i), Set.of());
        for (Map.Entry<String, HostTensor> e : expected.get(i).entrySet()) {
          HostTensor x = e.getValue();
          HostTensor y = got.get(e.getKey());
          if (y == null || !Arrays.equals(x.shape(), y.shape())) {
            return new PruneReport.Verification(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, i + 1, false,
                tolerance);
          }
          double scale = 0;
          for (int k = 0; k < x.size(); k++) {
            scale = Math.max(scale, Math.abs(x.get(k)));
          }
          for (int k = 0; k < x.size(); k++) {
            double d = Math.abs(x.get(k) - y.get(k));
            d = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
            maxAbs = Math.max(maxAbs, d);
            maxRel = Math.max(maxRel, d / Math.max(scale, 1e-30));
          }
        }
      }
    }
    return new PruneReport.Verification(maxAbs, maxRel, feeds.size(), maxRel <= tolerance, tolerance);
  }

  /** Options of a {@link BlockPruner}. */
  public static final class Builder {
    private Criterion criterion = Criterion.BLOCK_INFLUENCE;
    private int blocks = 1;
    private double flops;
    private Dataset data;
    private int batchSize = 32;
    private int limit = 256;
    private long seed = 1;
    private boolean verify;
    private double tolerance = Equivalence.TOLERANCE;
    private Sessions sessions = Sessions.cpu();

    private Builder() {}

    public Builder criterion(Criterion c) {
      this.criterion = java.util.Objects.requireNonNull(c, "criterion");
      return this;
    }

    /**
     * Removes {@code n} blocks.
     *
     * @throws InvalidOptionException (key {@code blocks}) for n under 1
     */
    public Builder blocks(int n) {
      InvalidOptionException.atLeast("blocks", n, 1);
      this.blocks = n;
      return this;
    }

    /**
     * Removes the fewest lowest-scored blocks that take at least {@code fraction} of the FLOPs
     * (instead of a number of blocks).
     *
     * @throws InvalidOptionException (key {@code blockFlops}) unless 0 < fraction < 1
     */
    public Builder flops(double fraction) {
      if (!(fraction > 0 && fraction < 1)) {
        throw new InvalidOptionException("blockFlops", fraction, "must be in (0, 1)");
      }
      this.flops = fraction;
      return this;
    }

    /**
     * Calibration data for {@link Criterion#BLOCK_INFLUENCE}: up to {@code limit} samples (0:
     * all) in batches of {@code batchSize}; without it, 4 batches of random inputs.
     */
    public Builder data(Dataset d, int batchSize, int limit) {
      InvalidOptionException.atLeast("batchSize", batchSize, 1);
      InvalidOptionException.atLeast("limit", limit, 0);
      this.data = d;
      this.batchSize = batchSize;
      this.limit = limit;
      return this;
    }

    public Builder seed(long s) {
      this.seed = s;
      return this;
    }

    /** Check the result against the original with the removed branches multiplied by zero. */
    public Builder verify(boolean v) {
      this.verify = v;
      return this;
    }

    public Builder sessions(Sessions s) {
      this.sessions = java.util.Objects.requireNonNull(s, "sessions");
      return this;
    }

    public BlockPruner build() {
      return new BlockPruner(this);
    }
  }
}
