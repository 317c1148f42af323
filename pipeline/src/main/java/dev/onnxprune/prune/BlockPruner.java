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
    RANDOM;

    /**
     * The criterion named {@code name}: "block-influence" (or "bi"), "l1", "random".
     *
     * @throws InvalidOptionException (key {@code criterion}) for another name
     */
    public static Criterion byName(String name) {
      return switch (name.toLowerCase(java.util.Locale.ROOT)) {
        case "block-influence", "bi" -> BLOCK_INFLUENCE;
        case "l1" -> L1;
        case "random" -> RANDOM;
        default -> throw new InvalidOptionException("criterion", name,
            "blocks are ranked by block-influence (bi), l1 or random");
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
   */
  public record Result(Model model, List<Block> blocks, double[] scores, List<Block> removed, long flopsBefore,
      long flopsAfter, PruneReport.Verification verify) {}

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
    long before = CostModel.analyze(model).totalFlops();
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
    long after = CostModel.analyze(model).totalFlops();
    PruneReport.Verification v = null;
    if (verify) {
      ResidualBlocks.maskBranches(original, chosen);
      try {
        v = compare(original, model);
      } catch (OrtException e) {
        throw new IOException("verification could not run the models in ONNX Runtime: " + e.getMessage(), e);
      }
    }
    Result r = new Result(model, found, scores, chosen, before, after, v);
    if (v != null && !v.passed()) {
      throw new VerificationFailedException(new PruneResult(model, null,
          new PruneReport(criterion.name().toLowerCase(java.util.Locale.ROOT), blocks + " blocks", "blocks", List.of(),
              null, null, 0, v, null, null, null, null)));
    }
    return r;
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
      for (Map<String, HostTensor> feed : calibration(copy)) {
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

  /** The calibration feeds: the data set's batches (up to the limit), or random inputs. */
  private List<Map<String, HostTensor>> calibration(Model m) throws IOException {
    List<Map<String, HostTensor>> feeds = new ArrayList<>();
    if (data == null) {
      RandomInputs ri;
      try {
        ri = RandomInputs.of(m);
      } catch (IllegalArgumentException e) {
        throw new IOException(e.getMessage(), e);
      }
      Random r = new Random(seed);
      for (int i = 0; i < 4; i++) {
        feeds.add(ri.draw(r));
      }
      return feeds;
    }
    String first = m.graph().runtimeInputs().get(0).name();
    int samples = 0;
    for (Iterator<Batch> it = data.batches(batchSize); it.hasNext() && (limit <= 0 || samples < limit); ) {
      Batch b = it.next();
      Map<String, HostTensor> f = new LinkedHashMap<>();
      b.features().forEach((k, v) -> f.put(k.equals(Batch.DATA) ? first : k, v));
      feeds.add(f);
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
     * @throws InvalidOptionException (key {@code flops}) unless 0 < fraction < 1
     */
    public Builder flops(double fraction) {
      if (!(fraction > 0 && fraction < 1)) {
        throw new InvalidOptionException("flops", fraction, "must be in (0, 1)");
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
