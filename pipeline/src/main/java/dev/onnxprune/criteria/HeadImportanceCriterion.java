package dev.onnxprune.criteria;

import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;

/**
 * Head importance (Michel, Levy and Neubig 2019, "Are Sixteen Heads Really Better than One?",
 * Section 4.1, eq. 2): a mask variable {@code xi_h} multiplies the output of head h before the
 * out-projection, and the importance of h is the expected absolute gradient of the loss with
 * respect to it at {@code xi = 1},
 * <pre>
 *   I_h = E_x | dL(x)/d xi_h |
 * </pre>
 * normalised per layer by the L2 norm of the layer's importances (Section 4.2: "we normalize the
 * importance scores by layer (using the l2 norm)"), so heads of different layers compare in a
 * global ranking. Here a layer is a group: the heads of one attention (with grouped-query
 * attention, the k/v heads with their query heads). The other groups (MLP widths, the hidden width)
 * get the same quantity for their units' masks, normalised per group the same way.
 *
 * <p><b>How.</b> The mask is the one {@link TaylorCriterion} differentiates: {@code dL/dxi_h} at 1
 * is {@code sum a * dL/da} over the positions the head carries into the out-projection, per
 * calibration sample, which is Taylor's {@code t[n,h]}; Taylor's score is {@code E_n |t[n,h]|}.
 * This criterion is Taylor's scores with the per-layer normalisation. PyTorch's attention merges
 * the samples with the heads before the out-projection; those groups are scored a sample at a time.
 */
final class HeadImportanceCriterion implements DataCriterion {
  private final TaylorCriterion taylor;
  private ScoringStats stats;

  HeadImportanceCriterion(Dataset data, Sessions sessions, DataCriteria.Options options) {
    this.taylor = new TaylorCriterion(data, sessions, options);
  }

  @Override
  public String name() {
    return "heads";
  }

  @Override
  public ScoringStats lastStats() {
    return stats;
  }

  @Override
  public double[][] score(ChannelAnalysis analysis) {
    double[][] s = taylor.score(analysis);
    for (double[] g : s) {
      if (g == null) {
        continue;
      }
      double norm = 0;
      for (double v : g) {
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      if (norm > 0) {
        for (int u = 0; u < g.length; u++) {
          g[u] /= norm;
        }
      }
    }
    ScoringStats t = taylor.lastStats();
    stats = new ScoringStats(name(), t.seconds(), t.sessionRuns(), t.sampleForwards(), t.ablations(),
        t.forwardEquivalents());
    return s;
  }
}
