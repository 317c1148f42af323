package dev.onnxprune.bench;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.SpeedCheck;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The trained vit_tiny fixture (Fashion-MNIST) pruned to {@code --flops} (default 0.5) by each
 * criterion, heads, MLPs and hidden width at exact widths ({@code --round 1}), then recovered by the
 * pipeline's fine-tuning (its defaults: SGD 0.01 momentum 0.9, cosine, batch 64, crop and flip) for
 * {@code --epochs} (default 1) on a random {@code --train-limit} (default 10,000) of the 60k training
 * images: top-1 on the 10k test images of the original, right after pruning and after recovery; the
 * heads, MLP widths and hidden width kept; then ONNX Runtime CPU latency of original against each
 * pruned model in alternating pairs at batch 1 and 32 ({@link SpeedCheck#pairs}), next to the FLOPs
 * reduction. Data-driven criteria score on {@code --calib} (default 256) training images.
 *
 * <p>Usage: {@code VitRecoveryBench [--data DIR] [--criteria l1,taylor,heads,wanda,heads:global] [--flops 0.5]
 * [--epochs 1] [--train-limit 10000] [--lr 0.01] [--calib 256] [--pairs 20] [--threads 2]}; a criterion
 * {@code NAME:global} ranks all groups together (each unit's score divided by its cost), as Michel et al.
 * prune heads across layers.
 */
public final class VitRecoveryBench {
  static final Normalization NORM = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    String[] criteria = TrainThroughputBench.stringArg(args, "--criteria", "l1,taylor,heads,wanda,taylor:global,heads:global").split(",");
    double flops = Double.parseDouble(TrainThroughputBench.stringArg(args, "--flops", "0.5"));
    int epochs = TrainThroughputBench.intArg(args, "--epochs", 1);
    int trainLimit = TrainThroughputBench.intArg(args, "--train-limit", 10000);
    int calibN = TrainThroughputBench.intArg(args, "--calib", 256);
    int pairs = TrainThroughputBench.intArg(args, "--pairs", 20);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    double lr = Double.parseDouble(TrainThroughputBench.stringArg(args, "--lr", "0.01"));
    ArrayDataset train = IdxDataset.read(dir.resolve("train-images-idx3-ubyte.gz"),
        dir.resolve("train-labels-idx1-ubyte.gz"), NORM, 0).shuffled(1, trainLimit);
    ArrayDataset calib = train.shuffled(2, calibN);
    ArrayDataset test = IdxDataset.read(dir.resolve("t10k-images-idx3-ubyte.gz"),
        dir.resolve("t10k-labels-idx1-ubyte.gz"), NORM, 0);
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    Path out = Files.createDirectories(Path.of(".bench-out", "vit"));
    Path original = out.resolve("vit_tiny.onnx");
    Files.copy(TestModels.model("vit_tiny.onnx"), original, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

    List<String> rows = new ArrayList<>();
    List<Path> pruned = new ArrayList<>();
    List<PipelineResult> results = new ArrayList<>();
    for (String spec : criteria) {
      // NAME or NAME:global (one ranking over all groups, each score divided by its unit's cost)
      String name = spec.replace(":global", "");
      boolean global = spec.endsWith(":global");
      Criterion c = switch (name) {
        case "l1" -> Criteria.l1();
        default -> DataCriteria.byName(name, calib, sessions, new DataCriteria.Options().batchSize(64));
      };
      Path file = out.resolve("vit_tiny." + spec.replace(':', '-') + ".onnx");
      long t0 = System.nanoTime();
      PipelineResult r = PruningPipeline.builder().model(OnnxModels.read(original)).criterion(c)
          .target(Target.flops(flops)).global(global).roundTo(1).trainingData(train).evaluation(test)
          .recovery(Recovery.fineTuning(FineTuning.builder().epochs(epochs).learningRate(lr).build())).speedCheck(SpeedCheck.Mode.NEVER, 1)
          .sessions(sessions).seed(0).output(file).build().run();
      double secs = (System.nanoTime() - t0) / 1e9;
      results.add(r);
      pruned.add(file);
      System.err.printf(Locale.ROOT, "%s done in %.0f s%n", spec, secs);
      PruneReport rep = r.prune().report();
      rows.add(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s -> %s (-%.1f%%) | %s | %.0f s |", spec,
          top1(r, "original"), top1(r, "pruned"), top1(r, "fine-tuned"), mflops(rep.before().flops()),
          mflops(rep.after().flops()), 100 - 100.0 * rep.after().flops() / rep.before().flops(), widths(rep), secs));
    }
    System.out.printf(Locale.ROOT, "vit_tiny, --flops %s --round 1 (uniform unless :global), fine-tuned %d epoch(s) on"
        + " %d training images (the pipeline's fine-tuning: SGD momentum 0.9, lr %s cosine, batch 64, crop and flip),"
        + " top-1 on the %d test images; data-driven criteria scored on %d training images%n%n", flops, epochs,
        train.size(), lr, test.size(), calib.size());
    System.out.println("| criterion | top-1 original | right after pruning | after fine-tuning | FLOPs | kept:"
        + " heads per layer / MLP widths / hidden | wall time |");
    System.out.println("|---|---:|---:|---:|---|---|---:|");
    rows.forEach(System.out::println);

    System.out.printf(Locale.ROOT, "%nONNX Runtime CPU, %d threads, alternating pairs (%d per batch size),"
        + " median (best) ms of one batch%n%n", threads, pairs);
    System.out.println("| criterion | FLOPs reduction | b1 original | b1 pruned | b1 speed-up (best/best) | b32 original"
        + " | b32 pruned | b32 speed-up (best/best) |");
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (int i = 0; i < pruned.size(); i++) {
      PruneReport rep = results.get(i).prune().report();
      double reduction = (double) rep.before().flops() / rep.after().flops();
      StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %.2fx |", criteria[i], reduction));
      for (int batch : new int[] {1, 32}) {
        SpeedCheck.Timing t = new SpeedCheck.Timing(batch, 5, pairs, pairs, Duration.ofMinutes(10));
        PruneReport.Speed s = SpeedCheck.pairs(sessions, original, pruned.get(i), t).summary();
        row.append(String.format(Locale.ROOT, " %.3f (%.3f) | %.3f (%.3f) | %.2fx (%.2fx) |", s.originalMs(),
            s.originalBestMs(), s.prunedMs(), s.prunedBestMs(), s.speedup(), s.bestSpeedup()));
      }
      System.out.println(row);
    }
  }

  private static String top1(PipelineResult r, String stage) {
    return r.stage(stage).map(s -> s.accuracy() == null ? "-"
        : String.format(Locale.ROOT, "%.2f%%", 100 * s.accuracy().top1())).orElse("-");
  }

  private static String mflops(long f) {
    return String.format(Locale.ROOT, "%.2fM", f / 1e6);
  }

  /** Kept units by kind: heads of each attention, MLP widths, hidden width. */
  private static String widths(PruneReport rep) {
    List<String> heads = new ArrayList<>();
    List<String> mlp = new ArrayList<>();
    List<String> hidden = new ArrayList<>();
    for (PruneReport.Group g : rep.groups()) {
      if (!g.prunable()) {
        continue;
      }
      String k = g.kept() + "/" + g.channels();
      switch (g.kind()) {
        case "heads" -> heads.add(k);
        case "hidden" -> hidden.add(k);
        default -> mlp.add(k);
      }
    }
    return String.join(" ", heads) + " / " + String.join(" ", mlp) + " / " + String.join(" ", hidden);
  }
}
