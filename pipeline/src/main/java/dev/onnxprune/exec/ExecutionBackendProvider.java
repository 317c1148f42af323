package dev.onnxprune.exec;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Makes {@link ExecutionBackend}s for master URLs; registered in
 * {@code META-INF/services/dev.onnxprune.exec.ExecutionBackendProvider} (the Spark module has one).
 */
public interface ExecutionBackendProvider {
  /** Short name, e.g. {@code spark}. */
  String name();

  /** True when this provider makes backends for {@code master}. */
  boolean accepts(String master);

  /** A backend for {@code master}; the caller closes it. */
  ExecutionBackend open(String master);

  /**
   * The first provider on the class path that accepts {@code master}.
   *
   * @throws BackendUnavailableException when there is none
   */
  static ExecutionBackendProvider find(String master) {
    List<String> seen = new ArrayList<>();
    for (ExecutionBackendProvider p : ServiceLoader.load(ExecutionBackendProvider.class)) {
      if (p.accepts(master)) {
        return p;
      }
      seen.add(p.name());
    }
    throw new BackendUnavailableException(master, seen);
  }
}
