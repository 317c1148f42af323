package dev.onnxprune.bench;

import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.prune.Allocation;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.Sensitivity;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The README's comparison of allocations: each fixture pruned to {@code --flops} (default 0.5) by
 * L1 with uniform, global and sensitivity allocation (exact widths), then recovered as the demo does (BatchNorm
 * recalibration on the 1,000 bundled training images, then {@code --epochs} of fine-tuning on them,
 * batch 32; default 1, 0 for none). Top-1 on the 2,000 bundled test images right after pruning,
 * after recalibration and after fine-tuning. The sensitivity curves are measured once per model
 * (L1 ranking, the first {@code --sens-limit} training images, default 500) and given to the
 * pipeline ({@link Allocation#sensitivity(Sensitivity.Result)}), as it would measure them itself.
 *
 * <p>Usage: {@code SensitivityBench [--models resnet20,vgg_bn,mobilenetv2] [--flops F] [--epochs N]
 * [--sens-limit N] [--seed S]}.
 */
public final class SensitivityBench {
  private static final Normalization NORM = new Normalization(new float[] {0.286f}, new float[] {0.353f});

  private SensitivityBench() {}

  public static void main(String[] args) throws Exception {
    BenchArgs a = BenchArgs.parse(args, SensitivityBench.class, "--models", "--flops", "--epochs", "--sens-limit",
        "--seed");
    List<String> models = List.of(a.string("--models", "resnet20,vgg_bn,mobilenetv2").split(","));
    double flops = Double.parseDouble(a.string("--flops", "0.5"));
    int epochs = a.integer("--epochs", 1);
    int limit = a.integer("--sens-limit", 500);
    long seed = a.integer("--seed", 0);
    ArrayDataset train = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), NORM, 0);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), NORM, 0);
    Sessions cpu = Sessions.cpu();
    List<String> rows = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    for (String name : models) {
      Model model = OnnxModels.read(TestModels.model(name + ".onnx"));
      Sensitivity.Result curves = Sensitivity.builder().criterion(Criteria.l1()).evaluation(train).limit(limit)
          .sessions(cpu).build().run(model);
      notes.add(String.format(Locale.ROOT, "%s: curves of %d groups x %d ratios on %d images in %.0f s (%d threads)",
          name, curves.curves().size(), curves.ratios().size(), curves.baseline().samples(), curves.seconds(),
          curves.workers()));
      String unpruned = null;
      for (Allocation allocation : List.of(Allocation.uniform(), Allocation.global(),
          Allocation.sensitivity(curves))) {
        FineTuning ft = epochs > 0 ? FineTuning.builder().epochs(epochs).batchSize(32).build() : null;
        long start = System.nanoTime();
        PipelineResult r = PruningPipeline.builder()
            .model(model)
            .criterion(Criteria.l1())
            .target(Target.flops(flops))
            .allocation(allocation)
            .roundTo(1) // exact widths: the allocations differ only in how they spread the target
            .trainingData(train)
            .recovery(ft != null ? Recovery.recalibrateBnThenFineTune(ft) : Recovery.bnRecalibration())
            .evaluation(test)
            .cropFill(NORM.zeroPixel())
            .seed(seed)
            .sessions(cpu)
            .build()
            .run();
        double seconds = (System.nanoTime() - start) / 1e9;
        unpruned = top1(r, "original");
        PipelineResult.Stage pruned = r.stage("pruned").orElseThrow();
        rows.add(String.format(Locale.ROOT, "| %s | %s | %.1f | %,d | %s | %s |%s %.0f s |", name, allocation,
            pruned.flops() / 1e6, pruned.params(), top1(r, "pruned"), top1(r, "recalibrated"),
            epochs > 0 ? " " + top1(r, "fine-tuned") + " |" : "", seconds));
        System.err.println(rows.get(rows.size() - 1));
      }
      notes.add(name + ": unpruned top-1 " + unpruned);
    }
    System.out.println("| model | allocation | MFLOPs | params | top-1 pruned | + BN recalibration |" + (epochs > 0
        ? " + fine-tuning (" + epochs + " epoch" + (epochs > 1 ? "s" : "") + ") |" : "") + " wall time |");
    System.out.println("|---|---|---:|---:|---:|---:|" + (epochs > 0 ? "---:|" : "") + "---:|");
    rows.forEach(System.out::println);
    System.out.println();
    notes.forEach(n -> System.out.println("- " + n));
  }

  private static String top1(PipelineResult r, String stage) {
    return r.stage(stage).map(s -> String.format(Locale.ROOT, "%.2f", 100 * s.accuracy().top1())).orElse("-");
  }
}
