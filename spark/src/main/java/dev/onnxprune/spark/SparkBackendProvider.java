package dev.onnxprune.spark;

import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.ExecutionBackendProvider;
import java.util.regex.Pattern;

/** Makes {@link SparkBackend}s for Spark master URLs: {@code local}, {@code local[N]}, {@code local[N,F]}, {@code local[*]}, {@code spark://host:port}. */
public final class SparkBackendProvider implements ExecutionBackendProvider {
  private static final Pattern MASTER = Pattern.compile("local(\\[(\\*|\\d+)(,\\d+)?])?|spark://.+");

  @Override
  public String name() {
    return "spark";
  }

  @Override
  public boolean accepts(String master) {
    return master != null && MASTER.matcher(master).matches();
  }

  @Override
  public ExecutionBackend open(String master) {
    return SparkBackend.start(master);
  }
}
