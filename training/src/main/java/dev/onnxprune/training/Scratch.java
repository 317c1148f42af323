package dev.onnxprune.training;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Random;
import java.util.Set;

/**
 * The "scratch" baseline of Liu et al., <i>Rethinking the Value of Network Pruning</i> (sec. 3):
 * train the pruned architecture from a random initialization, with the training budget scaled
 * so that it costs what training the original did, to see whether the inherited weights mattered.
 *
 * <ul>
 *   <li>{@link #reinitialize}: He (Kaiming) normal weights, {@code N(0, 2 / fan)}, for Conv,
 *       ConvTranspose, Gemm and constant MatMul weights; zero biases (Conv/ConvTranspose/Gemm
 *       bias inputs, and the constant of an Add right after a MatMul); BatchNormalization scale 1,
 *       bias 0, running mean 0, running variance 1. Every other initializer (masks, shape
 *       constants) is kept.
 *   <li>{@link #budgetEpochs}: Scratch-B, {@code round(epochs x original FLOPs / pruned FLOPs)}
 *       (sec. 3: "train the small model for more epochs proportional to the FLOPs reduction");
 *       Scratch-E is the unscaled {@code epochs}.
 * </ul>
 */
public final class Scratch {
  /** Which fan He initialization divides by. */
  public enum Fan {
    /** {@code fan_in}: input channels per group times the kernel size (PyTorch's default mode). */
    IN,
    /** {@code fan_out}: output channels times the kernel size (torchvision's ResNets). */
    OUT
  }

  private Scratch() {}

  /** {@link #reinitialize(Model, long, Fan)} with {@link Fan#IN}. */
  public static Model reinitialize(Model model, long seed) {
    return reinitialize(model, seed, Fan.IN);
  }

  /**
   * A copy of {@code model} with fresh parameters (see the class comment), drawn from a generator
   * seeded by {@code seed}, layer by layer in graph order. An initializer shared by several layers
   * (through {@code Identity}) is drawn once.
   */
  public static Model reinitialize(Model model, long seed, Fan fan) {
    Model out = model.copy();
    Graph g = out.graph();
    Random random = new Random(seed);
    Set<Value> done = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Node n : g.nodes()) {
      if (n.is("Conv") || n.is("ConvTranspose")) {
        he(n, 1, fan, random, done);
        constant(n, 2, 0f, done);
      } else if (n.is("Gemm")) {
        he(n, 1, fan, random, done);
        constant(n, 2, 0f, done);
      } else if (n.is("MatMul")) {
        he(n, 1, fan, random, done);
        for (Node next : n.output(0).consumers()) {
          if (next.is("Add")) {
            for (int i = 0; i < 2; i++) {
              if (next.input(i) != n.output(0)) {
                constant(next, i, 0f, done);
              }
            }
          }
        }
      } else if (n.is("BatchNormalization")) {
        constant(n, 1, 1f, done);
        constant(n, 2, 0f, done);
        constant(n, 3, 0f, done);
        constant(n, 4, 1f, done);
      }
    }
    return out;
  }

  /**
   * Scratch-B's epochs: {@code epochs x originalFlops / prunedFlops}, rounded to the nearest
   * whole epoch, at least {@code epochs}.
   *
   * @throws IllegalArgumentException when an argument is not positive
   */
  public static int budgetEpochs(int epochs, double originalFlops, double prunedFlops) {
    if (epochs < 1) {
      throw new IllegalArgumentException("epochs must be >= 1: " + epochs);
    }
    if (!(originalFlops > 0) || !(prunedFlops > 0)) {
      throw new IllegalArgumentException("FLOPs must be > 0: original " + originalFlops + ", pruned " + prunedFlops);
    }
    return (int) Math.max(epochs, Math.round(epochs * originalFlops / prunedFlops));
  }

  /**
   * Scratch-B's epochs from the FLOPs of both models ({@link CostModel}, per sample).
   *
   * @throws IllegalArgumentException when a model's FLOPs are unknown (zero)
   */
  public static int budgetEpochs(int epochs, Model original, Model pruned) {
    return budgetEpochs(epochs, flops(original), flops(pruned));
  }

  /** FLOPs of one sample through {@code model} ({@link CostModel}). */
  public static long flops(Model model) {
    long f = CostModel.analyze(model.copy()).totalFlops();
    if (f <= 0) {
      throw new IllegalArgumentException("the FLOPs of the model are unknown (give its input static sizes)");
    }
    return f;
  }

  /** He normal: N(0, 2 / fan) into the weight at input {@code slot} of {@code n}. */
  private static void he(Node n, int slot, Fan fan, Random random, Set<Value> done) {
    Value v = root(n, slot);
    if (v == null || !done.add(v) || v.initializer().dataType() != DataType.FLOAT) {
      return;
    }
    long[] d = v.initializer().dims();
    long f = fan(n, d, fan);
    double std = Math.sqrt(2.0 / Math.max(1, f));
    float[] w = new float[Math.toIntExact(v.initializer().elementCount())];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (random.nextGaussian() * std);
    }
    v.setInitializer(Tensor.ofFloats(d, w));
  }

  /** The fan of a weight of shape {@code d} feeding {@code n}, as PyTorch's {@code _calculate_fan_in_and_fan_out}. */
  static long fan(Node n, long[] d, Fan fan) {
    if (n.is("Gemm")) {
      boolean transB = n.attrLong("transB", 0) != 0;
      long in = transB ? d[1] : d[0];
      long out = transB ? d[0] : d[1];
      return fan == Fan.IN ? in : out;
    }
    if (n.is("MatMul")) {
      long in = d.length >= 2 ? d[d.length - 2] : d[0];
      long out = d[d.length - 1];
      return fan == Fan.IN ? in : out;
    }
    // Conv [M, C/g, k...] (ConvTranspose [C, M/g, k...], taken as PyTorch does: size(1) * kernel)
    long receptive = 1;
    for (int i = 2; i < d.length; i++) {
      receptive *= d[i];
    }
    return (fan == Fan.IN ? d[1] : d[0]) * receptive;
  }

  private static void constant(Node n, int slot, float value, Set<Value> done) {
    Value v = root(n, slot);
    if (v == null || !done.add(v) || v.initializer().dataType() != DataType.FLOAT) {
      return;
    }
    float[] f = new float[Math.toIntExact(v.initializer().elementCount())];
    Arrays.fill(f, value);
    v.setInitializer(Tensor.ofFloats(v.initializer().dims(), f));
  }

  /** The initializer behind input {@code slot} of {@code n} (through Identity), or null. */
  private static Value root(Node n, int slot) {
    if (slot >= n.inputCount() || n.input(slot) == null) {
      return null;
    }
    Value r = n.input(slot);
    while (r.producer() != null && r.producer().is("Identity")) {
      r = r.producer().input(0);
    }
    return r.isInitializer() ? r : null;
  }
}
