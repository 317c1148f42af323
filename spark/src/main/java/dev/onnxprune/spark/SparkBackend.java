package dev.onnxprune.spark;

import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.JobFailedException;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.ShardedData;
import dev.onnxprune.exec.TaskJob;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.CancelledException;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Sessions;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaFutureAction;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the pipeline's data-sharded work on Apache Spark. A sum over data becomes one Spark stage:
 * the data's batches are cut into one contiguous range per task slot
 * ({@link SparkContext#defaultParallelism()}), each task reads its range from the data's files
 * ({@link dev.onnxprune.runtime.Dataset#source()}; data that did not come from files is shipped
 * from the driver), opens its own ONNX Runtime sessions on the job's models and returns the
 * partial result, and the driver merges the partial results in range order. Independent tasks
 * (sensitivity) are one Spark task each.
 *
 * <p>Models travel as Spark broadcasts: once to each executor, not per task, and each executor
 * reads a model once ({@link ExecutorShard}). A task gets {@code spark.task.cpus} ONNX Runtime
 * threads unless the sessions fix their own, and the GPU Spark assigned it (resource {@code gpu})
 * when the sessions may use CUDA. A failed task is retried by Spark ({@code spark.task.maxFailures});
 * since a task's result depends only on its range, a retry gives the same result.
 * Progress is the fraction of tasks done, heard by a {@link org.apache.spark.scheduler.SparkListener}
 * and reported on the caller's thread, where cancellation cancels the Spark job.
 */
public final class SparkBackend implements ExecutionBackend {
  private static final Logger LOG = LoggerFactory.getLogger(SparkBackend.class);

  private final JavaSparkContext sc;
  private final boolean owned;
  private final TaskProgress progress = new TaskProgress();
  private final Map<JobModels, Map<String, Broadcast<byte[]>>> broadcasts = new WeakHashMap<>();

  private SparkBackend(JavaSparkContext sc, boolean owned) {
    this.sc = sc;
    this.owned = owned;
    sc.sc().addSparkListener(progress);
  }

  /**
   * Starts a Spark context for {@code master} ({@code local[2]}, {@code spark://host:7077}); under
   * {@code spark-submit} the master it was given wins. {@link #close()} stops the context.
   */
  public static SparkBackend start(String master) {
    SparkConf conf = new SparkConf().setAppName("onnx-prune");
    if (!conf.contains("spark.master")) {
      conf.setMaster(master);
    } else if (!conf.get("spark.master").equals(master)) {
      LOG.warn("running on spark-submit's master {}, not {}", conf.get("spark.master"), master);
    }
    SparkContext context = SparkContext.getOrCreate(conf);
    return new SparkBackend(JavaSparkContext.fromSparkContext(context), true);
  }

  /** A backend on a context the caller started, and stops. */
  public static SparkBackend on(SparkContext context) {
    return new SparkBackend(JavaSparkContext.fromSparkContext(context), false);
  }

  /** The context the jobs run on. */
  public SparkContext context() {
    return sc.sc();
  }

  @Override
  public String describe() {
    return "spark " + sc.master() + " (" + parallelism() + " task slots)";
  }

  @Override
  public int parallelism() {
    return Math.max(1, sc.defaultParallelism());
  }

  @Override
  public boolean isInProcess() {
    return false;
  }

  @Override
  public <P extends Serializable> P sum(String what, DataJob<P> job, JobModels models, ShardedData data,
      Sessions sessions) {
    List<ShardSpec> specs = shards(data, parallelism());
    if (specs.isEmpty()) {
      throw new IllegalArgumentException(what + ": the data has no samples");
    }
    Map<String, Broadcast<byte[]>> shipped = ship(models);
    sc.setJobDescription("onnx-prune: " + what);
    JavaRDD<P> parts = sc.parallelize(specs, specs.size())
        .map(spec -> ExecutorShard.run(job, spec, data, shipped, sessions));
    List<P> results = await(what, parts.collectAsync(), specs.size());
    P acc = results.get(0);
    for (int i = 1; i < results.size(); i++) {
      acc = job.merge(acc, results.get(i));
    }
    return acc;
  }

  @Override
  public <T extends Serializable, R extends Serializable> List<R> map(String what, List<T> tasks, TaskJob<T, R> job,
      JobModels models, Sessions sessions) {
    if (tasks.isEmpty()) {
      return List.of();
    }
    Map<String, Broadcast<byte[]>> shipped = ship(models);
    sc.setJobDescription("onnx-prune: " + what);
    JavaRDD<R> out = sc.parallelize(tasks, tasks.size())
        .map(task -> ExecutorShard.runTask(job, task, shipped, sessions));
    return await(what, out.collectAsync(), tasks.size());
  }

  @Override
  public void close() {
    sc.sc().removeSparkListener(progress);
    if (owned) {
      sc.stop();
    }
  }

  /** The batch ranges, one per task slot at most; data without files travels in them. */
  static List<ShardSpec> shards(ShardedData data, int slots) {
    int batches = data.batchCount();
    int n = Math.min(batches, slots);
    List<Batch> held = data.source() == null ? data.hold() : null;
    List<ShardSpec> out = new ArrayList<>();
    long first = 0;
    for (int i = 0; i < n; i++) {
      int from = (int) ((long) batches * i / n);
      int to = (int) ((long) batches * (i + 1) / n);
      List<Batch> mine = held == null ? null : new ArrayList<>(held.subList(from, to));
      out.add(new ShardSpec(i, from, to, first, mine));
      if (held != null) {
        first += mine.stream().mapToLong(Batch::size).sum();
      } else {
        first = Math.min(data.samples(), (long) to * data.batchSize());
      }
    }
    return out;
  }

  /** Broadcasts of the job's models, made once per {@link JobModels} (Oracle's rounds share them). */
  private Map<String, Broadcast<byte[]>> ship(JobModels models) {
    synchronized (broadcasts) {
      Map<String, Broadcast<byte[]>> b = broadcasts.get(models);
      if (b == null || !b.keySet().equals(models.keys())) {
        b = new LinkedHashMap<>();
        for (String k : models.keys()) {
          b.put(k, sc.broadcast(models.bytes(k)));
        }
        broadcasts.put(models, b);
      }
      return b;
    }
  }

  /** Waits for a Spark job, reporting the tasks done; cancels it when the caller's work is cancelled. */
  private <T> List<T> await(String what, JavaFutureAction<List<T>> f, int tasks) {
    try {
      while (true) {
        try {
          return f.get(200, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
          Progress.report(progress.done(f.jobIds()), tasks);
        }
      }
    } catch (CancelledException e) {
      f.cancel(true);
      throw e;
    } catch (InterruptedException e) {
      f.cancel(true);
      Thread.currentThread().interrupt();
      throw new CancelledException("interrupted");
    } catch (ExecutionException e) {
      throw failure(what, e.getCause());
    }
  }

  /** The library's own error when a task threw one (it travels back serialized), else a {@link JobFailedException}. */
  private static RuntimeException failure(String what, Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof OnnxPruneException || c instanceof IllegalArgumentException
          || c instanceof UncheckedIOException) {
        return (RuntimeException) c;
      }
    }
    return new JobFailedException(what + " failed on Spark: " + (t == null ? "unknown" : t.getMessage()), t);
  }
}
