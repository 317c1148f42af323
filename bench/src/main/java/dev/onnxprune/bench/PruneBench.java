package dev.onnxprune.bench;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.prune.SpeedCheck;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Benchmark of structured pruning end to end: read, analyse, score (L1), allocate (--flops
 * 0.5, the library's default widths), apply and write a model, against reading and writing the
 * same model, alternating in one JVM; then ONNX Runtime CPU latency of the pruned and the original
 * model at batch 32, in alternating pairs ({@link SpeedCheck}).
 *
 * <p>Usage: {@code PruneBench MODEL [--pairs N] [--batch B] [--threads T] [--runs R] [--latency 0|1]}.
 */
public final class PruneBench {
  public static void main(String[] args) throws Exception {
    Path model = Path.of(args.length > 0 ? args[0] : "testmodels/zoo/resnet50.onnx");
    int pairs = intArg(args, "--pairs", 5);
    int batch = intArg(args, "--batch", 32);
    int threads = intArg(args, "--threads", 2);
    int runs = intArg(args, "--runs", 10);
    if (!Files.exists(model)) {
      System.err.println("missing " + model + "; export it with: /usr/bin/python3 testmodels/export_zoo.py resnet50");
      System.exit(2);
    }
    Path dir = Files.createTempDirectory("prune-bench");
    Path rw = dir.resolve("rw.onnx");
    Path pruned = dir.resolve("pruned.onnx");
    // Warm-up of both paths.
    readWrite(model, rw);
    prune(model, pruned);
    List<Double> tRw = new ArrayList<>();
    List<Double> tPrune = new ArrayList<>();
    List<Double> ratio = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      double a = prune(model, pruned);
      double b = readWrite(model, rw);
      tPrune.add(a);
      tRw.add(b);
      ratio.add(a / b);
    }
    long mb = Files.size(model) >> 20;
    System.out.printf("model %s (%d MiB), %d pairs%n", model, mb, pairs);
    System.out.printf("  read+write                 median %7.3f s%n", median(tRw));
    System.out.printf("  read+analyse+plan+apply+write median %7.3f s%n", median(tPrune));
    System.out.printf("  ratio prune/read+write     median %7.2f  (min %.2f, max %.2f)  target < 1.5%n", median(ratio),
        ratio.stream().mapToDouble(d -> d).min().orElse(0), ratio.stream().mapToDouble(d -> d).max().orElse(0));

    System.out.print("  phases (median s):");
    PHASES.forEach((k, v) -> System.out.printf(" %s %.3f", k, median(v)));
    System.out.println();
    if (intArg(args, "--latency", 1) == 0) {
      return;
    }
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5)).build()
        .prune(OnnxModels.read(model));
    PruneReport.Speed s = SpeedCheck.measure(new Sessions(Device.CPU, 0, threads), model, pruned,
        new SpeedCheck.Timing(batch, 1, runs, runs, java.time.Duration.ofHours(1)));
    System.out.printf("ORT CPU latency, batch %d, %d threads, %d alternating pairs:%n", batch, threads, runs);
    System.out.printf("  original %8.1f ms (best %.1f)   pruned %8.1f ms (best %.1f)   speed-up %.2fx median of pairs,"
        + " %.2fx best   FLOPs %.2fG -> %.2fG (%.2fx), widths in multiples of %d%n", s.originalMs(),
        s.originalBestMs(), s.prunedMs(), s.prunedBestMs(), s.speedup(), s.bestSpeedup(),
        r.report().before().flops() / 1e9, r.report().after().flops() / 1e9,
        (double) r.report().before().flops() / r.report().after().flops(), r.report().widths().multiple());
  }

  private static double readWrite(Path in, Path out) throws Exception {
    long t0 = System.nanoTime();
    Model m = OnnxModels.read(in);
    OnnxModels.write(m, out);
    return (System.nanoTime() - t0) / 1e9;
  }

  private static final java.util.Map<String, List<Double>> PHASES = new java.util.LinkedHashMap<>();

  private static double prune(Path in, Path out) throws Exception {
    long t0 = System.nanoTime();
    Model m = OnnxModels.read(in);
    long t1 = System.nanoTime();
    PHASES.computeIfAbsent("read", k -> new ArrayList<>()).add((t1 - t0) / 1e9);
    Pruner.builder().criterion(Criteria.l1()).target(Target.flops(0.5))
        .progress((phase, d) -> PHASES.computeIfAbsent(phase.name().toLowerCase(), k -> new ArrayList<>())
            .add(d.toNanos() / 1e9))
        .build().prune(m);
    long t2 = System.nanoTime();
    OnnxModels.write(m, out);
    PHASES.computeIfAbsent("write", k -> new ArrayList<>()).add((System.nanoTime() - t2) / 1e9);
    return (System.nanoTime() - t0) / 1e9;
  }

  private static double median(List<Double> xs) {
    double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  }

  private static int intArg(String[] args, String name, int dflt) {
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals(name)) {
        return Integer.parseInt(args[i + 1]);
      }
    }
    return dflt;
  }
}
