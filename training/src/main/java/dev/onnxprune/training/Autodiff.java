package dev.onnxprune.training;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.shape.ShapeInference;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode differentiation of an ONNX inference graph into a graph of standard ONNX ops that
 * computes a loss and its gradients (runnable by stock ONNX Runtime, CPU or CUDA).
 *
 * <p>The rules cover Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu,
 * Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Add, Sub, Mul, Div, Neg, MaxPool, AveragePool,
 * GlobalAveragePool, ReduceMean, ReduceSum, Concat, Split, Slice, Flatten, Reshape, Transpose,
 * Squeeze, Unsqueeze, Pad, Dropout, Identity, Softmax, LogSoftmax, and for transformers
 * LayerNormalization, Erf, Sqrt, Exp, Log, Reciprocal, Pow, Where, Expand, Gather and Cast. Only the ops between a
 * value being differentiated and the loss need a rule; shape computations and constants need
 * none.
 */
public final class Autodiff {
  private Autodiff() {}

  /** {@link #gradients(Model, Loss, List, BatchNormMode)} with BatchNormalization in inference mode. */
  public static Model gradients(Model model, Loss loss, List<String> wrt) {
    return gradients(model, loss, wrt, BatchNormMode.INFERENCE);
  }

  /**
   * A model that computes {@code loss} and its gradient with respect to each value named in
   * {@code wrt}: graph inputs (e.g. per-channel mask inputs), initializers (weights, which stay
   * initializers) or intermediate values (activations, for Taylor scores). The input model is not
   * changed.
   *
   * <p>Outputs, in order: {@value Loss#OUTPUT} (a scalar), then {@code <name>_grad} for each name of
   * {@code wrt} (same shape as the value; zeros when the loss does not depend on it), then the
   * model's own outputs. Inputs: the model's inputs plus what the loss adds (the INT64 labels of
   * {@link Loss.CrossEntropy}, the seeds of {@link Loss.Dot}). Dropout stays in inference mode.
   *
   * @throws GradientException when a name is unknown, an op on the path has no gradient rule, or a
   *     shape a rule needs is unknown (the message names the node)
   */
  public static Model gradients(Model model, Loss loss, List<String> wrt, BatchNormMode mode) {
    Model work = model.copy();
    Models.prepare(work);
    var shapes = ShapeInference.infer(work);
    Graph g = work.graph();
    GradContext ctx = new GradContext(work);
    ctx.useShapeData(shapes);
    if (mode == BatchNormMode.TRAINING) {
      for (Node n : new ArrayList<>(g.nodes())) {
        if (n.is("BatchNormalization")) {
          NormGrads.toTraining(ctx, n, RunningVariance.UNBIASED);
        }
      }
    }
    Map<String, Value> targets = new LinkedHashMap<>();
    for (String name : wrt) {
      Value v = g.lookup(name);
      if (v == null) {
        List<String> known = new ArrayList<>();
        known.addAll(Models.names(g.runtimeInputs()));
        known.addAll(Models.names(g.initializers()));
        throw new GradientException(Messages.unknownName("value to differentiate", name, known));
      }
      targets.put(name, v);
    }
    List<Value> originalOutputs = new ArrayList<>(g.outputs());
    Map<Value, Value> seeds = new IdentityHashMap<>();
    Value lossValue = LossBuilder.build(ctx, loss, seeds);
    Map<Value, Value> grads = ctx.differentiate(seeds, targets.values());

    Models.clearOutputs(g);
    Models.exposeAs(ctx, lossValue, Loss.OUTPUT, lossValue.type());
    for (Map.Entry<String, Value> e : targets.entrySet()) {
      Models.exposeAs(ctx, grads.get(e.getValue()), gradientName(e.getKey()), e.getValue().type());
    }
    for (Value v : originalOutputs) {
      if (!v.isGraphOutput()) {
        g.addOutput(v);
      }
    }
    g.removeDeadCode();
    return work;
  }

  /** The output name of the gradient of {@code name}: {@code <name>_grad}. */
  public static String gradientName(String name) {
    return name + "_grad";
  }
}
