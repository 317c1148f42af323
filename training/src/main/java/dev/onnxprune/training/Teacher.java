package dev.onnxprune.training;

import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The teacher of a distilling training step: its outputs on each batch, from an ONNX Runtime
 * session. When the batches are not augmented a sample's outputs are the same every epoch, so
 * they are kept per sample after the first time and looked up after that, unless keeping every
 * sample's outputs would take more than {@link #CACHE_FLOATS} floats (large outputs, as a
 * segmenter's): then the teacher runs on every batch.
 */
final class Teacher implements AutoCloseable {
  private final Runner runner;
  private final List<String> outputs;
  /** Per output, the values of every sample (row-major, sample after sample); null: no cache. */
  private Map<String, float[]> cache;
  private final Map<String, long[]> rowShape = new HashMap<>();
  private final boolean[] have;
  private final long maxFloats;
  private long runs;

  /** The most floats the cache of teacher outputs holds (1 GiB). */
  static final long CACHE_FLOATS = 1L << 28;

  private Teacher(Runner runner, List<String> outputs, int samples, boolean cached, long maxFloats) {
    this.runner = runner;
    this.maxFloats = maxFloats;
    this.outputs = outputs;
    this.cache = cached ? new HashMap<>() : null;
    this.have = cached ? new boolean[samples] : null;
  }

  /**
   * The teacher {@code model} for the outputs {@code spec} distils; {@code cached} when the same
   * sample always gives the same batch row (no augmentation).
   *
   * @throws IllegalArgumentException when the teacher lacks an output the step distils
   */
  static Teacher open(Model model, ArtifactSpec spec, Sessions sessions, int samples, boolean cached)
      throws OrtException {
    return open(model, spec, sessions, samples, cached, CACHE_FLOATS);
  }

  /** {@link #open} with a cache of at most {@code maxFloats} floats. */
  static Teacher open(Model model, ArtifactSpec spec, Sessions sessions, int samples, boolean cached,
      long maxFloats) throws OrtException {
    Runner r = Runner.open(sessions, model);
    List<String> outs = List.copyOf(spec.teacher().keySet());
    for (String o : outs) {
      if (!r.outputNames().contains(o)) {
        r.close();
        throw new IllegalArgumentException("the teacher has no output '" + o + "' to distil; its outputs: "
            + r.outputNames());
      }
    }
    return new Teacher(r, outs, samples, cached, maxFloats);
  }

  /** The teacher's outputs on {@code batch}, whose rows are the samples {@code order[from ..]}. */
  Map<String, Runner.Output> outputs(Batch batch, int[] order, int from) throws OrtException {
    int n = batch.size();
    if (cache != null && rowShape.size() == outputs.size()) {
      boolean all = true;
      for (int i = 0; i < n && all; i++) {
        all = have[order[from + i]];
      }
      if (all) {
        return gather(order, from, n);
      }
    }
    Map<String, Runner.Output> out = runner.run(batch, outputs);
    runs++;
    if (cache != null && rowShape.isEmpty()) {
      long floats = 0;
      for (Runner.Output o : out.values()) {
        floats += (long) (o.values().length / n) * have.length;
      }
      if (floats > maxFloats) {
        cache = null; // too large to keep: run the teacher on every batch
      }
    }
    if (cache != null) {
      for (Map.Entry<String, Runner.Output> e : out.entrySet()) {
        long[] shape = e.getValue().shape();
        int row = e.getValue().values().length / n;
        float[] c = cache.computeIfAbsent(e.getKey(), k -> new float[have.length * row]);
        rowShape.putIfAbsent(e.getKey(), shape);
        for (int i = 0; i < n; i++) {
          System.arraycopy(e.getValue().values(), i * row, c, order[from + i] * row, row);
        }
      }
      for (int i = 0; i < n; i++) {
        have[order[from + i]] = true;
      }
    }
    return out;
  }

  private Map<String, Runner.Output> gather(int[] order, int from, int n) {
    Map<String, Runner.Output> out = new LinkedHashMap<>();
    for (String name : outputs) {
      float[] c = cache.get(name);
      int row = c.length / have.length;
      float[] v = new float[n * row];
      for (int i = 0; i < n; i++) {
        System.arraycopy(c, order[from + i] * row, v, i * row, row);
      }
      long[] shape = rowShape.get(name).clone();
      shape[0] = n;
      out.put(name, new Runner.Output(v, shape));
    }
    return out;
  }

  /** Whether the teacher's outputs are kept per sample. */
  boolean caches() {
    return cache != null;
  }

  /** Batches the teacher model has run (the others came from the cache). */
  long runs() {
    return runs;
  }

  @Override
  public void close() throws OrtException {
    runner.close();
  }
}
