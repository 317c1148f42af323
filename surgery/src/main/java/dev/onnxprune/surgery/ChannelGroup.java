package dev.onnxprune.surgery;

import java.util.List;

/**
 * A set of channels that must be removed together: the output channels of one or more
 * producers (coupled by residual adds, SE gates, concat-and-add, depthwise and grouped convs)
 * with everything that carries or consumes them. Channel {@code i} of a group is one coupled
 * unit: removing it removes the matching filter of every producer, the matching parameter of
 * every channel-wise op, and the matching input slice of every consumer.
 */
public final class ChannelGroup {
  private final int id;
  private final int size;
  private final List<GroupMember> members;
  private final List<String> blockReasons;
  private final List<String> producers;

  ChannelGroup(int id, int size, List<GroupMember> members, List<String> blockReasons, List<String> producers) {
    this.id = id;
    this.size = size;
    this.members = List.copyOf(members);
    this.blockReasons = List.copyOf(blockReasons);
    this.producers = List.copyOf(producers);
  }

  /** Position of this group in {@link ChannelAnalysis#groups()}. */
  public int id() {
    return id;
  }

  /** Number of removable units (coupled channels) in the group. */
  public int size() {
    return size;
  }

  /** Every node the group touches, in graph order. */
  public List<GroupMember> members() {
    return members;
  }

  /** Names of the nodes whose output channels this group is (Conv/Gemm/MatMul...). */
  public List<String> producers() {
    return producers;
  }

  /** True when channels may be removed from this group. */
  public boolean prunable() {
    return blockReasons.isEmpty();
  }

  /** Why the group cannot be pruned (empty when it can): node, op and what was not understood. */
  public List<String> blockReasons() {
    return blockReasons;
  }

  @Override
  public String toString() {
    return "group " + id + " (" + size + " channels, " + producers + (prunable() ? "" : ", unprunable") + ")";
  }
}
