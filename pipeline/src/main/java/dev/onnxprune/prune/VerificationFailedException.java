package dev.onnxprune.prune;

import dev.onnxprune.errors.OnnxPruneException;
import java.util.Locale;

/**
 * A pruned model does not compute what the original computes with the removed channels masked:
 * verification was on and failed. Nothing was written; {@link #result()} holds the pruned model,
 * the plan and the report (with the differences), so a caller can still inspect or report them.
 */
public class VerificationFailedException extends OnnxPruneException {
  private final transient PruneResult result;

  public VerificationFailedException(PruneResult result) {
    super(String.format(Locale.ROOT, "verification failed: the pruned model differs from the masked original by up"
        + " to %.3g (relative; tolerance %.0e)", result.report().verify().maxRelDiff(), result.report().verify().tolerance()));
    this.result = result;
  }

  /** What the prune produced, with the failed verification in its report. */
  public PruneResult result() {
    return result;
  }
}
