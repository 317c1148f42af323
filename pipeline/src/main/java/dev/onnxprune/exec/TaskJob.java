package dev.onnxprune.exec;

import java.io.Serializable;

/**
 * Work on one independent task (a sensitivity (group, ratio) prune), run where the backend puts
 * it; serializable like a {@link DataJob}.
 */
public interface TaskJob<T extends Serializable, R extends Serializable> extends Serializable {
  R run(T task, Worker worker) throws Exception;
}
