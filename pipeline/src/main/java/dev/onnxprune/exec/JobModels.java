package dev.onnxprune.exec;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The models of a job, by key. In-process the job reads these objects; a remote backend ships
 * their bytes once to each worker ({@link #bytes}), where they are read again.
 */
public final class JobModels {
  private final Map<String, Model> models = new LinkedHashMap<>();
  private final Map<String, byte[]> bytes = new LinkedHashMap<>();

  public static JobModels of() {
    return new JobModels();
  }

  public static JobModels of(String key, Model model) {
    return new JobModels().with(key, model);
  }

  /** Adds {@code model} as {@code key}; the job must not change it (workers share it). */
  public JobModels with(String key, Model model) {
    models.put(key, model);
    return this;
  }

  /** Adds a model already serialized (read again where it is used). */
  public JobModels withBytes(String key, byte[] serialized) {
    bytes.put(key, serialized);
    return this;
  }

  public Set<String> keys() {
    Set<String> k = new java.util.LinkedHashSet<>(models.keySet());
    k.addAll(bytes.keySet());
    return Collections.unmodifiableSet(k);
  }

  /** The model {@code key} as an object, read from its bytes when it was given as bytes. */
  public Model model(String key) {
    Model m = models.get(key);
    if (m == null) {
      byte[] b = bytes.get(key);
      if (b == null) {
        throw new IllegalArgumentException("the job has no model '" + key + "'; it has " + keys());
      }
      m = read(b, key);
      models.put(key, m);
    }
    return m;
  }

  /** The serialized model {@code key} (serialized once, then kept). */
  public byte[] bytes(String key) {
    return bytes.computeIfAbsent(key, k -> {
      Model m = models.get(k);
      if (m == null) {
        throw new IllegalArgumentException("the job has no model '" + key + "'; it has " + keys());
      }
      return OnnxModels.toBytes(m);
    });
  }

  /** Reads serialized model bytes (on a worker). */
  public static Model read(byte[] serialized, String key) {
    try {
      return OnnxModels.read(serialized, java.nio.file.Path.of(key + ".onnx"));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("reading the job's model '" + key + "'", e);
    }
  }
}
