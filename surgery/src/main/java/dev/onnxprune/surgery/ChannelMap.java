package dev.onnxprune.surgery;

import java.util.Arrays;

/**
 * Which channel each position of a value carries: {@code ids} in row-major order over the
 * {@code span} consecutive axes starting at {@code axis}, whose sizes are {@code dims}. Most
 * maps cover one axis (the channel axis); a flattened map repeats each id over the block of
 * features it became; a channel shuffle's intermediate map covers two axes (groups, channels
 * per group).
 */
record ChannelMap(int axis, long[] dims, int[] ids) {

  static ChannelMap single(int axis, int[] ids) {
    return new ChannelMap(axis, new long[] {ids.length}, ids);
  }

  int span() {
    return dims.length;
  }

  int length() {
    return ids.length;
  }

  ChannelMap withAxis(int newAxis) {
    return new ChannelMap(newAxis, dims, ids);
  }

  /** The ids of positions {@code [from, to)} as a single-axis map on {@code newAxis}. */
  ChannelMap range(int newAxis, int from, int to) {
    return single(newAxis, Arrays.copyOfRange(ids, from, to));
  }

  @Override
  public String toString() {
    return "ChannelMap(axis " + axis + ", dims " + Arrays.toString(dims) + ", " + ids.length + " ids)";
  }
}
