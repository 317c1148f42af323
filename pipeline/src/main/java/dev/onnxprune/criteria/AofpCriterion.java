package dev.onnxprune.criteria;

import dev.onnxprune.internal.BinaryFilterSearch;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.internal.DamageGraph;
import dev.onnxprune.internal.RemovalOrder;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Approximated Oracle Filter Pruning (Ding et al. 2019) on a fixed model: damage isolation
 * ({@link DamageGraph}, eq. 6-8) measured by {@link BinaryFilterSearch} (Algorithm 1) on every
 * prunable group at once, with refinement threshold theta and search cost phi (damage samples
 * per step and group). Every sample of a batch gets its own random half-ablation in each group
 * (a per-sample scoring mask), so one session run collects one t sample per sample for every
 * group.
 *
 * <p><b>Scores.</b> The search prunes channels move by move until each group stops. The score
 * ranks a group's channels in the order the search would remove them: pruned channels by move,
 * then within a move and among the survivors by their last T-hat (eq. 10); the values are the
 * T-hats raised where needed to keep that order (relative squared change of the next layer's
 * output, comparable across groups). An allocator taking the lowest scores thus removes what AOFP
 * pruned first, then the survivors that looked least damaging.
 *
 * <p><b>Own plan</b> ({@link DataCriteria.Options#ownPlan}). As in the paper (Section 4.2), the
 * search stops once the pruned channels meet the pruner's target (checked after every move, the
 * moves that finish on the same batch least damaging first) and that set is applied as is,
 * with the per-layer widths the search found; if every group stops first, the target is
 * unreachable at this theta.
 *
 * <p><b>Cost.</b> Each run forwards a batch through the scoring graph: the model plus a copy of
 * every consumer layer per group (about two forward passes' arithmetic for a chain; more where
 * one conv reads several groups, as in DenseNet). A step takes {@code ceil(phi / batch)} runs;
 * a group of C channels needs about log2(C) steps per move.
 */
final class AofpCriterion implements DataCriterion, PlanningCriterion {
  private final Dataset data;
  private final Sessions sessions;
  private final DataCriteria.Options options;
  private ScoringStats stats;
  private Predicate<Map<Integer, int[]>> reached;
  private Map<Integer, int[]> chosen;
  private Map<Integer, int[]> partial;
  private BinaryFilterSearch.Result lastSearch;

  AofpCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.data = data;
    this.sessions = sessions;
    this.options = options.copy();
  }

  @Override
  public String name() {
    return "aofp";
  }

  @Override
  public ScoringStats lastStats() {
    return stats;
  }

  @Override
  public boolean plans() {
    return options.ownPlan();
  }

  @Override
  public void aim(Predicate<Map<Integer, int[]>> reached) {
    this.reached = reached;
  }

  @Override
  public Map<Integer, int[]> chosen() {
    return chosen;
  }

  @Override
  public Map<Integer, int[]> partial() {
    return partial;
  }

  /** The last search (for tests and reports). */
  BinaryFilterSearch.Result lastSearch() {
    return lastSearch;
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    long t0 = System.nanoTime();
    List<ChannelGroup> candidates = analysis.prunableGroups().stream().filter(g -> g.size() >= 2).toList();
    DamageGraph dg = new DamageGraph(analysis, candidates);
    List<Integer> layers = new ArrayList<>(dg.damageOutputs.keySet());
    int[] sizes = layers.stream().mapToInt(id -> analysis.groups().get(id).size()).toArray();
    Calibration cal = Calibration.of(data, options.batchSize(), options.limit());
    double share = (double) CostModel.analyze(dg.model).totalFlops()
        / Math.max(1, CostModel.analyze(analysis.model()).totalFlops());
    long[] counters = new long[2]; // runs, samples
    chosen = null;
    partial = null;
    if (!options.binarySearch()) {
      return exhaustive(analysis, dg, layers, sizes, cal, share, counters, t0);
    }
    try (OrtSession session = sessions.open(dg.model)) {
      BinaryFilterSearch.Damage damage = new BinaryFilterSearch.Damage() {
        int next;

        @Override
        public int samples() {
          return cal.batches.get(next % cal.batches.size()).size();
        }

        @Override
        public double[][] measure(boolean[][] pruned, int[][][] ablated) {
          Batch b = cal.batches.get(next++ % cal.batches.size());
          return Ort.unchecked("AOFP scoring",
              () -> run(session, dg, layers, analysis, b, pruned, ablated, counters));
        }
      };
      BinaryFilterSearch.Stop stop = options.ownPlan() && reached != null
          ? pruned -> reached.test(BinaryFilterSearch.removals(layers, pruned)) : null;
      int runsPerStep = (options.phi() + options.batchSize() - 1) / options.batchSize();
      long deadline = options.timeBudget() == null ? Long.MAX_VALUE : t0 + options.timeBudget().toNanos();
      BinaryFilterSearch.Halt halt = options.timeBudget() == null ? null : (calls, pruned) ->
          System.nanoTime() >= deadline ? "at its time budget (criterion.maxSeconds)" : null;
      lastSearch = BinaryFilterSearch.run(sizes, damage, new BinaryFilterSearch.Settings(options.theta(),
          options.phi(), options.maxSteps() * runsPerStep, false, false), stop, null, halt, new Random(options.seed()));
    } catch (OrtException e) {
      throw Ort.failure("AOFP scoring", e);
    }
    double[][] scores = new double[analysis.groups().size()][];
    boolean[][] pruned = new boolean[layers.size()][];
    for (int l = 0; l < layers.size(); l++) {
      BinaryFilterSearch.Layer layer = lastSearch.layers().get(l);
      pruned[l] = layer.pruned;
      scores[layers.get(l)] = RemovalOrder.monotone(layer.move, RemovalOrder.finite(layer.lastT));
    }
    if (options.ownPlan() && lastSearch.stoppedByTarget()) {
      chosen = BinaryFilterSearch.removals(layers, pruned);
    } else if (options.ownPlan()) {
      partial = BinaryFilterSearch.removals(layers, pruned);
    }
    long ablations = 0;
    for (BinaryFilterSearch.Layer layer : lastSearch.layers()) {
      ablations += (long) layer.searchSpaceSizes.size() * options.phi();
    }
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, counters[0], counters[1], ablations,
        counters[1] * share / cal.samples);
    return scores;
  }

  /**
   * Eq. 6 for every channel on its own: T'(F) = mean over the samples of t(F, x), each channel
   * ablated alone in every group at once (block j of a packed batch ablates channel j of every
   * group that has one). Costs {@code max C} scoring-graph passes over the calibration data.
   */
  private double[][] exhaustive(ChannelAnalysis analysis, DamageGraph dg, List<Integer> layers, int[] sizes,
      Calibration cal, double share, long[] counters, long t0) {
    int maxC = Arrays.stream(sizes).max().orElse(0);
    double[][] sum = new double[layers.size()][];
    for (int l = 0; l < layers.size(); l++) {
      sum[l] = new double[sizes[l]];
    }
    boolean[][] none = new boolean[layers.size()][];
    for (int l = 0; l < layers.size(); l++) {
      none[l] = new boolean[sizes[l]];
    }
    try (OrtSession session = sessions.open(dg.model)) {
      for (Batch b : cal.batches) {
        int n = b.size();
        int k = Math.max(1, options.runSamples() / n);
        for (int from = 0; from < maxC; from += k) {
          int kk = Math.min(k, maxC - from);
          Batch big = new Batch(Ort.repeat(b.inputs(), kk), Ort.repeatShape(b.shape(), kk), null);
          int[][][] ablated = new int[layers.size()][kk * n][];
          for (int l = 0; l < layers.size(); l++) {
            for (int i = 0; i < kk; i++) {
              int j = from + i;
              for (int smp = 0; smp < n; smp++) {
                ablated[l][i * n + smp] = j < sizes[l] ? new int[] {j} : new int[0];
              }
            }
          }
          double[][] t = run(session, dg, layers, analysis, big, none, ablated, counters);
          for (int l = 0; l < layers.size(); l++) {
            for (int i = 0; i < kk && from + i < sizes[l]; i++) {
              for (int smp = 0; smp < n; smp++) {
                sum[l][from + i] += t[l][i * n + smp];
              }
            }
          }
        }
      }
    } catch (OrtException e) {
      throw Ort.failure("AOFP scoring", e);
    }
    double[][] scores = new double[analysis.groups().size()][];
    long ablations = 0;
    for (int l = 0; l < layers.size(); l++) {
      double[] s = new double[sizes[l]];
      for (int j = 0; j < s.length; j++) {
        s[j] = sum[l][j] / cal.samples;
      }
      scores[layers.get(l)] = s;
      ablations += sizes[l];
    }
    lastSearch = null;
    stats = new ScoringStats(name(), (System.nanoTime() - t0) / 1e9, counters[0], counters[1], ablations,
        counters[1] * share / cal.samples);
    return scores;
  }

  private static double[][] run(OrtSession session, DamageGraph dg, List<Integer> layers, ChannelAnalysis analysis,
      Batch b, boolean[][] pruned, int[][][] ablated, long[] counters) throws OrtException {
    int n = b.size();
    Map<Integer, boolean[]> prunedByGroup = new HashMap<>();
    for (int l = 0; l < layers.size(); l++) {
      prunedByGroup.put(layers.get(l), pruned[l]);
    }
    Map<String, Ort.Tensor> feeds = new HashMap<>();
    feeds.put(dg.input, Ort.Tensor.of(b.inputs(), b.shape()));
    for (Map.Entry<Integer, String> e : dg.baseMasks.entrySet()) {
      int c = analysis.groups().get(e.getKey()).size();
      float[] u = new float[c];
      boolean[] p = prunedByGroup.get(e.getKey());
      for (int i = 0; i < c; i++) {
        u[i] = p != null && p[i] ? 0f : 1f;
      }
      feeds.put(e.getValue(), Ort.Tensor.of(u, 1, c));
    }
    Set<String> wanted = new LinkedHashSet<>();
    for (int l = 0; l < layers.size(); l++) {
      int gid = layers.get(l);
      int c = analysis.groups().get(gid).size();
      if (ablated[l] == null) {
        float[] ones = new float[c];
        Arrays.fill(ones, 1f);
        feeds.put(dg.ablateInputs.get(gid), Ort.Tensor.of(ones, 1, c));
        continue;
      }
      float[] h = new float[n * c];
      Arrays.fill(h, 1f);
      for (int s = 0; s < n; s++) {
        for (int u : ablated[l][s]) {
          h[s * c + u] = 0f;
        }
      }
      feeds.put(dg.ablateInputs.get(gid), Ort.Tensor.of(h, n, c));
      wanted.add(dg.damageOutputs.get(gid));
    }
    Map<String, Ort.Tensor> out = Ort.run(session, feeds, wanted);
    counters[0]++;
    counters[1] += n;
    double[][] t = new double[layers.size()][];
    for (int l = 0; l < layers.size(); l++) {
      if (ablated[l] == null) {
        continue;
      }
      float[] d = out.get(dg.damageOutputs.get(layers.get(l))).data();
      t[l] = new double[n];
      for (int s = 0; s < n; s++) {
        t[l][s] = d[s];
      }
    }
    return t;
  }
}
