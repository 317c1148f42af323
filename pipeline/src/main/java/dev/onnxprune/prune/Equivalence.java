package dev.onnxprune.prune;

import dev.onnxprune.graph.pass.PassManager;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.HostTensor;
import dev.onnxprune.runtime.OrtTensors;
import dev.onnxprune.runtime.RandomInputs;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PrunePlan;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The equivalence check of channel surgery, as a user feature: the pruned model must compute
 * what the original computes with the removed channels zeroed where they enter their
 * consumers. Both run in ONNX Runtime on the same inputs, each input in its own element type and
 * shape ({@link RandomInputs}: floats standard normal, token ids within the embedding table, masks
 * ones; batch 2 and sequences that fit the position table for symbolic dimensions); every output
 * (of any numeric type, compared as doubles) is compared, and the largest absolute and relative
 * (to each output's largest magnitude) differences are reported. Outputs whose sizes differ
 * (e.g. a detector keeping another number of boxes) fail the check.
 */
public final class Equivalence {
  /** Relative tolerance under which the check passes (float rounding through deep nets). */
  public static final double TOLERANCE = 1e-4;

  private Equivalence() {}

  /**
   * Compares {@code pruned} with {@code originalBytes} masked by {@code plan} (a plan made on an
   * identical copy of the original).
   *
   * @throws IOException when the original cannot be read or test inputs cannot be made for it
   *     (an input without a declared shape or of a type that cannot be drawn)
   */
  public static PruneReport.Verification check(byte[] originalBytes, PrunePlan plan, Model pruned, Sessions sessions,
      int batches, long seed) throws IOException, OrtException {
    return check(OnnxModels.read(originalBytes, null), plan, pruned, sessions, batches, seed);
  }

  /**
   * Compares {@code pruned} with {@code original} masked by {@code plan} (a plan made on an
   * identical copy of the original); {@code original} is not changed (a {@link Model#copy()} is
   * masked, sharing its tensors). The two models run one after the other, each in its own
   * session closed before the next opens, so a large model is in ONNX Runtime once at a time;
   * {@link Sessions#open(Model, Map)} gives ONNX Runtime files with external data for large
   * models (the original's weights in the original's own files), so models over 2 GiB are
   * verified too. For models of {@link Sessions#fileThreshold()} or more, both sessions compute
   * without prepacked weights ({@link Sessions#DISABLE_PREPACKING}): ONNX Runtime maps the
   * original's data and computes from the mapping, the only copy of those weights in memory.
   *
   * @throws IOException when test inputs cannot be made for the original (an input without a
   *     declared shape or of a type that cannot be drawn)
   */
  public static PruneReport.Verification check(Model original, PrunePlan plan, Model pruned, Sessions sessions,
      int batches, long seed) throws IOException, OrtException {
    return check(original, plan, pruned, sessions, batches, seed, TOLERANCE);
  }

  /**
   * As {@link #check(Model, PrunePlan, Model, Sessions, int, long)}, passing when the largest
   * relative difference is at most {@code tolerance}.
   */
  public static PruneReport.Verification check(Model original, PrunePlan plan, Model pruned, Sessions sessions,
      int batches, long seed, double tolerance) throws IOException, OrtException {
    Model masked = original.copy();
    ChannelAnalysis a = ChannelAnalysis.analyze(masked);
    PassManager.run(masked, new MaskInsertion(plan.rebind(a)));
    RandomInputs inputs;
    try {
      inputs = RandomInputs.of(masked);
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
    Random r = new Random(seed);
    List<Map<String, HostTensor>> feeds = new ArrayList<>();
    for (int b = 0; b < batches; b++) {
      feeds.add(inputs.draw(r));
    }
    // A large model: ONNX Runtime reads the original's weights from its own files (Sessions.open)
    // and computes from them as loaded, without a prepacked second copy; both models alike.
    Map<String, String> config = OnnxModels.tensorBytes(original) >= Sessions.fileThreshold()
        ? Map.of(Sessions.DISABLE_PREPACKING, "1") : Map.of();
    List<Map<String, HostTensor>> expected = new ArrayList<>();
    try (OrtSession sm = sessions.open(masked, config)) {
      for (Map<String, HostTensor> f : feeds) {
        expected.add(OrtTensors.run(sm, f, Set.of()));
      }
    }
    masked = null; // its mask tensors may go before the pruned model's session opens
    double maxAbs = 0;
    double maxRel = 0;
    try (OrtSession sp = sessions.open(pruned, config)) {
      for (int b = 0; b < batches; b++) {
        Map<String, HostTensor> ym = expected.get(b);
        Map<String, HostTensor> yp = OrtTensors.run(sp, feeds.get(b), Set.of());
        for (Map.Entry<String, HostTensor> e : ym.entrySet()) {
          HostTensor x = e.getValue();
          HostTensor y = yp.get(e.getKey());
          if (y == null || !Arrays.equals(x.shape(), y.shape())) {
            return new PruneReport.Verification(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, b + 1, false, tolerance);
          }
          double scale = 0;
          for (int i = 0; i < x.size(); i++) {
            scale = Math.max(scale, Math.abs(x.get(i)));
          }
          for (int i = 0; i < x.size(); i++) {
            double d = Math.abs(x.get(i) - y.get(i));
            if (Double.isNaN(d)) {
              d = Double.POSITIVE_INFINITY;
            }
            maxAbs = Math.max(maxAbs, d);
            maxRel = Math.max(maxRel, d / Math.max(scale, 1e-30));
          }
        }
      }
    }
    return new PruneReport.Verification(maxAbs, maxRel, batches, maxRel <= tolerance, tolerance);
  }
}
