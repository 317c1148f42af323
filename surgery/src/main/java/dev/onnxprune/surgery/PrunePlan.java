package dev.onnxprune.surgery;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Which channels to remove: for each {@link ChannelGroup} of one {@link ChannelAnalysis}, the
 * indices of the units (coupled channels) to remove. Built with {@link #builder}, which
 * refuses unprunable groups, indices out of range and removing every channel of a group.
 */
public final class PrunePlan {
  private final ChannelAnalysis analysis;
  private final Map<Integer, int[]> removals;

  private PrunePlan(ChannelAnalysis analysis, Map<Integer, int[]> removals) {
    this.analysis = analysis;
    this.removals = Collections.unmodifiableMap(removals);
  }

  public static Builder builder(ChannelAnalysis analysis) {
    return new Builder(analysis);
  }

  /** The analysis the plan refers to. */
  public ChannelAnalysis analysis() {
    return analysis;
  }

  /** Group id -> sorted unit indices to remove (groups with no removal are absent). */
  public Map<Integer, int[]> removals() {
    return removals;
  }

  /** Unit indices removed from {@code group} (empty when none). */
  public int[] removed(ChannelGroup group) {
    int[] r = removals.get(group.id());
    return r == null ? new int[0] : r.clone();
  }

  /** Total number of units removed. */
  public int removedCount() {
    return removals.values().stream().mapToInt(r -> r.length).sum();
  }

  /**
   * The same removals for another analysis of an identical model (e.g. a copy to be masked),
   * checked group by group.
   */
  public PrunePlan rebind(ChannelAnalysis other) {
    if (other.groups().size() != analysis.groups().size()) {
      throw new IllegalArgumentException("the other analysis has " + other.groups().size() + " groups, this plan's has "
          + analysis.groups().size());
    }
    Builder b = builder(other);
    for (Map.Entry<Integer, int[]> e : removals.entrySet()) {
      b.remove(other.groups().get(e.getKey()), e.getValue());
    }
    return b.build();
  }

  /** Builds a plan, checking every removal against its group. */
  public static final class Builder {
    private final ChannelAnalysis analysis;
    private final Map<Integer, int[]> removals = new LinkedHashMap<>();

    private Builder(ChannelAnalysis analysis) {
      this.analysis = analysis;
    }

    /**
     * Removes units {@code units} of {@code group} (replacing an earlier removal for it).
     *
     * @throws IllegalArgumentException when the group is not of this analysis or unprunable,
     *     an index is out of range or repeated, or no channel would remain
     */
    public Builder remove(ChannelGroup group, int... units) {
      if (group.id() >= analysis.groups().size() || analysis.groups().get(group.id()) != group) {
        throw new IllegalArgumentException(group + " does not belong to this analysis");
      }
      if (units.length == 0) {
        removals.remove(group.id());
        return this;
      }
      if (!group.prunable()) {
        throw new IllegalArgumentException(group + " cannot be pruned: " + String.join("; ", group.blockReasons()));
      }
      int[] sorted = units.clone();
      Arrays.sort(sorted);
      for (int i = 0; i < sorted.length; i++) {
        if (sorted[i] < 0 || sorted[i] >= group.size()) {
          throw new IllegalArgumentException("channel " + sorted[i] + " is out of range for " + group);
        }
        if (i > 0 && sorted[i] == sorted[i - 1]) {
          throw new IllegalArgumentException("channel " + sorted[i] + " of " + group + " is listed twice");
        }
      }
      if (sorted.length >= group.size()) {
        throw new IllegalArgumentException("removing all " + group.size() + " channels of " + group
            + " is not allowed; at least one must stay");
      }
      removals.put(group.id(), sorted);
      return this;
    }

    public PrunePlan build() {
      return new PrunePlan(analysis, new LinkedHashMap<>(removals));
    }
  }
}
