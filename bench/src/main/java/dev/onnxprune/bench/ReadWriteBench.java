package dev.onnxprune.bench;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.proto.Onnx;
import java.io.FileOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Read+write throughput of one model file: our serde ({@code OnnxModels.read} then
 * {@code OnnxModels.write}) against plain protobuf-java ({@code Files.readAllBytes},
 * {@code ModelProto.parseFrom(byte[])}, {@code writeTo(FileOutputStream)}).
 *
 * <pre>
 * --mode compare   (default) warm-up pairs, then alternating A/B pairs in this JVM; prints medians
 * --mode ours|plain          one cold read+write in this JVM; prints its time and peak heap
 * --model PATH     the .onnx file (default: testmodels/zoo/resnet50.onnx)
 * --warmup N       warm-up pairs (default 2)      --pairs N   measured pairs (default 7)
 * --out DIR        where the copies are written (default .bench-out)
 * </pre>
 *
 * MB are 10^6 bytes of the input file. Our write is atomic and durable (temporary file,
 * fsync, rename); plain protobuf's is neither, as asked by the comparison: the fsync is part
 * of our time.
 */
public final class ReadWriteBench {
  private ReadWriteBench() {}

  /** One read+write: seconds spent reading (parse included) and writing. */
  record Timing(double read, double write) {
    double total() {
      return read + write;
    }
  }

  static Timing ours(Path model, Path out) throws IOException {
    long t0 = System.nanoTime();
    Model m = OnnxModels.read(model);
    long t1 = System.nanoTime();
    OnnxModels.write(m, out);
    long t2 = System.nanoTime();
    return new Timing((t1 - t0) / 1e9, (t2 - t1) / 1e9);
  }

  static Timing plain(Path model, Path out) throws IOException {
    long t0 = System.nanoTime();
    byte[] bytes = Files.readAllBytes(model);
    Onnx.ModelProto proto = Onnx.ModelProto.parseFrom(bytes);
    long t1 = System.nanoTime();
    try (FileOutputStream fos = new FileOutputStream(out.toFile())) {
      proto.writeTo(fos);
    }
    long t2 = System.nanoTime();
    return new Timing((t1 - t0) / 1e9, (t2 - t1) / 1e9);
  }

  public static void main(String[] args) throws Exception {
    BenchArgs a = BenchArgs.parse(args, ReadWriteBench.class, "--mode", "--model", "--out", "--warmup", "--pairs");
    String mode = a.string("--mode", "compare");
    Path model = a.zooModel();
    Path outDir = Path.of(a.string("--out", ".bench-out"));
    int warmup = a.integer("--warmup", 2);
    int pairs = a.integer("--pairs", 7);
    Files.createDirectories(outDir);
    switch (mode) {
      case "compare" -> compare(model, outDir, warmup, pairs);
      case "ours", "plain" -> single(mode, model, outDir);
      default -> {
        System.err.println("--mode must be compare, ours or plain, not " + mode);
        System.exit(2);
      }
    }
  }

  private static Timing run(String side, Path model, Path outDir) throws IOException {
    Path out = outDir.resolve(side + ".onnx");
    return side.equals("ours") ? ours(model, out) : plain(model, out);
  }

  /** Alternating pairs (AB, BA, AB, ...) so drift in the machine's load hits both sides alike. */
  private static void compare(Path model, Path outDir, int warmup, int pairs) throws IOException {
    double mb = Files.size(model) / 1e6;
    for (int i = 0; i < warmup; i++) {
      run("ours", model, outDir);
      run("plain", model, outDir);
    }
    List<Timing> ours = new ArrayList<>();
    List<Timing> plain = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      if (i % 2 == 0) {
        ours.add(run("ours", model, outDir));
        plain.add(run("plain", model, outDir));
      } else {
        plain.add(run("plain", model, outDir));
        ours.add(run("ours", model, outDir));
      }
    }
    System.out.printf(Locale.ROOT, "model %s: %.1f MB; %d warm-up pairs, %d measured A/B pairs; medians%n",
        model, mb, warmup, pairs);
    System.out.printf(Locale.ROOT, "%-6s %9s %9s %9s %9s%n", "side", "read ms", "write ms", "total ms", "MB/s");
    double oursTotal = row("ours", ours, mb);
    double plainTotal = row("plain", plain, mb);
    System.out.printf(Locale.ROOT, "time ratio ours/plain: %.2f (below 1: ours is faster)%n", oursTotal / plainTotal);
  }

  private static double row(String side, List<Timing> ts, double mb) {
    double read = median(ts.stream().mapToDouble(Timing::read).toArray());
    double write = median(ts.stream().mapToDouble(Timing::write).toArray());
    double total = median(ts.stream().mapToDouble(Timing::total).toArray());
    System.out.printf(Locale.ROOT, "%-6s %9.1f %9.1f %9.1f %9.1f%n", side, read * 1e3, write * 1e3, total * 1e3,
        mb / total);
    return total;
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /**
   * One cold read+write in a fresh JVM. Peak heap: the heap pools' peak usage, reset after a
   * GC just before the run, summed over pools (an upper bound: pools peak at different times),
   * less the heap in use before the run.
   */
  private static void single(String side, Path model, Path outDir) throws IOException {
    List<MemoryPoolMXBean> heap = new ArrayList<>();
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP && p.isValid()) {
        heap.add(p);
      }
    }
    System.gc();
    long baseline = 0;
    for (MemoryPoolMXBean p : heap) {
      baseline += p.getUsage().getUsed();
      p.resetPeakUsage();
    }
    Timing t = run(side, model, outDir);
    long peak = 0;
    for (MemoryPoolMXBean p : heap) {
      peak += p.getPeakUsage().getUsed();
    }
    System.out.printf(Locale.ROOT, "RESULT mode=%s file_mb=%.1f seconds=%.3f peak_heap_mb=%.1f baseline_heap_mb=%.1f%n",
        side, Files.size(model) / 1e6, t.total(), (peak - baseline) / 1e6, baseline / 1e6);
  }
}
