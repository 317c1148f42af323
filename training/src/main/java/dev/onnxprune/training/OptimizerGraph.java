package dev.onnxprune.training;

import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.List;

/** Emits the update of {@link Optimizer} for each parameter (formulas in its class comment). */
final class OptimizerGraph {
  private final GradContext ctx;
  private final Optimizer optimizer;
  private final Value lr;
  private final Value step;
  private Value stepSize;
  private Value sqrtBias2;
  private Value decayFactor;

  OptimizerGraph(GradContext ctx, Optimizer optimizer, Value lr, Value step) {
    this.ctx = ctx;
    this.optimizer = optimizer;
    this.lr = lr;
    this.step = step;
  }

  /**
   * @param mask 0/1 tensor of the parameter's shape, or null
   * @param states current optimizer state, in {@link Optimizer#stateNames()} order
   * @return the updated parameter followed by the updated states
   */
  List<Value> update(String name, Value p, Value grad, Value mask, List<Value> states) {
    ctx.insertBefore(null, "optimizer/" + name);
    DataType t = ctx.dtype(p);
    if (t != DataType.FLOAT) {
      throw new GradientException("parameter '" + name + "' is " + t + "; the optimizers update FLOAT parameters");
    }
    Value g = mask == null ? grad : ctx.mul(grad, mask);
    List<Value> out = new ArrayList<>();
    Value next;
    if (optimizer instanceof Optimizer.Sgd sgd) {
      if (sgd.weightDecay() > 0) {
        g = ctx.add(g, ctx.mul(p, ctx.scalar(sgd.weightDecay(), t)));
      }
      Value d = g;
      Value buf = null;
      if (sgd.momentum() > 0) {
        Value damped = sgd.dampening() == 0 ? g : ctx.mul(g, ctx.scalar(1 - sgd.dampening(), t));
        buf = ctx.add(ctx.mul(states.get(0), ctx.scalar(sgd.momentum(), t)), damped);
        d = sgd.nesterov() ? ctx.add(g, ctx.mul(buf, ctx.scalar(sgd.momentum(), t))) : buf;
      }
      next = ctx.sub(p, ctx.mul(d, lr));
      out.add(next);
      if (buf != null) {
        out.add(buf);
      }
    } else {
      Optimizer.Adam adam = (Optimizer.Adam) optimizer;
      prepareAdam(adam);
      Value base = p;
      if (adam.weightDecay() > 0 && adam.decoupled()) {
        base = ctx.mul(p, decayFactor);
      } else if (adam.weightDecay() > 0) {
        g = ctx.add(g, ctx.mul(p, ctx.scalar(adam.weightDecay(), t)));
      }
      Value m = ctx.add(ctx.mul(states.get(0), ctx.scalar(adam.beta1(), t)), ctx.mul(g, ctx.scalar(1 - adam.beta1(), t)));
      Value v = ctx.add(ctx.mul(states.get(1), ctx.scalar(adam.beta2(), t)),
          ctx.mul(ctx.mul(g, g), ctx.scalar(1 - adam.beta2(), t)));
      Value denom = ctx.add(ctx.div(ctx.op("Sqrt", List.of(v)), sqrtBias2), ctx.scalar(adam.epsilon(), t));
      next = ctx.sub(base, ctx.mul(ctx.div(m, denom), stepSize));
      out.add(next);
      out.add(m);
      out.add(v);
    }
    if (mask != null) {
      out.set(0, ctx.mul(out.get(0), mask));
    }
    ctx.insertBefore(null, "grad");
    return out;
  }

  /** The scalars shared by every parameter: lr / (1 - b1^t), sqrt(1 - b2^t), 1 - lr * wd. */
  private void prepareAdam(Optimizer.Adam adam) {
    if (stepSize != null) {
      return;
    }
    DataType t = DataType.FLOAT;
    Value tf = ctx.op("Cast", List.of(step), Attribute.of("to", (long) t.code()));
    Value one = ctx.scalar(1, t);
    Value bias1 = ctx.sub(one, ctx.op("Pow", List.of(ctx.scalar(adam.beta1(), t), tf)));
    Value bias2 = ctx.sub(one, ctx.op("Pow", List.of(ctx.scalar(adam.beta2(), t), tf)));
    stepSize = ctx.div(lr, bias1);
    sqrtBias2 = ctx.op("Sqrt", List.of(bias2));
    if (adam.decoupled() && adam.weightDecay() > 0) {
      decayFactor = ctx.sub(one, ctx.mul(lr, ctx.scalar(adam.weightDecay(), t)));
    }
  }
}
