package dev.onnxprune.errors;

import java.util.List;

/**
 * The model has no channel group that can be pruned (or none the criterion can score). The
 * message and {@link #reasons()} say why, per group: the node, its op, and the rule that stopped
 * the analysis.
 */
public class NothingPrunableException extends OnnxPruneException {
  private final List<String> reasons;

  public NothingPrunableException(String message, List<String> reasons) {
    super(message);
    this.reasons = List.copyOf(reasons);
  }

  /** Why each group cannot be pruned, one line per reason. */
  public List<String> reasons() {
    return reasons;
  }
}
