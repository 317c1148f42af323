package dev.onnxprune.spark;

import dev.onnxprune.runtime.Batch;
import java.io.Serializable;
import java.util.List;

/**
 * One task's share of the data: batches {@code [fromBatch, toBatch)}, starting at sample
 * {@code firstSample}; {@code held} carries them when the data has no files (else null: read there).
 */
record ShardSpec(int index, int fromBatch, int toBatch, long firstSample, List<Batch> held) implements Serializable {}
