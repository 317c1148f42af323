package dev.onnxprune.exec;

import dev.onnxprune.errors.InvalidOptionException;
import java.util.List;

/**
 * No execution backend on the class path takes the master asked for (option key
 * {@value #KEY}): the Spark module is not there, or the URL is not one it knows.
 */
public final class BackendUnavailableException extends InvalidOptionException {
  /** The option key of the master URL. */
  public static final String KEY = "backend.master";

  BackendUnavailableException(String master, List<String> providers) {
    super(KEY, master, providers.isEmpty()
        ? "needs the onnx-prune-spark module, which is not on the class path: build it (mvn -pl spark -am package)"
            + " and run with spark/target/onnx-prune-spark.jar and Spark's jars on the class path, or submit that"
            + " jar with spark-submit"
        : "is not a master URL the backends on the class path (" + String.join(", ", providers) + ") take;"
            + " Spark takes local, local[N], local[N,F] and spark://host:port");
  }
}
