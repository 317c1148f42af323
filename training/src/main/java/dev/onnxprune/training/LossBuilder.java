package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Builds a {@link Loss} into a graph and seeds the sweep.
 *
 * <p>Softmax cross-entropy: {@code L = -(1/N) sum_n sum_k t[n,k] log softmax(z)[n,k]} with
 * targets {@code t = (1 - eps) onehot(label) + eps / K}. Its gradient has the closed form
 * {@code dL/dz = (softmax(z) - t) / N} (the targets sum to 1), used directly as the seed of the
 * logits rather than differentiating the loss nodes.
 */
final class LossBuilder {
  private LossBuilder() {}

  /** Adds the loss nodes; puts the seeds of the sweep into {@code seeds}; returns the loss value. */
  static Value build(GradContext ctx, Loss loss, Map<Value, Value> seeds) {
    Graph g = ctx.g;
    if (loss instanceof Loss.CrossEntropy ce) {
      Value logits = output(g, ce.logits());
      if (g.lookup(ce.labels()) != null) {
        throw new GradientException("cannot add the labels input '" + ce.labels() + "': the model already has a"
            + " value of that name; choose another labels name");
      }
      long[] d = ctx.dims(logits);
      Shape batch = d.length == 2 ? Shape.of(List.of(logits.shape().dim(0))) : null;
      Value labels = g.addInput(ce.labels(), new ValueType.TensorType(DataType.INT64, batch));
      return crossEntropy(ctx, logits, labels, ce.labelSmoothing(), seeds);
    }
    if (loss instanceof Loss.Scalar s) {
      Value out = output(g, s.output());
      long[] d = ctx.dims(out);
      if (ConvGrads.prod(d) != 1) {
        throw new GradientException("loss output '" + s.output() + "' must hold one element, its shape is "
            + out.shape());
      }
      seeds.put(out, ctx.op("Reshape", List.of(ctx.scalarLike(1, out), ctx.ints(d))));
      return out;
    }
    Loss.Dot dot = (Loss.Dot) loss;
    List<Value> terms = new ArrayList<>();
    for (String name : dot.outputs()) {
      Value y = output(g, name);
      Value seed = g.addInput(Loss.seedName(name), y.type());
      seeds.put(y, seed);
      terms.add(ctx.reduceSum(ctx.mul(y, seed), GradContext.range(0, ctx.rank(y)), false));
    }
    return terms.size() == 1 ? terms.get(0) : ctx.op("Sum", terms);
  }

  /**
   * Mean softmax cross-entropy of {@code logits [N, K]} against INT64 {@code labels [N]}; when
   * {@code seeds} is not null, puts dL/dlogits there.
   */
  static Value crossEntropy(GradContext ctx, Value logits, Value labels, double eps, Map<Value, Value> seeds) {
    long[] d = ctx.dims(logits);
    if (d.length != 2 || d[1] < 1) {
      throw new GradientException("cross-entropy needs logits of shape [N, K] with K known, '" + logits.name()
          + "' has " + logits.shape());
    }
    long k = d[1];
    DataType t = ctx.dtype(logits);
    long[] classes = GradContext.range(0, (int) k);
    Value logp = ctx.op("LogSoftmax", List.of(logits), Attribute.of("axis", 1L));
    Value hit = ctx.op("Equal", List.of(ctx.unsqueeze(labels, 1), ctx.constant("classes", Tensor.ofLongs(
        new long[] {1, k}, classes))));
    Value target = ctx.op("Cast", List.of(hit), Attribute.of("to", (long) t.code()));
    if (eps > 0) {
      target = ctx.add(ctx.mul(target, ctx.scalar(1 - eps, t)), ctx.scalar(eps / k, t));
    }
    Value perSample = ctx.reduceSum(ctx.mul(target, logp), new long[] {1}, false);
    Value loss = ctx.neg(ctx.reduceMean(perSample, new long[] {0}, false));
    loss.setType(new ValueType.TensorType(t, Shape.scalar()));
    if (seeds != null) {
      Value n = ctx.count(labels, t);
      seeds.put(logits, ctx.div(ctx.sub(ctx.op("Exp", List.of(logp)), target), n));
    }
    return loss;
  }

  private static Value output(Graph g, String name) {
    for (Value v : g.outputs()) {
      if (v.name().equals(name)) {
        return v;
      }
    }
    List<String> names = new ArrayList<>();
    for (Value v : g.outputs()) {
      names.add(v.name());
    }
    throw new GradientException(Messages.unknownName("loss output", name, names));
  }
}
