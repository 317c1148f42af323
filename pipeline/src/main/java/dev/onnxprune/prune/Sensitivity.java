package dev.onnxprune.prune;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.NothingPrunableException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.ShardedData;
import dev.onnxprune.exec.TaskJob;
import dev.onnxprune.exec.Worker;
import dev.onnxprune.internal.HeldData;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.ChannelPruningPass;
import dev.onnxprune.surgery.PlanCost;
import dev.onnxprune.surgery.PrunePlan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sensitivity analysis (Li et al. 2017, "Pruning Filters for Efficient ConvNets", section 4.3 and
 * Figure 2(b)): every prunable group is pruned <em>alone</em>, at several ratios, removing the
 * channels the criterion scores lowest, and each pruned copy is evaluated, with no retraining.
 * A group whose accuracy holds as its channels go is robust to pruning; one whose accuracy falls
 * early is sensitive.
 *
 * <pre>{@code
 * Sensitivity.Result r = Sensitivity.builder()
 *     .evaluation(data)                      // labelled; the first 500 samples by default
 *     .criterion(Criteria.l1())              // the ranking inside each group (default L1)
 *     .build()
 *     .run(model);
 * r.curve(3).orElseThrow().points();         // top-1, top-5, loss at each ratio for group 3
 * }</pre>
 *
 * <p>The (group, ratio) measurements are independent: they run on a small pool of threads, each
 * opening its own ONNX Runtime session per pruned copy. Progress is reported from the calling
 * thread ({@link Progress}), where cancellation takes effect too; the workers then stop at their
 * next batch.
 */
public final class Sensitivity {
  /** The name and version of the JSON layout. */
  public static final String FORMAT = "onnx-prune.sensitivity/1";

  private final Builder b;

  private Sensitivity(Builder b) {
    this.b = b;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * One measurement: the group pruned alone by {@code ratio}.
   *
   * @param ratio the fraction of the group's channels asked to go
   * @param removed channels removed ({@code ratio} of them, rounded so that at least the group's
   *     floor stays)
   * @param top1 top-1 of the pruned copy on the evaluation samples
   * @param top5 its top-5
   * @param loss its mean cross-entropy
   * @param flopsRemoved the fraction of the model's FLOPs this removal takes away
   * @param paramsRemoved the fraction of the model's parameters it takes away
   */
  public record Point(double ratio, int removed, double top1, double top5, double loss, double flopsRemoved,
      double paramsRemoved) {}

  /**
   * The curve of one group.
   *
   * @param group the group id (as in the prune report)
   * @param producers the nodes whose output channels the group is
   * @param channels its channels
   * @param points one per ratio, in increasing order
   */
  public record Curve(int group, List<String> producers, int channels, List<Point> points) {}

  /**
   * What the analysis measured.
   *
   * @param format {@value #FORMAT}
   * @param model the model file, or null when given a {@link Model}
   * @param criterion the criterion that ranked the channels within each group
   * @param baseline the unpruned model on the same samples
   * @param ratios the ratios asked for
   * @param curves one per prunable group the criterion scored, by group id
   * @param seconds wall time
   * @param workers threads that measured
   */
  @JsonPropertyOrder({"format", "model", "criterion", "baseline", "ratios", "seconds", "workers", "curves"})
  public record Result(String format, Path model, String criterion, PipelineResult.Accuracy baseline,
      List<Double> ratios, List<Curve> curves, double seconds, int workers) {
    /** Points of top-1 that {@code c}'s group loses on average over the ratios (the area under its drop curve). */
    public double meanDrop(Curve c) {
      return c.points().stream().mapToDouble(p -> 100 * (baseline.top1() - p.top1())).average().orElse(0);
    }

    /** The curve of group {@code id}, if it was measured. */
    public Optional<Curve> curve(int id) {
      return curves.stream().filter(c -> c.group() == id).findFirst();
    }

    /** The result as indented JSON. */
    public String toJson() {
      return JsonText.of(this);
    }

    /** Writes {@link #toJson()} to {@code file}, atomically. */
    public void writeJson(Path file) throws IOException {
      JsonText.write(file, toJson());
    }
  }

  /** Reads {@code file} and analyses it ({@link Result#model()} names the file). */
  public Result run(Path file) throws IOException {
    Result r = run(OnnxModels.read(file));
    return new Result(r.format(), file, r.criterion(), r.baseline(), r.ratios(), r.curves(), r.seconds(), r.workers());
  }

  /**
   * Measures every prunable group at every ratio; {@code model} is read, never changed.
   *
   * @throws NothingPrunableException when the model has no group the criterion scores
   * @throws dev.onnxprune.errors.DataMismatchException when the evaluation data does not fit the model
   * @throws dev.onnxprune.runtime.CancelledException when the calling thread's work was cancelled
   * @throws IOException when ONNX Runtime cannot run a pruned copy
   */
  public Result run(Model model) throws IOException {
    long start = System.nanoTime();
    ChannelAnalysis analysis = ChannelAnalysis.analyze(model);
    double[][] scores;
    try {
      scores = b.criterion.score(analysis);
    } catch (UncheckedIOException e) {
      throw e.getCause(); // a data-driven criterion could not run the model
    }
    PlanCost cost = PlanCost.of(analysis);
    PlanCost.Costs base = cost.baseline();
    HeldData data = HeldData.of(b.evaluation, b.batchSize, b.limit);
    if (data.size() == 0) {
      throw new InvalidOptionException("evaluation", null, "has no samples");
    }
    // one task per group and distinct number of channels removed; task 0 is the unpruned model
    List<Task> tasks = new ArrayList<>(List.of(new Task(-1, new int[0])));
    Map<Integer, List<Integer>> pointTask = new LinkedHashMap<>(); // group -> task index per ratio
    for (ChannelGroup g : analysis.prunableGroups()) {
      double[] s = scores[g.id()];
      if (s == null || g.size() <= b.minChannels) {
        continue;
      }
      int[] order = ascending(s);
      Map<Integer, Integer> byCount = new LinkedHashMap<>();
      List<Integer> perRatio = new ArrayList<>();
      for (double r : b.ratios) {
        int removed = removedAt(g.size(), r, b.minChannels);
        perRatio.add(removed == 0 ? 0 : byCount.computeIfAbsent(removed, k -> {
          tasks.add(new Task(g.id(), Arrays.copyOf(order, k)));
          return tasks.size() - 1;
        }));
      }
      pointTask.put(g.id(), perRatio);
    }
    if (pointTask.isEmpty()) {
      throw new NothingPrunableException("no channel group can be measured: the criterion " + b.criterion.name()
          + " scores none of the prunable groups, or each has no more than minChannels channels", List.of());
    }
    int workers;
    Evaluation[] measured;
    if (b.backend.isInProcess()) {
      workers = b.workers > 0 ? b.workers : Math.max(1, Math.min(tasks.size(),
          Runtime.getRuntime().availableProcessors()));
      measured = measure(model, tasks, data, workers);
    } else {
      workers = Math.min(tasks.size(), b.backend.parallelism());
      // the workers read the samples from the data's files, or get the held batches with the job
      ShardedData sharded = ShardedData.held(b.evaluation, data.batches(), b.batchSize, b.limit);
      measured = b.backend.map("sensitivity", tasks, new Measure(sharded.source() != null ? sharded : null,
          sharded.source() != null ? null : data.batches()), JobModels.of("model", model), b.sessions)
          .toArray(Evaluation[]::new);
    }

    List<Curve> curves = new ArrayList<>();
    for (Map.Entry<Integer, List<Integer>> e : pointTask.entrySet()) {
      ChannelGroup g = analysis.groups().get(e.getKey());
      List<Point> points = new ArrayList<>();
      for (int i = 0; i < b.ratios.length; i++) {
        int t = e.getValue().get(i);
        Evaluation ev = measured[t];
        int[] units = tasks.get(t).units();
        PlanCost.Costs after = units.length == 0 ? base : cost.evaluate(Map.of(g.id(), units));
        points.add(new Point(b.ratios[i], units.length, ev.top1(), ev.top5(), ev.loss(),
            1 - (double) after.flops() / base.flops(), 1 - (double) after.params() / base.params()));
      }
      curves.add(new Curve(g.id(), g.producers(), g.size(), List.copyOf(points)));
    }
    Evaluation b0 = measured[0];
    return new Result(FORMAT, null, b.criterion.name(), new PipelineResult.Accuracy(b0.samples(), b0.top1(),
        b0.top5(), b0.loss()), Arrays.stream(b.ratios).boxed().toList(), List.copyOf(curves),
        (System.nanoTime() - start) / 1e9, workers);
  }

  /** What one worker does: prune a copy of the model (none for the baseline) and evaluate it. */
  private record Task(int group, int[] units) implements java.io.Serializable {}

  /** A task on a backend's worker: the same prune and evaluation, on the samples read there or shipped. */
  private record Measure(ShardedData files, List<dev.onnxprune.runtime.Batch> held)
      implements TaskJob<Task, Evaluation> {
    @Override
    public Evaluation run(Task t, Worker w) throws OrtException {
      long t0 = System.nanoTime();
      Model model = w.model("model");
      Model m;
      synchronized (model) { // the worker's tasks share its model; copies read it one at a time
        m = t.group() < 0 ? model.copy() : prunedCopy(model, t.group(), t.units());
      }
      Evaluator.Tally tally = new Evaluator.Tally();
      try (Runner runner = Runner.open(w.sessions(), m)) {
        Evaluator e = new Evaluator(runner);
        for (dev.onnxprune.runtime.Batch batch : held != null ? held : files.read(0, files.batchCount())) {
          e.add(tally, batch, tally.samples());
        }
      }
      return tally.evaluation((System.nanoTime() - t0) / 1e9);
    }
  }

  /** Runs the tasks on {@code workers} threads; reports progress and honours cancellation on this thread. */
  private Evaluation[] measure(Model model, List<Task> tasks, HeldData data, int workers) throws IOException {
    // ONNX Runtime's own threads share the cores among the workers
    Sessions sessions = workers > 1 && b.sessions.threads() == 0
        ? b.sessions.withThreads(Math.max(1, Runtime.getRuntime().availableProcessors() / workers)) : b.sessions;
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger names = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
      Thread t = new Thread(r, "sensitivity-" + names.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    ExecutorCompletionService<Integer> done = new ExecutorCompletionService<>(pool);
    Evaluation[] out = new Evaluation[tasks.size()];
    try {
      for (int i = 0; i < tasks.size(); i++) {
        int index = i;
        done.submit(() -> {
          // a worker's batches stop when the caller cancels (this scope shares no state with the caller's)
          try (Progress.Scope s = Progress.open((f, d) -> {}, stop::get)) {
            out[index] = evaluate(model, tasks.get(index), data, sessions);
          }
          return index;
        });
      }
      for (int finished = 0; finished < tasks.size(); ) {
        Future<Integer> f = done.poll(100, TimeUnit.MILLISECONDS);
        Progress.checkCancelled();
        if (f == null) {
          continue;
        }
        int i = f.get();
        finished++;
        Task t = tasks.get(i);
        Progress.report((double) finished / tasks.size(), t.group() < 0
            ? String.format(Locale.ROOT, "unpruned: top-1 %.2f%%", 100 * out[i].top1())
            : String.format(Locale.ROOT, "group %d without %d channel(s): top-1 %.2f%%", t.group(), t.units().length,
                100 * out[i].top1()));
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new dev.onnxprune.runtime.CancelledException("interrupted");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof OrtException) {
        throw new IOException("ONNX Runtime failed on a pruned copy: " + c.getMessage(), c);
      }
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException(c);
    } finally {
      stop.set(true);
      pool.shutdownNow();
      try {
        pool.awaitTermination(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private Evaluation evaluate(Model model, Task t, HeldData data, Sessions sessions) throws OrtException {
    Model m;
    synchronized (model) { // copies read the model; one at a time keeps that simple
      m = t.group() < 0 ? model.copy() : prunedCopy(model, t.group(), t.units());
    }
    try (Runner runner = Runner.open(sessions, m)) {
      return new Evaluator(runner).evaluate(data, b.batchSize);
    }
  }

  /** A copy of {@code model} with {@code units} of group {@code group} removed. */
  static Model prunedCopy(Model model, int group, int[] units) {
    Model copy = model.copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(copy);
    PassManager.run(copy, new ChannelPruningPass(PrunePlan.builder(a).remove(a.groups().get(group), units).build()));
    return copy;
  }

  /**
   * Channels to remove from a group of {@code size} at {@code ratio}: rounded as uniform
   * allocation does, above the floor.
   */
  static int removedAt(int size, double ratio, int minChannels) {
    int keep = Math.max(minChannels, (int) Math.ceil(size * (1 - ratio) - 1e-9));
    return Math.max(0, size - keep);
  }

  /** Unit indices by increasing score (ties by index), as the allocator orders them. */
  private static int[] ascending(double[] s) {
    Integer[] idx = new Integer[s.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, Comparator.<Integer>comparingDouble(i -> s[i]).thenComparingInt(i -> i));
    return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
  }

  /** Configures a {@link Sensitivity} analysis. */
  public static final class Builder {
    private Criterion criterion = Criteria.l1();
    private double[] ratios = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    private dev.onnxprune.runtime.Dataset evaluation;
    private int limit = 500;
    private int batchSize = 100;
    private Sessions sessions = Sessions.auto();
    private int workers;
    private int minChannels = 1;
    private ExecutionBackend backend = ExecutionBackend.inProcess();

    private Builder() {}

    /**
     * Where the (group, ratio) measurements run (default {@link ExecutionBackend#inProcess()}: on
     * {@link #workers} threads of this JVM); on another backend each is a task there.
     */
    public Builder backend(ExecutionBackend b) {
      this.backend = Objects.requireNonNull(b, "backend");
      return this;
    }

    /** Ranks the channels within each group (default L1): the lowest go first. */
    public Builder criterion(Criterion c) {
      this.criterion = Objects.requireNonNull(c, "criterion");
      return this;
    }

    /** The ratios at which each group is pruned, each in (0, 1) (default 0.1 to 0.9 in steps of 0.1). */
    public Builder ratios(double... r) {
      this.ratios = r.clone();
      return this;
    }

    /** Labelled data each pruned copy is evaluated on (required). */
    public Builder evaluation(dev.onnxprune.runtime.Dataset d) {
      this.evaluation = d;
      return this;
    }

    /** Evaluate on the first {@code n} samples only (default 500; 0: all). */
    public Builder limit(int n) {
      this.limit = n;
      return this;
    }

    /** Samples per evaluation batch (default 100). */
    public Builder batchSize(int n) {
      this.batchSize = n;
      return this;
    }

    /** Where the copies run (default {@link Sessions#auto()}). */
    public Builder sessions(Sessions s) {
      this.sessions = Objects.requireNonNull(s, "sessions");
      return this;
    }

    /** Threads measuring at once (default 0: one per core, at most one per measurement). */
    public Builder workers(int n) {
      this.workers = n;
      return this;
    }

    /** Channels every group keeps at least (default 1). */
    public Builder minChannels(int n) {
      this.minChannels = n;
      return this;
    }

    /**
     * @throws InvalidOptionException naming {@code evaluation}, {@code sensitivity.ratios},
     *     {@code sensitivity.limit}, {@code sensitivity.batchSize}, {@code sensitivity.workers} or
     *     {@code minChannels} when its value is not accepted
     */
    public Sensitivity build() {
      if (evaluation == null) {
        throw new InvalidOptionException("evaluation", null, "is required: labelled data each pruned copy is"
            + " evaluated on");
      }
      if (ratios.length == 0) {
        throw new InvalidOptionException("sensitivity.ratios", "", "needs at least one ratio in (0, 1)");
      }
      TreeSet<Double> sorted = new TreeSet<>();
      for (double r : ratios) {
        if (!(r > 0 && r < 1)) {
          throw new InvalidOptionException("sensitivity.ratios", r, "must each be in (0, 1)");
        }
        sorted.add(r);
      }
      ratios = sorted.stream().mapToDouble(Double::doubleValue).toArray();
      InvalidOptionException.atLeast("sensitivity.limit", limit, 0);
      InvalidOptionException.atLeast("sensitivity.batchSize", batchSize, 1);
      InvalidOptionException.atLeast("sensitivity.workers", workers, 0);
      InvalidOptionException.atLeast("minChannels", minChannels, 1);
      return new Sensitivity(this);
    }
  }
}
