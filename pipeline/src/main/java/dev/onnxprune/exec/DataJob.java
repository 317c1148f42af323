package dev.onnxprune.exec;

import java.io.Serializable;

/**
 * A sum over data: the partial result of one shard, and how two partial results merge. The same
 * object runs in-process and, serialized, on Spark executors, so it holds only serializable
 * descriptions (names, index maps, labels), never graph objects or datasets; its models come from
 * the {@link Worker}.
 *
 * @param <P> the partial result
 */
public interface DataJob<P extends Serializable> extends Serializable {
  /** The partial result of {@code shard}'s batches. */
  P run(Shard shard) throws Exception;

  /** {@code earlier} merged with {@code later} (a later shard's result); may change and return {@code earlier}. */
  P merge(P earlier, P later);

  /** True when {@link #run} iterates the shard's batches more than once (a worker then holds them in memory). */
  default boolean rereads() {
    return false;
  }
}
