package dev.onnxprune.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.training.Autodiff;
import dev.onnxprune.training.Loss;
import dev.onnxprune.training.NchwcConvs;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Conv forward against its backward in ONNX Runtime CPU, on the convolution shapes of the
 * resnet20 fixture (28x28 Fashion-MNIST input), each graph taking its operands as inputs (as in a
 * training step): the forward Conv; the input gradient and the weight gradient exactly as {@code
 * Autodiff.gradients} builds them (forward and loss pruned away); the textbook weight gradient (a
 * Conv of the transposed input by the transposed output gradient, batch as channels, sliced and
 * transposed); then the forward and the input gradient after {@code NchwcConvs} (ONNX Runtime's
 * NCHWc kernels, as {@code TrainingSession} runs them on the CPU), and a weight gradient whose
 * per-offset patches come from depthwise Convs with constant one-hot weights (which ONNX Runtime
 * itself moves to its NCHWc kernels) instead of Pad, Transpose and Slice.
 *
 * <p>Usage: {@code ConvGradBench [--batch N] [--threads T] [--runs R]}; prints the median of R
 * runs after R/4 warm-up runs, per shape, and the sums; with {@code -Dbench.cpu=true} the mean
 * process CPU time per run instead (10 ms clock ticks: use R of 40 or more), which other jobs on
 * shared cores disturb less than wall time.
 */
public final class ConvGradBench {
  /** One convolution of resnet20: channels in/out, input size, kernel, stride, pad. */
  record Shape2(String name, long cin, long cout, long size, long k, long stride, long pad) {}

  static final List<Shape2> RESNET20 = List.of(
      new Shape2("stem 1->16 28x28", 1, 16, 28, 3, 1, 1),
      new Shape2("stage1 16->16 28x28", 16, 16, 28, 3, 1, 1),
      new Shape2("stage2 16->32 s2", 16, 32, 28, 3, 2, 1),
      new Shape2("stage2 32->32 14x14", 32, 32, 14, 3, 1, 1),
      new Shape2("stage3 32->64 s2", 32, 64, 14, 3, 2, 1),
      new Shape2("stage3 64->64 7x7", 64, 64, 7, 3, 1, 1),
      new Shape2("shortcut 1x1 16->32 s2", 16, 32, 28, 1, 2, 0),
      new Shape2("shortcut 1x1 32->64 s2", 32, 64, 14, 1, 2, 0));

  public static void main(String[] args) throws Exception {
    int batch = intArg(args, "--batch", 32);
    int threads = intArg(args, "--threads", 1);
    int runs = intArg(args, "--runs", 40);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    System.out.printf("ONNX Runtime CPU, %d intra-op thread(s), batch %d, median of %d runs (ms)%n", threads, batch,
        runs);
    System.out.printf("%-24s %9s %9s %9s %9s %9s %9s %9s%n", "conv", "forward", "dX", "dW ours", "dW naive",
        "fw nchwc", "dX nchwc", "dW shift");
    double[] sum = new double[7];
    for (Shape2 s : RESNET20) {
      double[] t = measure(sessions, s, batch, runs);
      for (int i = 0; i < t.length; i++) {
        sum[i] += t[i];
      }
      System.out.printf("%-24s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f%n", s.name(), t[0], t[1], t[2], t[3], t[4],
          t[5], t[6]);
    }
    System.out.printf("%-24s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f%n", "sum (one of each)", sum[0], sum[1],
        sum[2], sum[3], sum[4], sum[5], sum[6]);
  }

  private static double[] measure(Sessions sessions, Shape2 s, int n, int runs) throws Exception {
    long out = (s.size() + 2 * s.pad() - s.k()) / s.stride() + 1;
    long[] xs = {n, s.cin(), s.size(), s.size()};
    long[] ws = {s.cout(), s.cin(), s.k(), s.k()};
    long[] ys = {n, s.cout(), out, out};
    Attribute[] attrs = {Attribute.of("kernel_shape", new long[] {s.k(), s.k()}),
        Attribute.of("strides", new long[] {s.stride(), s.stride()}),
        Attribute.of("pads", new long[] {s.pad(), s.pad(), s.pad(), s.pad()})};
    Model fwd = model(xs, ws, attrs);
    Model dx = backward(fwd, "x");
    Model dw = backward(fwd, "w");
    Model naive = naiveWeightGrad(xs, ys, s);
    Random rnd = new Random(1);
    Map<String, float[]> data = new HashMap<>();
    data.put("x", random(rnd, xs));
    data.put("w", random(rnd, ws));
    data.put(Loss.seedName("y"), random(rnd, ys));
    Map<String, long[]> shapes = Map.of("x", xs, "w", ws, Loss.seedName("y"), ys);
    Model fwdN = model(xs, ws, attrs);
    NchwcConvs.apply(fwdN);
    Model dxN = backward(fwd, "x");
    NchwcConvs.apply(dxN);
    Model shift = shiftWeightGrad(xs, ys, s);
    float[] ref = once(sessions, dw, data, shapes);
    float[] got = once(sessions, shift, data, shapes);
    double err = 0;
    double scale = 0;
    for (int i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(ref[i] - got[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    System.out.printf("  %s: shift dW against ours: max abs difference %.2e of max %.2e%n", s.name(), err, scale);
    Model[] models = {fwd, dx, dw, naive, fwdN, dxN, shift};
    double[] t = new double[models.length];
    for (int i = 0; i < models.length; i++) {
      t[i] = time(sessions, models[i], data, shapes, runs);
    }
    return t;
  }

  /** y = Conv(x, w), operands as inputs. */
  private static Model model(long[] xs, long[] ws, Attribute[] attrs) {
    Graph g = new Graph("conv");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(xs)));
    Value w = g.addInput("w", new ValueType.TensorType(DataType.FLOAT, Shape.of(ws)));
    g.addOutput(g.addNode("Conv", "conv", List.of(x, w), List.of("y"), attrs).output(0));
    return withOpset(new Model(g));
  }

  /** What Autodiff builds for dL/d{@code wrt} given dL/dy (the seed input), forward and loss removed. */
  private static Model backward(Model fwd, String wrt) {
    Model m = Autodiff.gradients(fwd, Loss.dot("y"), List.of(wrt));
    Graph g = m.graph();
    for (int i = g.outputs().size() - 1; i >= 0; i--) {
      if (!g.outputs().get(i).name().equals(Autodiff.gradientName(wrt))) {
        g.removeOutput(i);
      }
    }
    g.removeDeadCode();
    for (Value in : new ArrayList<>(g.inputs())) {
      if (in.uses().isEmpty() && !in.isInitializer()) {
        g.removeInput(in);
      }
    }
    return m;
  }

  /**
   * The textbook weight gradient: {@code dW^T = Conv(x^T, dy^T)} with the batch as channels, the
   * forward's dilation as stride and stride as dilation, sliced to the kernel and transposed back.
   */
  private static Model naiveWeightGrad(long[] xs, long[] ys, Shape2 s) {
    Graph g = new Graph("naive_dw");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(xs)));
    Value dy = g.addInput(Loss.seedName("y"), new ValueType.TensorType(DataType.FLOAT, Shape.of(ys)));
    long[] perm = {1, 0, 2, 3};
    Value xt = g.addNode("Transpose", "xt", List.of(x), List.of("xt"), Attribute.of("perm", perm)).output(0);
    Value dyt = g.addNode("Transpose", "dyt", List.of(dy), List.of("dyt"), Attribute.of("perm", perm)).output(0);
    Value c = g.addNode("Conv", "conv", List.of(xt, dyt), List.of("c"),
        Attribute.of("strides", new long[] {1, 1}), Attribute.of("dilations", new long[] {s.stride(), s.stride()}),
        Attribute.of("pads", new long[] {s.pad(), s.pad(), s.pad(), s.pad()})).output(0);
    Value starts = g.addInitializer("starts", Tensor.vector(0, 0));
    Value ends = g.addInitializer("ends", Tensor.vector(s.k(), s.k()));
    Value axes = g.addInitializer("axes", Tensor.vector(2, 3));
    Value sl = g.addNode("Slice", "slice", List.of(c, starts, ends, axes), List.of("sl")).output(0);
    g.addOutput(g.addNode("Transpose", "dw", List.of(sl), List.of("w_grad"), Attribute.of("perm", perm)).output(0));
    return withOpset(new Model(g));
  }

  /**
   * The weight gradient with each kernel offset's patch made by a depthwise Conv whose constant
   * one-hot weight picks that offset (padding, stride, dilation of the forward; ONNX Runtime runs
   * it on its NCHWc kernels), times dy transposed once: {@code [N, C, L] x [N, L, M]}.
   */
  private static Model shiftWeightGrad(long[] xs, long[] ys, Shape2 s) {
    Graph g = new Graph("shift_dw");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(xs)));
    Value dy = g.addInput(Loss.seedName("y"), new ValueType.TensorType(DataType.FLOAT, Shape.of(ys)));
    long n = xs[0];
    long c = xs[1];
    long m = ys[1];
    long l = ys[2] * ys[3];
    long kk = s.k() * s.k();
    Value dr = g.addNode("Reshape", "dr", List.of(dy, g.addInitializer("ds", Tensor.vector(n, m, l))),
        List.of("dr")).output(0);
    Value dt = g.addNode("Transpose", "dt", List.of(dr), List.of("dt"), Attribute.of("perm",
        new long[] {0, 2, 1})).output(0);
    Value xshape = g.addInitializer("xs", Tensor.vector(n, c, l));
    List<Value> prods = new ArrayList<>();
    for (int k = 0; k < kk; k++) {
      float[] w = new float[(int) (c * kk)];
      for (int ch = 0; ch < c; ch++) {
        w[(int) (ch * kk + k)] = 1f;
      }
      Value wk = g.addInitializer("w" + k, Tensor.ofFloats(new long[] {c, 1, s.k(), s.k()}, w));
      Value xk = g.addNode("Conv", "shift" + k, List.of(x, wk), List.of("xk" + k), Attribute.of("group", c),
          Attribute.of("strides", new long[] {s.stride(), s.stride()}),
          Attribute.of("pads", new long[] {s.pad(), s.pad(), s.pad(), s.pad()})).output(0);
      Value xr = g.addNode("Reshape", "xr" + k, List.of(xk, xshape), List.of("xr" + k)).output(0);
      prods.add(g.addNode("MatMul", "mm" + k, List.of(xr, dt), List.of("p" + k)).output(0));
    }
    Value cat = g.addNode("Concat", "cat", prods, List.of("cat"), Attribute.of("axis", 2L)).output(0);
    Value sum = g.addNode("ReduceSum", "sum", List.of(cat, g.addInitializer("ax", Tensor.vector(0))), List.of("sum"),
        Attribute.of("keepdims", 0L)).output(0);
    Value sr = g.addNode("Reshape", "sr", List.of(sum, g.addInitializer("ss", Tensor.vector(c, kk, m))),
        List.of("sr")).output(0);
    Value st = g.addNode("Transpose", "st", List.of(sr), List.of("st"), Attribute.of("perm",
        new long[] {2, 0, 1})).output(0);
    g.addOutput(g.addNode("Reshape", "dw", List.of(st, g.addInitializer("ws", Tensor.vector(m, c, s.k(), s.k()))),
        List.of("w_grad")).output(0));
    return withOpset(new Model(g));
  }

  private static Model withOpset(Model m) {
    m.opsets().add(new OpsetId("", 17));
    m.setIrVersion(8L);
    return m;
  }

  private static double time(Sessions sessions, Model m, Map<String, float[]> data, Map<String, long[]> shapes,
      int runs) throws Exception {
    try (OrtSession s = sessions.open(m)) {
      Map<String, OnnxTensor> in = new HashMap<>();
      try {
        for (String name : s.getInputNames()) {
          float[] d = data.get(name);
          ByteBuffer b = ByteBuffer.allocateDirect(4 * d.length).order(ByteOrder.nativeOrder());
          b.asFloatBuffer().put(d);
          in.put(name, OnnxTensor.createTensor(Sessions.environment(), b.asFloatBuffer(), shapes.get(name)));
        }
        for (int i = 0; i < Math.max(3, runs / 4); i++) {
          s.run(in).close();
        }
        if (Boolean.getBoolean("bench.cpu")) {
          var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
              .getOperatingSystemMXBean();
          long c0 = os.getProcessCpuTime();
          for (int i = 0; i < runs; i++) {
            s.run(in).close();
          }
          return (os.getProcessCpuTime() - c0) / 1e6 / runs;
        }
        double[] t = new double[runs];
        for (int i = 0; i < runs; i++) {
          long t0 = System.nanoTime();
          s.run(in).close();
          t[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[runs / 2];
      } finally {
        in.values().forEach(OnnxTensor::close);
      }
    }
  }

  private static float[] once(Sessions sessions, Model m, Map<String, float[]> data, Map<String, long[]> shapes)
      throws Exception {
    try (OrtSession s = sessions.open(m)) {
      Map<String, OnnxTensor> in = new HashMap<>();
      for (String name : s.getInputNames()) {
        in.put(name, OnnxTensor.createTensor(Sessions.environment(), java.nio.FloatBuffer.wrap(data.get(name)),
            shapes.get(name)));
      }
      try (OrtSession.Result r = s.run(in)) {
        java.nio.FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
        float[] f = new float[fb.remaining()];
        fb.get(f);
        return f;
      } finally {
        in.values().forEach(OnnxTensor::close);
      }
    }
  }

  private static float[] random(Random rnd, long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    float[] f = new float[(int) n];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) rnd.nextGaussian();
    }
    return f;
  }

  private static int intArg(String[] args, String name, int dflt) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return Integer.parseInt(args[i + 1]);
      }
    }
    return dflt;
  }
}
