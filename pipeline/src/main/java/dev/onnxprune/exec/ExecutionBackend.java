package dev.onnxprune.exec;

import dev.onnxprune.runtime.Sessions;
import java.io.Serializable;
import java.util.List;

/**
 * Where the data-sharded work of the pipeline runs: sums over data (activation statistics, Taylor
 * and Oracle sums, BatchNorm statistics, evaluation counts) and independent tasks (sensitivity's
 * (group, ratio) prunes). {@link #inProcess()} runs everything in this JVM, on the caller's thread;
 * the optional {@code onnx-prune-spark} module runs it on Apache Spark ({@link #open(String)}).
 *
 * <p>A backend calls the same job code everywhere: a {@link DataJob} computes the partial result of
 * one shard of the data (contiguous batches), and the backend merges the shards' results in shard
 * order, so a sharded result equals the in-process one up to the order of float additions.
 * Training (fine-tuning, training-time methods) does not run through a backend: it stays on one
 * machine.
 */
public interface ExecutionBackend extends AutoCloseable {
  /** The backend that runs every job in this JVM, over the data as one shard. */
  static ExecutionBackend inProcess() {
    return InProcessBackend.INSTANCE;
  }

  /**
   * The backend for {@code master}, found by {@link java.util.ServiceLoader} among the
   * {@link ExecutionBackendProvider}s on the class path: {@code local[2]} or
   * {@code spark://host:7077} for the Spark module.
   *
   * @throws BackendUnavailableException when no provider on the class path takes {@code master}
   */
  static ExecutionBackend open(String master) {
    return ExecutionBackendProvider.find(master).open(master);
  }

  /** What runs the work, e.g. {@code in-process} or {@code spark local[2] (2 cores)}. */
  String describe();

  /** Shards or tasks that run at once (1 in-process; a Spark backend's default parallelism). */
  int parallelism();

  /** True when jobs run in this JVM on the caller's thread. */
  boolean isInProcess();

  /**
   * Runs {@code job} over the shards of {@code data} and merges their results in shard order.
   * {@code models} are shipped once to each worker (not once per shard); each worker opens its own
   * ONNX Runtime sessions with {@code sessions}' settings. Progress goes to the caller's
   * {@link dev.onnxprune.runtime.Progress} scope.
   *
   * @param what what is being computed, for progress and errors (e.g. "taylor sums")
   * @throws JobFailedException when a shard failed (after the retries the backend allows), with
   *     the shard's error as the cause where it could be carried
   */
  <P extends Serializable> P sum(String what, DataJob<P> job, JobModels models, ShardedData data, Sessions sessions);

  /**
   * Runs {@code job} on each of {@code tasks}, in parallel where the backend can, and returns
   * the results in task order.
   */
  <T extends Serializable, R extends Serializable> List<R> map(String what, List<T> tasks, TaskJob<T, R> job,
      JobModels models, Sessions sessions);

  /** Releases what the backend holds (a Spark backend stops the context it started). */
  @Override
  void close();
}
