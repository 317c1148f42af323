package dev.onnxprune.criteria;

import dev.onnxprune.surgery.ChannelAnalysis.ConsumerInput;
import java.io.Serializable;

/**
 * Where a value carries channels ({@link ConsumerInput} without the graph objects, so that a job
 * can be shipped to a worker): the value's name, its channel axis and span, and for each channel
 * position the group and unit it belongs to.
 */
record Positions(String value, int axis, int span, int[] groups, int[] units) implements Serializable {
  static Positions of(ConsumerInput ci) {
    return new Positions(ci.value().name(), ci.axis(), ci.span(), ci.groups(), ci.units());
  }

  int length() {
    return groups.length;
  }
}
