package dev.onnxprune.cli;

import dev.onnxprune.exec.BackendUnavailableException;
import dev.onnxprune.exec.ExecutionBackend;
import picocli.CommandLine.Option;

/**
 * {@code --spark-master}: where the data-sharded work runs (score, eval, prune, sensitivity). The
 * Spark backend comes from the optional onnx-prune-spark module, found on the class path.
 */
final class SparkOptions {
  @Option(names = "--spark-master", paramLabel = "URL",
      description = "Run the sums over data (apoz, mean, taylor and oracle scoring, evaluation, BatchNorm statistics)"
          + " and sensitivity's prunes on Apache Spark: local[N] or spark://host:7077. Needs the onnx-prune-spark"
          + " module: ./onnx-prune adds it when this option is given; under spark-submit, spark-submit's --master"
          + " wins. Training stays in this process.")
  String master;

  /** The backend the option asks for (in-process without it); the caller closes it. */
  ExecutionBackend backend() throws CommandFailure {
    if (master == null) {
      return ExecutionBackend.inProcess();
    }
    try {
      return ExecutionBackend.open(master);
    } catch (BackendUnavailableException e) {
      throw new CommandFailure(Messages.noSpark(master, e.rule()));
    }
  }
}
