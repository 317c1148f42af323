package dev.onnxprune.prune;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelPruningPass;
import dev.onnxprune.surgery.PrunePlan;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Weight rewinding (Frankle et al. 2019, "Stabilizing the Lottery Ticket Hypothesis"; Renda et al.
 * 2020 sec. 2): before retraining, the weights that pruning kept are reset to their values at an
 * early checkpoint of the original training, and the structure and zero weights the pruning chose
 * are kept.
 *
 * <ol>
 *   <li>The checkpoint is the same architecture: every FLOAT initializer of the model has one of the
 *       same name and shape in it (checked when the rewinding is set up).
 *   <li>Each prune step's plan is applied to the checkpoint too, so its tensors follow the model's
 *       channels.
 *   <li>Rewinding copies every FLOAT initializer of the checkpoint with the model's name and shape
 *       into the model; with a mask kept, a weight (rank 2 or more) stays zero where the model's is.
 * </ol>
 */
final class WeightRewinding {
  private final Model early;

  private WeightRewinding(Model early) {
    this.early = early;
  }

  /**
   * Rewinding of {@code model} to {@code early} (copied; neither is changed).
   *
   * @throws InvalidOptionException (key {@code rewindWeights}) when {@code early} lacks one of the
   *     model's FLOAT initializers or has it in another shape
   */
  static WeightRewinding of(Model early, Model model) {
    Map<String, Tensor> e = floats(early);
    for (Map.Entry<String, Tensor> m : floats(model).entrySet()) {
      Tensor t = e.get(m.getKey());
      if (t == null || !Arrays.equals(t.dims(), m.getValue().dims())) {
        throw new InvalidOptionException("rewindWeights", early.source() != null ? early.source() : "the checkpoint",
            "must be the same architecture as the model: its initializer '" + m.getKey() + "' is "
                + (t == null ? "missing" : Arrays.toString(t.dims())) + ", the model's " + Arrays.toString(
                m.getValue().dims()));
      }
    }
    return new WeightRewinding(early.copy());
  }

  /** Removes from the checkpoint the channels {@code plan} (of the model before this step) removed. */
  void pruned(PrunePlan plan) {
    new ChannelPruningPass(plan.rebind(ChannelAnalysis.analyze(early))).run(early);
  }

  /**
   * A copy of {@code model} with its kept weights at the checkpoint's values ({@code keepZeros}: its
   * zero weights stay zero).
   */
  Model rewind(Model model, boolean keepZeros) {
    Model out = model.copy();
    Map<String, Tensor> e = floats(early);
    for (Value v : out.graph().initializers()) {
      Tensor now = v.initializer();
      Tensor then = e.get(v.name());
      if (now.dataType() != DataType.FLOAT || then == null || !Arrays.equals(then.dims(), now.dims())) {
        continue;
      }
      float[] a = now.toFloatArray();
      float[] b = then.toFloatArray();
      for (int i = 0; i < b.length && keepZeros && now.dims().length >= 2; i++) {
        if (a[i] == 0f) {
          b[i] = 0f;
        }
      }
      v.setInitializer(Tensor.ofFloats(now.dims(), b));
    }
    return out;
  }

  private static Map<String, Tensor> floats(Model m) {
    Map<String, Tensor> out = new HashMap<>();
    for (Value v : m.graph().initializers()) {
      if (v.initializer().dataType() == DataType.FLOAT) {
        out.put(v.name(), v.initializer());
      }
    }
    return out;
  }
}
