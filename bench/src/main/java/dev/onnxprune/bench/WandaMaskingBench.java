package dev.onnxprune.bench;

import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.criteria.WandaMasking;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.pass.PassManager;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.MagnitudeMasking;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Unstructured weight masking without fine-tuning, magnitude against Wanda ({@link WandaMasking},
 * Sun et al. 2023), on Fashion-MNIST fixtures: per-layer 50% and 2:4, top-1 on the 10k test images;
 * Wanda's feature norms from {@code --calib} (default 256) random training images.
 *
 * <p>Usage: {@code WandaMaskingBench [--data DIR] [--models vit_tiny,resnet20,vgg_bn] [--calib 256] [--threads 2]}.
 */
public final class WandaMaskingBench {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(TrainThroughputBench.stringArg(args, "--data", "/usr/share/datasets/fashion-mnist"));
    String[] models = TrainThroughputBench.stringArg(args, "--models", "vit_tiny,resnet20,vgg_bn").split(",");
    int calibN = TrainThroughputBench.intArg(args, "--calib", 256);
    int threads = TrainThroughputBench.intArg(args, "--threads", 2);
    Normalization norm = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});
    ArrayDataset calib = IdxDataset.read(dir.resolve("train-images-idx3-ubyte.gz"),
        dir.resolve("train-labels-idx1-ubyte.gz"), norm, 0).shuffled(2, calibN);
    ArrayDataset test = IdxDataset.read(dir.resolve("t10k-images-idx3-ubyte.gz"),
        dir.resolve("t10k-labels-idx1-ubyte.gz"), norm, 0);
    Sessions s = new Sessions(Device.CPU, 0, threads);
    System.out.printf(Locale.ROOT, "top-1 on the %d test images, no fine-tuning; Wanda's norms on %d training images%n%n",
        test.size(), calib.size());
    System.out.println("| model | dense | 50% magnitude | 50% Wanda | 2:4 magnitude | 2:4 Wanda |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    for (String name : models) {
      Model m = OnnxModels.read(TestModels.model(name + ".onnx"));
      StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s |", name, pct(top1(m, test, s))));
      for (boolean nm : new boolean[] {false, true}) {
        Model mag = m.copy();
        PassManager.run(mag, nm ? MagnitudeMasking.nm(2, 4) : MagnitudeMasking.magnitude(0.5, false));
        DataCriteria.Options o = new DataCriteria.Options();
        Model wanda = (nm ? WandaMasking.nm(m, calib, s, o, 2, 4) : WandaMasking.unstructured(m, calib, s, o, 0.5))
            .model();
        row.append(String.format(Locale.ROOT, " %s | %s |", pct(top1(mag, test, s)), pct(top1(wanda, test, s))));
      }
      System.out.println(row);
    }
  }

  private static String pct(double v) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * v);
  }

  private static double top1(Model m, Dataset test, Sessions s) throws Exception {
    try (Runner r = Runner.open(s, m)) {
      return new Evaluator(r).evaluate(test, 500).top1();
    }
  }
}
