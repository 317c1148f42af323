package dev.onnxprune.surgery;

/**
 * A node that a channel group touches.
 *
 * @param node node name (or its op and position when unnamed)
 * @param opType the node's op
 * @param role what the node does with the group's channels
 * @param tensor the value whose channels are involved
 */
public record GroupMember(String node, String opType, Role role, String tensor) {

  /** How a node touches a group's channels. */
  public enum Role {
    /** Creates the channels (Conv/Gemm/MatMul output): its filters are removed. */
    PRODUCER,
    /** Carries the channels through (BN, activation, pooling, depthwise conv, per-channel constants). */
    CHANNELWISE,
    /** Merges two activations channel by channel (residual Add, SE gate Mul). */
    MERGE,
    /** Maps the channels to an offset range (Concat) or a sub-range (Split/Slice). */
    INDEX_MAP,
    /** Reshapes them (Flatten/Reshape into features, Transpose, channel shuffle). */
    RESHAPE,
    /** Contracts over them (next Conv's input channels, Gemm/MatMul input features). */
    CONSUMER,
    /**
     * Computes a statistic over them (a LayerNorm's or RMSNorm's mean and variance): removing
     * channels changes it, so it is computed over the kept channels in the exact reference.
     */
    STATISTIC
  }
}
