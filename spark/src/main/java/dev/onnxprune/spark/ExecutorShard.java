package dev.onnxprune.spark;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.exec.DataJob;
import dev.onnxprune.exec.JobModels;
import dev.onnxprune.exec.Shard;
import dev.onnxprune.exec.ShardedData;
import dev.onnxprune.exec.TaskJob;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceInformation;

/** A task's shard on an executor: its batches, the job's broadcast models, sessions for this task. */
final class ExecutorShard implements Shard {
  /** Models read on this executor, by broadcast id: each is read once per executor, not per task. */
  private static final Map<Long, Model> READ = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Long, Model> e) {
      return size() > 64;
    }
  };

  private final ShardSpec spec;
  private final ShardedData data;
  private final Map<String, Broadcast<byte[]>> models;
  private final Sessions sessions;
  private final boolean hold;

  private ExecutorShard(ShardSpec spec, ShardedData data, Map<String, Broadcast<byte[]>> models, Sessions sessions,
      boolean hold) {
    this.spec = spec;
    this.data = data;
    this.models = models;
    this.sessions = sessions;
    this.hold = hold;
  }

  static <P extends Serializable> P run(DataJob<P> job, ShardSpec spec, ShardedData data,
      Map<String, Broadcast<byte[]>> models, Sessions sessions) throws Exception {
    ExecutorShard shard = new ExecutorShard(spec, data, models, forTask(sessions), job.rereads());
    return onLargeStack(() -> job.run(shard));
  }

  static <T extends Serializable, R extends Serializable> R runTask(TaskJob<T, R> job, T task,
      Map<String, Broadcast<byte[]>> models, Sessions sessions) throws Exception {
    ExecutorShard worker = new ExecutorShard(null, null, models, forTask(sessions), false);
    return onLargeStack(() -> job.run(task, worker));
  }

  /** Stack of the thread a task's job runs on. */
  static final long STACK_BYTES = 64L << 20;

  /**
   * Runs {@code c} on a thread of its own with a {@value #STACK_BYTES}-byte stack, in this task's
   * context. ONNX Runtime builds a session on the calling thread, and on a large graph (Taylor's
   * gradient graph of ResNet-20) that overflows the 1 MB stack of an executor's task thread: the
   * JVM dies of SIGSEGV with no error report. The main thread, where in-process work runs, has 8 MB.
   */
  static <V> V onLargeStack(java.util.concurrent.Callable<V> c) throws Exception {
    TaskContext tc = TaskContext.get();
    Object[] result = new Object[1];
    Throwable[] failure = new Throwable[1];
    Thread t = new Thread(null, () -> {
      try {
        result[0] = tc == null ? c.call() : TaskContext.withTaskContext(tc, () -> {
          try {
            return c.call();
          } catch (Exception e) {
            throw new Wrapped(e);
          }
        });
      } catch (Wrapped w) {
        failure[0] = w.getCause();
      } catch (Throwable e) {
        failure[0] = e;
      }
    }, "onnx-prune-" + Thread.currentThread().getName(), STACK_BYTES);
    t.setDaemon(true);
    t.start();
    try {
      t.join();
    } catch (InterruptedException e) {
      t.interrupt(); // Spark kills the task: the job stops at its next batch
      t.join(30_000);
      throw e;
    }
    if (failure[0] instanceof Exception e) {
      throw e;
    }
    if (failure[0] instanceof Error e) {
      throw e;
    }
    @SuppressWarnings("unchecked")
    V v = (V) result[0];
    return v;
  }

  /** Carries a checked exception through Scala's Function0. */
  private static final class Wrapped extends RuntimeException {
    Wrapped(Exception cause) {
      super(cause);
    }
  }

  /**
   * The sessions of this task: {@code spark.task.cpus} intra-op threads unless set, and the GPU
   * Spark assigned the task (resource {@code gpu}) unless the sessions are CPU-only.
   */
  static Sessions forTask(Sessions s) {
    TaskContext tc = TaskContext.get();
    if (tc == null) {
      return s;
    }
    Sessions out = s.threads() > 0 ? s : s.withThreads(Math.max(1, Math.min(tc.cpus(), Sessions.maxThreads())));
    ResourceInformation gpu = tc.resourcesJMap().get("gpu");
    if (gpu != null && gpu.addresses().length > 0 && s.device() != Device.CPU) {
      out = out.onDevice(Integer.parseInt(gpu.addresses()[0].trim()));
    }
    return out;
  }

  @Override
  public Sessions sessions() {
    return sessions;
  }

  @Override
  public Model model(String key) {
    Broadcast<byte[]> b = broadcast(key);
    synchronized (READ) {
      Model m = READ.get(b.id());
      if (m == null) {
        m = JobModels.read(b.value(), key);
        READ.put(b.id(), m);
      }
      return m;
    }
  }

  @Override
  public OrtSession open(String key) throws OrtException {
    return sessions.open(broadcast(key).value());
  }

  private Broadcast<byte[]> broadcast(String key) {
    Broadcast<byte[]> b = models.get(key);
    if (b == null) {
      throw new IllegalArgumentException("the job has no model '" + key + "'; it has " + models.keySet());
    }
    return b;
  }

  @Override
  public void progress(double fraction, String detail) {
    // the driver reports finished tasks
  }

  @Override
  public Iterable<Batch> batches() {
    if (spec.held() != null) {
      return spec.held();
    }
    Iterable<Batch> read = data.read(spec.fromBatch(), spec.toBatch());
    if (!hold) {
      return read;
    }
    List<Batch> out = new ArrayList<>();
    read.forEach(out::add);
    return out;
  }

  @Override
  public int firstBatch() {
    return spec.fromBatch();
  }

  @Override
  public long firstSample() {
    return spec.firstSample();
  }

  @Override
  public long totalSamples() {
    return data.samples();
  }
}
