package dev.onnxprune.exec;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Sessions;

/** Where a job runs: its models (shipped once per worker) and the settings of the sessions it opens. */
public interface Worker {
  /** The settings of every session the job opens (CUDA when the worker has a GPU and the device allows it). */
  Sessions sessions();

  /** The job's model {@code key}; shared, so a job reads it and never changes it. */
  Model model(String key);

  /** Opens a session on model {@code key}; the caller closes it. */
  OrtSession open(String key) throws OrtException;

  /**
   * How far this worker's share of the work is; reaches the caller's progress in-process, and is
   * not reported from a remote worker (the backend reports finished shards instead).
   */
  void progress(double fraction, String detail);
}
