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
  /** What a group's units are. */
  public enum Kind {
    /** Channels of convolutions or features of fully connected layers (a CNN's, or a transformer's MLP). */
    CHANNELS,
    /**
     * Attention heads: a unit is one head's rows of q, k and v (with grouped-query attention, a
     * key/value head and its query heads) and the out-projection's columns that read it.
     */
    HEADS,
    /**
     * A transformer's hidden width (or a CNN's channels under a LayerNorm): the residual stream,
     * coupling embedding columns, every residual Add, every norm and every projection on it.
     */
    HIDDEN
  }

  private final int id;
  private final int size;
  private final Kind kind;
  private final List<GroupMember> members;
  private final List<String> blockReasons;
  private final List<String> producers;

  ChannelGroup(int id, int size, Kind kind, List<GroupMember> members, List<String> blockReasons,
      List<String> producers) {
    this.id = id;
    this.size = size;
    this.kind = kind;
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

  /** What the group's units are. */
  public Kind kind() {
    return kind;
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
    String units = switch (kind) {
      case HEADS -> " heads, ";
      case HIDDEN -> " hidden channels, ";
      default -> " channels, ";
    };
    return "group " + id + " (" + size + units + producers + (prunable() ? "" : ", unprunable") + ")";
  }
}
