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
 * resnet20 fixture (28x28 Fashion-MNIST input): the forward Conv; the input gradient
 * (ConvTranspose, what {@code Autodiff} emits); the weight gradient as {@code Autodiff} emits it
 * (im2col by one Gather + one GEMM per group); and the textbook weight gradient, a Conv of the
 * transposed input by the transposed output gradient (batch as channels, stride and dilation
 * swapped), then sliced and transposed. Each graph takes its operands as inputs (as in a training
 * step, where weights are inputs); the backward graphs are exactly what {@code
 * Autodiff.gradients} builds, with the forward and the loss pruned away.
 *
 * <p>Usage: {@code ConvGradBench [--batch N] [--threads T] [--runs R]}; prints the median of R
 * runs after R/4 warm-up runs, per shape, and the sums.
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
    System.out.printf("%-24s %9s %9s %9s %9s %8s %8s%n", "conv", "forward", "dX", "dW ours", "dW naive",
        "ours/fw", "naive/fw");
    double[] sum = new double[4];
    for (Shape2 s : RESNET20) {
      double[] t = measure(sessions, s, batch, runs);
      for (int i = 0; i < 4; i++) {
        sum[i] += t[i];
      }
      System.out.printf("%-24s %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f%n", s.name(), t[0], t[1], t[2], t[3], t[2] / t[0],
          t[3] / t[0]);
    }
    System.out.printf("%-24s %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f%n", "sum (one of each)", sum[0], sum[1], sum[2],
        sum[3], sum[2] / sum[0], sum[3] / sum[0]);
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
    double[] t = new double[4];
    Model[] models = {fwd, dx, dw, naive};
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
