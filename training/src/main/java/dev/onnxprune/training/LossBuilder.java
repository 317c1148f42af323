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

  /**
   * The distillation loss of {@code d} (see {@link Distillation}) against the teacher inputs
   * {@code teacher} (model output -> its teacher input), plus the cross-entropy of {@code logits}
   * against {@code labels} weighted {@code 1 - weight} when {@code labels} is not null; puts the
   * seeds of the sweep into {@code seeds}.
   */
  static Value distillation(GradContext ctx, Distillation d, Value logits, Value labels, double eps,
      Map<Value, Value> teacher, Map<Value, Value> seeds) {
    boolean mix = labels != null && d.weight() < 1;
    double w = mix ? d.weight() : 1;
    DataType t = ctx.dtype(logits);
    List<Value> terms = new ArrayList<>();
    for (Map.Entry<Value, Value> e : teacher.entrySet()) {
      Value y = e.getKey();
      Value[] ls = d.kind() == Distillation.Kind.KL ? kl(ctx, y, e.getValue(), d.temperature())
          : mse(ctx, y, e.getValue());
      terms.add(ls[0]);
      addSeed(ctx, seeds, y, ls[1], w);
    }
    Value loss = terms.size() == 1 ? terms.get(0) : ctx.op("Sum", terms);
    if (w != 1) {
      loss = ctx.mul(loss, ctx.scalar(w, t));
    }
    if (mix) {
      Map<Value, Value> ce = new java.util.IdentityHashMap<>();
      Value lce = crossEntropy(ctx, logits, labels, eps, ce);
      addSeed(ctx, seeds, logits, ce.get(logits), 1 - w);
      loss = ctx.add(loss, ctx.mul(lce, ctx.scalar(1 - w, t)));
    }
    loss.setType(new ValueType.TensorType(t, Shape.scalar()));
    return loss;
  }

  /**
   * {@code T^2 * mean_n KL(softmax(t_n / T) || softmax(s_n / T))} of logits {@code s, t [N, K]} and its
   * gradient {@code T (softmax(s / T) - softmax(t / T)) / N}.
   */
  static Value[] kl(GradContext ctx, Value s, Value teacher, double temperature) {
    DataType t = ctx.dtype(s);
    Value invT = ctx.scalar(1 / temperature, t);
    Value logPs = ctx.op("LogSoftmax", List.of(ctx.mul(s, invT)), Attribute.of("axis", 1L));
    Value logPt = ctx.op("LogSoftmax", List.of(ctx.mul(teacher, invT)), Attribute.of("axis", 1L));
    Value pt = ctx.op("Exp", List.of(logPt));
    Value perSample = ctx.reduceSum(ctx.mul(pt, ctx.sub(logPt, logPs)), new long[] {1}, false);
    Value loss = ctx.mul(ctx.reduceMean(perSample, new long[] {0}, false),
        ctx.scalar(temperature * temperature, t));
    Value n = ctx.op("Cast", List.of(ctx.op("Gather", List.of(ctx.op("Shape", List.of(s)), ctx.ints(0)))),
        Attribute.of("to", (long) t.code()));
    Value seed = ctx.div(ctx.mul(ctx.sub(ctx.op("Exp", List.of(logPs)), pt), ctx.scalar(temperature, t)), n);
    return new Value[] {loss, seed};
  }

  /** {@code mean((y - t)^2)} over every element, and its gradient {@code 2 (y - t) / size(y)}. */
  static Value[] mse(GradContext ctx, Value y, Value teacher) {
    DataType t = ctx.dtype(y);
    Value diff = ctx.sub(y, teacher);
    Value loss = ctx.op("ReduceMean", List.of(ctx.mul(diff, diff)), Attribute.of("keepdims", 0L));
    Value seed = ctx.div(ctx.mul(diff, ctx.scalar(2, t)), ctx.count(y, t));
    return new Value[] {loss, seed};
  }

  /** Adds {@code weight * seed} to the seed of {@code v}. */
  private static void addSeed(GradContext ctx, Map<Value, Value> seeds, Value v, Value seed, double weight) {
    Value s = weight == 1 ? seed : ctx.mul(seed, ctx.scalar(weight, ctx.dtype(v)));
    seeds.merge(v, s, ctx::add);
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
