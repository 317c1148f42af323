package dev.onnxprune.errors;

/**
 * The pruning target cannot be met: the prunable groups cannot lose that much (their channel
 * floors, caps and rounding), or a method that chooses its own removals stopped before it. The
 * message says how far it could go and what to change.
 */
public class TargetUnreachableException extends OnnxPruneException {
  public TargetUnreachableException(String message) {
    super(message);
  }
}
