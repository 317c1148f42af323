package dev.onnxprune.runtime;

import dev.onnxprune.errors.InvalidOptionException;

/** Which ONNX Runtime execution provider runs a session. */
public enum Device {
  /** CUDA when it can be started, else CPU (said once in the log). */
  AUTO,
  /** CPU only. */
  CPU,
  /** CUDA, failing with a clear error when it cannot be started. */
  CUDA;

  /**
   * Parses {@code cpu|cuda|auto} (case-insensitive).
   *
   * @throws InvalidOptionException (key {@code device}) naming the bad value and the choices
   */
  public static Device parse(String s) {
    for (Device d : values()) {
      if (d.name().equalsIgnoreCase(s)) {
        return d;
      }
    }
    throw new InvalidOptionException("device", s, "must be cpu, cuda or auto");
  }
}
