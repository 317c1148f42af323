package dev.onnxprune.exec;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Sessions;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/** Runs every job in this JVM on the caller's thread, the data as one shard; models are not copied. */
final class InProcessBackend implements ExecutionBackend {
  static final InProcessBackend INSTANCE = new InProcessBackend();

  private InProcessBackend() {}

  @Override
  public String describe() {
    return "in-process";
  }

  @Override
  public int parallelism() {
    return 1;
  }

  @Override
  public boolean isInProcess() {
    return true;
  }

  @Override
  public <P extends Serializable> P sum(String what, DataJob<P> job, JobModels models, ShardedData data,
      Sessions sessions) {
    Iterable<Batch> batches = job.rereads() ? data.hold() : data.all();
    return call(what, () -> job.run(new LocalShard(models, sessions, batches, data.samples())));
  }

  @Override
  public <T extends Serializable, R extends Serializable> List<R> map(String what, List<T> tasks, TaskJob<T, R> job,
      JobModels models, Sessions sessions) {
    List<R> out = new ArrayList<>();
    LocalShard w = new LocalShard(models, sessions, List.of(), 0);
    for (int i = 0; i < tasks.size(); i++) {
      Progress.report(i, tasks.size());
      T t = tasks.get(i);
      out.add(call(what, () -> job.run(t, w)));
    }
    return out;
  }

  @Override
  public void close() {}

  private interface Call<V> {
    V call() throws Exception;
  }

  /** Runs {@code c}, letting unchecked exceptions through as they are (the caller's types). */
  private static <V> V call(String what, Call<V> c) {
    try {
      return c.call();
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (OrtException e) {
      throw new JobFailedException(what + ": ONNX Runtime failed: " + e.getMessage(), e);
    } catch (Exception e) {
      throw new JobFailedException(what + ": " + e, e);
    }
  }

  /** The whole data as one shard, in this JVM. */
  private static final class LocalShard implements Shard {
    private final JobModels models;
    private final Sessions sessions;
    private final Iterable<Batch> batches;
    private final long samples;

    LocalShard(JobModels models, Sessions sessions, Iterable<Batch> batches, long samples) {
      this.models = models;
      this.sessions = sessions;
      this.batches = batches;
      this.samples = samples;
    }

    @Override
    public Sessions sessions() {
      return sessions;
    }

    @Override
    public Model model(String key) {
      return models.model(key);
    }

    @Override
    public OrtSession open(String key) throws OrtException {
      return sessions.open(models.model(key));
    }

    @Override
    public void progress(double fraction, String detail) {
      Progress.report(fraction, detail);
    }

    @Override
    public Iterable<Batch> batches() {
      return batches;
    }

    @Override
    public int firstBatch() {
      return 0;
    }

    @Override
    public long firstSample() {
      return 0;
    }

    @Override
    public long totalSamples() {
      return samples;
    }
  }
}
