package dev.onnxprune.runtime;

import ai.onnxruntime.OrtException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * How far a model's outputs are from a reference model's on the same data (a pruned model against
 * its original, for models that are not classifiers): over every float output the reference has and
 * every sample, the relative error {@code ||y - y_ref|| / ||y_ref||} (L2 over all values) and the
 * mean squared error. Labels are not needed.
 *
 * @param samples samples compared
 * @param relative {@code ||y - y_ref|| / ||y_ref||}
 * @param meanSquared {@code mean((y - y_ref)^2)}
 */
public record OutputError(int samples, double relative, double meanSquared) {
  /**
   * Compares {@code model} with {@code reference} on every sample of {@code data}, {@code batchSize}
   * at a time, on the outputs both have (the reference's names).
   *
   * @throws IllegalArgumentException when they share no output, or an output's size differs
   */
  public static OutputError compare(Runner model, Runner reference, Dataset data, int batchSize) throws OrtException {
    List<String> outs = reference.outputNames().stream().filter(model.outputNames()::contains).toList();
    if (outs.isEmpty()) {
      throw new IllegalArgumentException("the model shares no output with the reference: " + model.outputNames()
          + " and " + reference.outputNames());
    }
    double diff = 0;
    double norm = 0;
    long count = 0;
    int samples = 0;
    Iterator<Batch> it = data.batches(batchSize);
    while (it.hasNext()) {
      Batch b = it.next();
      Map<String, Runner.Output> got = model.run(b, outs);
      Map<String, Runner.Output> want = reference.run(b, outs);
      for (String o : outs) {
        float[] y = got.get(o).values();
        float[] r = want.get(o).values();
        if (y.length != r.length) {
          throw new IllegalArgumentException("output '" + o + "' has " + y.length + " values, the reference's "
              + r.length);
        }
        for (int i = 0; i < y.length; i++) {
          double d = (double) y[i] - r[i];
          diff += d * d;
          norm += (double) r[i] * r[i];
        }
        count += y.length;
      }
      samples += b.size();
      Progress.report(samples, data.size());
    }
    return new OutputError(samples, norm == 0 ? (diff == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(diff / norm),
        count == 0 ? Double.NaN : diff / count);
  }
}
