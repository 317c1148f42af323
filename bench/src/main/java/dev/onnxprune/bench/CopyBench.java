package dev.onnxprune.bench;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * The cost of copying a model in memory: {@link Model#copy()} against a round trip through
 * bytes ({@code OnnxModels.read(OnnxModels.toBytes(m), null)}), on one model read once.
 *
 * <pre>
 * --model PATH   the .onnx file (default: testmodels/zoo/resnet50.onnx)
 * --warmup N     unmeasured copies per side (default 5)     --runs N   timed copies per side (default 15)
 * --keep N       round-trip copies held at once to measure what one keeps alive (default 4)
 * --keep-copy N  the same for copy() (default 100: one is small beside the heap's noise)
 * </pre>
 *
 * Per side: the median time of {@code --runs} copies; the bytes one copy allocates (the
 * thread's allocation counter, {@code com.sun.management.ThreadMXBean}, over the copies held,
 * divided by their number); and the heap one copy keeps alive (heap in use after a full GC
 * while holding those copies, less the same before them, divided by their number). MB are
 * 10^6 bytes.
 */
public final class CopyBench {
  private CopyBench() {}

  public static void main(String[] args) throws IOException {
    BenchArgs a = BenchArgs.parse(args, CopyBench.class, "--model", "--warmup", "--runs", "--keep", "--keep-copy");
    Path model = a.zooModel();
    int warmup = a.integer("--warmup", 5);
    int runs = a.integer("--runs", 15);
    int keep = a.integer("--keep", 4);
    int keepCopy = a.integer("--keep-copy", 100);
    Model m = OnnxModels.read(model);
    System.out.printf(Locale.ROOT, "model %s: %.1f MB, %d nodes, %d initializers; %d warm-up and %d timed copies"
        + " per side%n", model, Files.size(model) / 1e6, m.graph().nodes().size(), m.graph().initializers().size(),
        warmup, runs);
    System.out.printf(Locale.ROOT, "%-6s %10s %14s %13s%n", "side", "median ms", "allocated MB", "retained MB");
    measure("copy", m, Model::copy, warmup, runs, keepCopy);
    measure("bytes", m, o -> {
      try {
        return OnnxModels.read(OnnxModels.toBytes(o), null);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }, warmup, runs, keep);
  }

  private static void measure(String side, Model m, UnaryOperator<Model> copy, int warmup, int runs, int keep) {
    for (int i = 0; i < warmup; i++) {
      copy.apply(m);
    }
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    Model[] kept = new Model[keep];
    long before = usedAfterGc();
    long allocated = threads.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < keep; i++) {
      kept[i] = copy.apply(m);
    }
    allocated = threads.getCurrentThreadAllocatedBytes() - allocated;
    long retained = usedAfterGc() - before;
    for (Model k : kept) {
      if (k.graph().nodes().size() != m.graph().nodes().size()) {
        throw new IllegalStateException("the " + side + " copy lost nodes");
      }
    }
    Arrays.fill(kept, null);
    double[] ms = new double[runs];
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime();
      copy.apply(m);
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(ms);
    System.out.printf(Locale.ROOT, "%-6s %10.2f %14.2f %13.2f%n", side, ms[runs / 2], allocated / 1e6 / keep,
        retained / 1e6 / keep);
  }

  private static long usedAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }
}
