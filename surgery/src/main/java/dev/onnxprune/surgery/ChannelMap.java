package dev.onnxprune.surgery;

import dev.onnxprune.graph.Dim;
import java.util.Arrays;

/**
 * Which channel each position of a value carries: {@code ids} in row-major order over the
 * {@code span} consecutive axes starting at {@code axis}, whose sizes are {@code dims}. Most
 * maps cover one axis (the channel axis); a flattened map repeats each id over the block of
 * features it became; a channel shuffle's intermediate map covers two axes (groups, channels
 * per group).
 *
 * <p>The channel axis may also hold {@code tile} copies of the ids one after another, when a
 * Reshape merged a leading axis that is not a channel into it: PyTorch's attention views
 * {@code [seq, batch, heads * dim]} as {@code [seq, batch * heads, dim]}, whose axis 1 is
 * {@code batch} (symbolic) copies of the heads. A tile is 1 for every other map; a static one is
 * written out as repeated ids, so only a symbolic tile stays.
 */
record ChannelMap(int axis, long[] dims, int[] ids, Dim tile) {

  private static final Dim ONE = Dim.of(1);

  ChannelMap(int axis, long[] dims, int[] ids) {
    this(axis, dims, ids, ONE);
  }

  static ChannelMap single(int axis, int[] ids) {
    return new ChannelMap(axis, new long[] {ids.length}, ids);
  }

  /**
   * A single-axis map of {@code ids} repeated {@code tile} times along the axis: written out when
   * the tile is known, kept as a tile when it is symbolic.
   */
  static ChannelMap tiled(int axis, int[] ids, Dim tile) {
    if (!tile.isKnown()) {
      return new ChannelMap(axis, new long[] {ids.length}, ids, tile);
    }
    int t = Math.toIntExact(tile.get());
    int[] out = new int[ids.length * t];
    for (int k = 0; k < t; k++) {
      System.arraycopy(ids, 0, out, k * ids.length, ids.length);
    }
    return single(axis, out);
  }

  int span() {
    return dims.length;
  }

  int length() {
    return ids.length;
  }

  /** True when the axis holds the ids once (no symbolic tile). */
  boolean untiled() {
    return tile.isKnown() && tile.get() == 1;
  }

  ChannelMap withAxis(int newAxis) {
    return new ChannelMap(newAxis, dims, ids, tile);
  }

  /** The ids of positions {@code [from, to)} as a single-axis map on {@code newAxis}. */
  ChannelMap range(int newAxis, int from, int to) {
    return single(newAxis, Arrays.copyOfRange(ids, from, to));
  }

  /** Same axis, ids and tile: the two values carry the same channels position by position. */
  boolean sameLayout(ChannelMap o) {
    return o.axis == axis && o.span() == span() && o.length() == length() && o.tile.equals(tile);
  }

  @Override
  public String toString() {
    return "ChannelMap(axis " + axis + ", dims " + Arrays.toString(dims) + ", " + ids.length + " ids"
        + (untiled() ? "" : ", tile " + tile) + ")";
  }
}
