package dev.onnxprune.maven;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.methods.MethodParameters;
import dev.onnxprune.prune.Allocation;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Resolved {@link ModelSettings} as the library's {@link PruningPipeline}: every value goes to the
 * builder as given, and the library checks it (naming it by key, which {@link PomNames} turns into
 * the element). The few checks made here are those the library cannot make: a file that is not
 * there, labels without samples, two targets, text such as {@code <mean>} that the plugin parses.
 */
final class PipelineConfig {
  private PipelineConfig() {}

  /**
   * Checks what can be checked before any work: the files exist, one target in range, the device,
   * {@code <mean>}/{@code <std>}. The library checks the rest when the pipeline is built.
   *
   * @throws InvalidOptionException naming the key or element of the first value refused
   */
  static void check(ModelSettings s) {
    inputs(s);
    target(s);
    device(s.device);
    normalization(s.mean, s.std);
  }

  /**
   * The files the job reads, by element name, each checked to exist; the model first.
   *
   * @throws InvalidOptionException naming the element of a file that does not exist
   */
  static Map<String, Path> inputs(ModelSettings s) {
    if (s.model == null) {
      throw new InvalidOptionException("model", null, "is required: the .onnx file to prune");
    }
    Map<String, Path> in = new LinkedHashMap<>();
    put(in, "model", s.model);
    put(in, "trainingImages", s.trainingImages);
    put(in, "trainingLabels", s.trainingLabels);
    put(in, "calibrationImages", s.calibrationImages);
    put(in, "calibrationLabels", s.calibrationLabels);
    put(in, "evaluationImages", s.evaluationImages);
    put(in, "evaluationLabels", s.evaluationLabels);
    labelsNeedImages(s.trainingLabels, s.trainingImages, "trainingLabels", "trainingImages");
    labelsNeedImages(s.calibrationLabels, s.calibrationImages, "calibrationLabels", "calibrationImages");
    labelsNeedImages(s.evaluationLabels, s.evaluationImages, "evaluationLabels", "evaluationImages");
    return in;
  }

  /** The pipeline {@code s} describes, writing {@code output} (and {@code s.report}). */
  static PruningPipeline pipeline(ModelSettings s, Path output, PruningPipeline.Listener listener)
      throws IOException {
    Normalization norm = normalization(s.mean, s.std);
    PruningPipeline.Builder b = PruningPipeline.builder().model(s.model.toPath()).target(target(s))
        .allocation(allocation(s)).minChannels(s.minChannels).maxGroupRatio(s.maxGroupRatio)
        .verify(s.verify).sessions(new Sessions(device(s.device), 0, s.threads)).output(output)
        .report(s.report == null ? null : s.report.toPath()).listener(listener)
        .cropFill(norm == null ? new float[] {0f} : norm.zeroPixel());
    if (s.roundTo != null) {
      b.roundTo(s.roundTo); // otherwise the library's default: the multiple the device runs fast
    }
    FineTuning fineTuning = s.fineTuningEpochs > 0
        ? FineTuning.builder().epochs(s.fineTuningEpochs).learningRate(s.learningRate).batchSize(s.batchSize).build()
        : null;
    b.recovery(new Recovery(s.recalibrateBn, s.bnSamples, fineTuning, Recovery.InsertBn.AUTO, s.refit,
        s.refitSamples));
    if (s.method != null) {
      b.method(s.method, new MethodParameters());
    }
    if (s.criterion != null) {
      b.criterion(s.criterion); // with a method too: the library refuses both
    }
    // training data is shuffled once, as the command line does (BatchNorm samples a random subset)
    b.trainingData(open(s.trainingImages, s.trainingLabels, norm, 0L));
    b.calibration(open(s.calibrationImages, s.calibrationLabels, norm, null));
    b.evaluation(open(s.evaluationImages, s.evaluationLabels, norm, null));
    return b.build();
  }

  /** {@code <allocation>}, or {@code <global>}'s; the two must agree when both are given. */
  private static Allocation allocation(ModelSettings s) {
    if (s.allocation == null) {
      return s.global ? Allocation.global() : Allocation.uniform();
    }
    Allocation a = Allocation.byName(s.allocation);
    if (s.global && a.kind() != Allocation.Kind.GLOBAL) {
      throw new InvalidOptionException("allocation", s.allocation, "cannot go with <global>true</global> (which is"
          + " <allocation>global</allocation>); give one of them");
    }
    return a;
  }

  /** The one target given; none is the library's error to report. */
  private static Target target(ModelSettings s) {
    Map<Target.Kind, Double> given = new EnumMap<>(Target.Kind.class);
    given.put(Target.Kind.FLOPS, s.flops);
    given.put(Target.Kind.PARAMS, s.params);
    given.put(Target.Kind.RATIO, s.ratio);
    given.put(Target.Kind.LATENCY, s.latency);
    Target t = null;
    for (Map.Entry<Target.Kind, Double> e : given.entrySet()) {
      if (e.getValue() != null) {
        Target next = new Target(e.getKey(), e.getValue()); // the library checks the fraction
        if (t != null) {
          throw new InvalidOptionException("target." + element(next), next.fraction(), "cannot go with <"
              + element(t) + ">: give one target");
        }
        t = next;
      }
    }
    return t;
  }

  /** The element of a target's kind: {@code flops}, {@code params}, {@code ratio}, {@code latency}. */
  private static String element(Target t) {
    return t.kind().name().toLowerCase(Locale.ROOT);
  }

  private static Device device(String name) {
    try {
      return Device.parse(name);
    } catch (IllegalArgumentException e) {
      throw new InvalidOptionException("device", name, "must be auto, cpu or cuda");
    }
  }

  /** {@code <mean>}/{@code <std>} as a normalisation, null when neither is given. */
  private static Normalization normalization(String mean, String std) {
    if ((mean == null) != (std == null)) {
      throw new InvalidOptionException(mean == null ? "std" : "mean", mean == null ? std : mean,
          "goes with " + (mean == null ? "<mean>" : "<std>") + ": give both or neither");
    }
    return mean == null ? null : new Normalization(floats("mean", mean), floats("std", std));
  }

  private static float[] floats(String key, String text) {
    String[] parts = text.split(",");
    float[] f = new float[parts.length];
    try {
      for (int i = 0; i < parts.length; i++) {
        f[i] = Float.parseFloat(parts[i].trim());
      }
    } catch (NumberFormatException e) {
      throw new InvalidOptionException(key, text, "must be one number or several separated by commas");
    }
    return f;
  }

  private static Dataset open(File images, File labels, Normalization norm, Long seed) throws IOException {
    return images == null ? null : Datasets.open(images.toPath(), labels == null ? null : labels.toPath(),
        DatasetOptions.defaults().withNormalization(norm).withSeed(seed));
  }

  private static void put(Map<String, Path> in, String key, File file) {
    if (file != null) {
      if (!Files.exists(file.toPath())) {
        throw new InvalidOptionException(key, file.getPath(), "names a file that does not exist");
      }
      in.put(key, file.toPath());
    }
  }

  private static void labelsNeedImages(File labels, File images, String labelsKey, String imagesKey) {
    if (labels != null && images == null) {
      throw new InvalidOptionException(labelsKey, labels.getPath(), "needs <" + imagesKey + ">");
    }
  }
}
