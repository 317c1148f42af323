package dev.onnxprune.prune;

import dev.onnxprune.methods.PruneNet;

/**
 * How much to prune: a fraction of channels, FLOPs, parameters or latency to remove, in (0, 1).
 * FLOPs and parameters follow the cost model's convention (FLOPs = 2 x MACs for
 * Conv/Gemm/MatMul plus one per output element per arithmetic op elsewhere); latency follows a
 * {@link LatencyModel} measured on the execution provider (PruneNet's GCP-latency).
 */
public record Target(Kind kind, double fraction) {

  /** What the fraction measures. */
  public enum Kind {
    /** Channels of the prunable groups. */
    RATIO,
    /** FLOPs of the whole model. */
    FLOPS,
    /** Parameters of the whole model. */
    PARAMS,
    /** Latency of one forward pass, as predicted by a {@link LatencyModel}. */
    LATENCY
  }

  public Target {
    if (!(fraction > 0 && fraction < 1)) {
      throw new dev.onnxprune.errors.InvalidOptionException("target." + kind.name().toLowerCase(java.util.Locale.ROOT),
          fraction, "must be in (0, 1)");
    }
  }

  /** Remove {@code fraction} of the channels of every prunable group (uniform) or overall (global). */
  public static Target ratio(double fraction) {
    return new Target(Kind.RATIO, fraction);
  }

  /** Remove {@code fraction} of the model's FLOPs. */
  public static Target flops(double fraction) {
    return new Target(Kind.FLOPS, fraction);
  }

  /** Remove {@code fraction} of the model's parameters. */
  public static Target params(double fraction) {
    return new Target(Kind.PARAMS, fraction);
  }

  /** Remove {@code fraction} of the model's latency (measured per channel on the execution provider). */
  public static Target latency(double fraction) {
    return new Target(Kind.LATENCY, fraction);
  }

  @Override
  public String toString() {
    return kind.name().toLowerCase() + " " + fraction;
  }
}
