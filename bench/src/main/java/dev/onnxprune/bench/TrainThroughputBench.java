package dev.onnxprune.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.training.ArtifactSpec;
import dev.onnxprune.training.Distillation;
import dev.onnxprune.training.NchwcConvs;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.TrainingArtifact;
import dev.onnxprune.training.TrainingOptions;
import dev.onnxprune.training.TrainingSession;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Training-step throughput of the exported training artifact in ONNX Runtime CPU: SGD (momentum
 * 0.9, weight decay 5e-4) steps of a fixture model (default resnet20) on random batches, through
 * {@link TrainingSession} (parameters stay ONNX Runtime tensors between steps). Prints one line
 * {@code RESULT side=ort images_per_s=... ms_per_step=... median_ms=... first_step_ms=...
 * cpu_ms_per_step=...} (the first step includes ONNX Runtime's allocations; CPU time is the
 * process's, over the measured steps, less sensitive than wall time to other jobs on shared
 * cores); {@code bench/train-throughput.sh}
 * runs it and {@code bench/train_throughput.py} (PyTorch) back to back.
 *
 * <p>Usage: {@code TrainThroughputBench [--model resnet20.onnx] [--batch 64] [--threads 2]
 * [--warmup 5] [--steps 40] [--teacher] [--profile] [--forward]}. With {@code --teacher} each step also
 * runs the teacher (the same model, uncached) and distils from it (KL, T 4, weight 0.5). With {@code --profile} it also runs ONNX
 * Runtime's profiler over the measured steps and prints the time per op type; with {@code
 * --forward}, the inference forward with and without ONNX Runtime's NCHWc Conv rewrite.
 *
 * <p>The profiled session takes system properties: {@code bench.spin=1} lets its intra-op threads
 * spin, {@code bench.inter=K} runs ONNX Runtime's parallel executor with K inter-op threads, and
 * {@code bench.noprofile=true} only prints the median wall time of its steps (to compare those
 * settings). {@code onnxprune.spin=1} does the same for the {@link TrainingSession} run.
 */
public final class TrainThroughputBench {
  public static void main(String[] args) throws Exception {
    String model = stringArg(args, "--model", "resnet20.onnx");
    int batch = intArg(args, "--batch", 64);
    int threads = intArg(args, "--threads", 2);
    int warmup = intArg(args, "--warmup", 5);
    int steps = intArg(args, "--steps", 40);
    boolean profile = Arrays.asList(args).contains("--profile");
    boolean withTeacher = Arrays.asList(args).contains("--teacher");

    Model m = OnnxModels.read(TestModels.model(model));
    TrainingOptions.Builder ob = TrainingOptions.builder().optimizer(Optimizer.sgd(0.9, 5e-4));
    if (withTeacher) {
      ob.distillation(Distillation.kl(4, 0.5));
    }
    TrainingArtifact artifact = TrainingArtifact.build(m, ob.build());
    List<Batch> batches = batches(batch, 8);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    // the teacher (the same model, as when a model distils into its own pruned copy) runs on every
    // step: the cost of a first epoch, or of every epoch when the data is augmented
    List<String> taught = List.copyOf(artifact.spec().teacher().keySet());
    try (Runner teacher = withTeacher ? Runner.open(sessions, m) : null;
        TrainingSession s = TrainingSession.open(artifact, sessions)) {
      Step step = b -> {
        if (teacher == null) {
          s.step(b, 0.01);
        } else {
          s.step(b, 0.01, teacher.run(b, taught));
        }
      };
      double first = 0;
      for (int i = 0; i < warmup; i++) {
        long t0 = System.nanoTime();
        step.run(batches.get(i % batches.size()));
        if (i == 0) {
          first = (System.nanoTime() - t0) / 1e6;
        }
      }
      double[] ms = new double[steps];
      var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
          .getOperatingSystemMXBean();
      long cpu0 = os.getProcessCpuTime();
      for (int i = 0; i < steps; i++) {
        long t0 = System.nanoTime();
        step.run(batches.get(i % batches.size()));
        ms[i] = (System.nanoTime() - t0) / 1e6;
      }
      // CPU time of the whole process per step: the work, less sensitive than wall time to other jobs
      double cpu = (os.getProcessCpuTime() - cpu0) / 1e6 / steps;
      double total = Arrays.stream(ms).sum();
      double[] sorted = ms.clone();
      Arrays.sort(sorted);
      double median = sorted[steps / 2];
      System.out.printf(Locale.ROOT, "RESULT side=ort model=%s teacher=%s batch=%d threads=%d steps=%d"
          + " images_per_s=%.1f ms_per_step=%.2f median_ms=%.2f first_step_ms=%.2f cpu_ms_per_step=%.2f%n", model,
          withTeacher ? "yes" : "no", batch, threads, steps, steps * batch / (total / 1e3), total / steps, median, first, cpu);
    }
    if (profile) {
      profile(artifact, batches, threads, warmup, steps);
    }
    if (Arrays.asList(args).contains("--forward")) {
      forward(model, batches.get(0), threads, steps);
    }
  }

  /** One measured training step on a batch. */
  private interface Step {
    void run(Batch b) throws Exception;
  }

  /**
   * Inference forward of the model (weights constant) with all graph optimizations, where ONNX
   * Runtime rewrites Conv into its blocked NCHWc kernels, and with the extended level only, which
   * keeps the plain Conv (im2col + GEMM) that a training step, whose weights are inputs, gets.
   */
  private static void forward(String model, Batch b, int threads, int runs) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    for (var level : List.of(OrtSession.SessionOptions.OptLevel.ALL_OPT,
        OrtSession.SessionOptions.OptLevel.EXTENDED_OPT)) {
      try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
        o.setIntraOpNumThreads(threads);
        o.setOptimizationLevel(level);
        try (OrtSession s = env.createSession(TestModels.model(model).toString(), o);
            OnnxTensor x = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(b.inputs()), b.shape())) {
          String in = s.getInputNames().iterator().next();
          for (int i = 0; i < 5; i++) {
            s.run(Map.of(in, x)).close();
          }
          double[] ms = new double[runs];
          for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            s.run(Map.of(in, x)).close();
            ms[i] = (System.nanoTime() - t0) / 1e6;
          }
          Arrays.sort(ms);
          System.out.printf(Locale.ROOT, "FORWARD inference %s: median %.2f ms (batch %d)%n",
              level == OrtSession.SessionOptions.OptLevel.ALL_OPT ? "all optimizations (NCHWc Conv)"
                  : "extended optimizations (plain Conv, as in training)", ms[runs / 2], b.size());
        }
      }
    }
  }

  /** Runs the training step with ONNX Runtime's profiler and prints the share of time per op type. */
  private static void profile(TrainingArtifact artifact, List<Batch> batches, int threads, int warmup, int steps)
      throws Exception {
    Path dir = Files.createTempDirectory("train-profile");
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    ArtifactSpec spec = artifact.spec();
    Map<String, OnnxTensor> state = new HashMap<>();
    for (var v : artifact.checkpoint().graph().initializers()) {
      float[] f = v.initializer().toFloatArray();
      state.put(v.name(), OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(f), v.initializer().dims()));
    }
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
      o.setIntraOpNumThreads(threads);
      o.addConfigEntry("session.intra_op.allow_spinning", System.getProperty("bench.spin", "0"));
      if (Integer.getInteger("bench.inter", 0) > 0) {
        o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.PARALLEL);
        o.setInterOpNumThreads(Integer.getInteger("bench.inter"));
        o.addConfigEntry("session.inter_op.allow_spinning", "0");
      }
      if (!Boolean.getBoolean("bench.noprofile")) {
        o.enableProfiling(dir.resolve("ort").toString());
      }
      // the step as TrainingSession runs it on the CPU: Convs on ONNX Runtime's NCHWc kernels
      Model step = OnnxModels.read(OnnxModels.toBytes(artifact.trainStep()), null);
      if (!"false".equals(System.getProperty("onnxprune.nchwc"))) {
        System.out.println("PROFILE Convs on NCHWc kernels: " + NchwcConvs.apply(step));
      }
      try (OrtSession s = env.createSession(OnnxModels.toBytes(step), o)) {
        List<OnnxTensor> temp = new ArrayList<>();
        List<Double> wall = new ArrayList<>();
        for (int i = 0; i < warmup + steps; i++) {
          Batch b = batches.get(i % batches.size());
          Map<String, OnnxTensor> in = new HashMap<>(state);
          OnnxTensor x = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(b.inputs()), b.shape());
          OnnxTensor y = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(b.labels()), new long[] {b.size()});
          OnnxTensor lr = OnnxTensor.createTensor(env, 0.01f);
          in.put(spec.input(), x);
          in.put(spec.labels(), y);
          in.put(spec.learningRate(), lr);
          long t0 = System.nanoTime();
          s.run(in).close();
          wall.add((System.nanoTime() - t0) / 1e6);
          x.close();
          y.close();
          lr.close();
        }
        List<Double> w = new ArrayList<>(wall.subList(warmup, wall.size()));
        java.util.Collections.sort(w);
        System.out.printf(Locale.ROOT, "PROFILE wall median %.2f ms per step%n", w.get(w.size() / 2));
        if (Boolean.getBoolean("bench.noprofile")) {
          return;
        }
        String file = s.endProfiling();
        report(Path.of(file), warmup);
        temp.forEach(OnnxTensor::close);
      }
    }
    state.values().forEach(OnnxTensor::close);
  }

  private static void report(Path file, int skipRuns) throws Exception {
    JsonNode events = new ObjectMapper().readTree(file.toFile());
    Map<String, Double> byOp = new HashMap<>();
    Map<String, Double> byPhase = new HashMap<>();
    Map<String, Integer> count = new HashMap<>();
    int runs = 0;
    double total = 0;
    for (JsonNode e : events) {
      String name = e.path("name").asText();
      if (e.path("cat").asText().equals("Session") && name.equals("model_run")) {
        runs++;
      }
      if (runs <= skipRuns || !e.path("cat").asText().equals("Node") || !name.endsWith("_kernel_time")) {
        continue;
      }
      String op = e.path("args").path("op_name").asText("?");
      double us = e.path("dur").asDouble();
      String node = name.substring(0, name.length() - "_kernel_time".length());
      String phase = node.startsWith("grad/") ? "backward" : node.startsWith("optimizer/") ? "optimizer"
          : node.contains("/train") ? "forward (BN batch statistics)" : node.startsWith("loss") ? "loss" : "forward";
      byPhase.merge(phase + " " + op, us, Double::sum);
      byOp.merge(op, us, Double::sum);
      count.merge(op, 1, Integer::sum);
      total += us;
    }
    int measured = Math.max(1, runs - skipRuns);
    System.out.printf(Locale.ROOT, "PROFILE kernel time per step %.1f ms over %d steps; by op type:%n",
        total / 1e3 / measured, measured);
    final double sum = total;
    byOp.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue())).limit(15).forEach(e ->
        System.out.printf(Locale.ROOT, "  %-22s %8.2f ms/step %5.1f%% %5d nodes%n", e.getKey(),
            e.getValue() / 1e3 / measured, 100 * e.getValue() / sum, count.get(e.getKey()) / measured));
    System.out.println("by phase and op type:");
    byPhase.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue())).limit(25).forEach(e ->
        System.out.printf(Locale.ROOT, "  %-44s %8.2f ms/step %5.1f%%%n", e.getKey(), e.getValue() / 1e3 / measured,
            100 * e.getValue() / sum));
  }

  private static List<Batch> batches(int n, int count) {
    Random r = new Random(42);
    List<Batch> out = new ArrayList<>();
    for (int b = 0; b < count; b++) {
      float[] x = new float[n * 28 * 28];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) r.nextGaussian();
      }
      long[] y = new long[n];
      for (int i = 0; i < n; i++) {
        y[i] = r.nextInt(10);
      }
      out.add(new Batch(x, new long[] {n, 1, 28, 28}, y));
    }
    return out;
  }

  static int intArg(String[] args, String name, int dflt) {
    String v = stringArg(args, name, null);
    return v == null ? dflt : Integer.parseInt(v);
  }

  static String stringArg(String[] args, String name, String dflt) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return args[i + 1];
      }
    }
    return dflt;
  }
}
