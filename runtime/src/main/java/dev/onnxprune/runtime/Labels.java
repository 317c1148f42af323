package dev.onnxprune.runtime;

import dev.onnxprune.errors.DataMismatchException;

/** Class labels against a classifier's classes: the one check every consumer of labels makes. */
public final class Labels {
  private Labels() {}

  /**
   * Refuses the first label of {@code labels} outside {@code [0, classes)}: a
   * {@link DataMismatchException} naming the sample ({@code first} is the index of
   * {@code labels[0]} in its data), the label and the class count, e.g. {@code "label 10 of
   * sample 1 is outside the 10 classes of output 'logits' [2, 10]"}.
   *
   * @param where what has the classes, e.g. {@code "output 'logits' [2, 10]"}
   */
  public static void check(long[] labels, long first, long classes, String where) {
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] < 0 || labels[i] >= classes) {
        throw new DataMismatchException("label " + labels[i] + " of sample " + (first + i) + " is outside the "
            + classes + " classes of " + where);
      }
    }
  }
}
