package dev.onnxprune.maven;

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.maven.plugins.annotations.Parameter;

/**
 * How one model is pruned: the elements of a {@code <model>} in {@code <models>}, and the same
 * elements at the plugin's level, where they configure the single model of {@code <model>} or give
 * every model of {@code <models>} the settings it does not set itself ({@link PruneMojo} extends
 * this class so that Maven injects them there). Every field is null until the POM sets it;
 * {@link #resolve} fills in the plugin's level and then the defaults named in each field's doc.
 */
public class ModelSettings {
  /** The {@code .onnx} file to prune (relative to the project's folder). */
  @Parameter
  File model;

  /**
   * Where the pruned model is written, relative to {@code <outputDirectory>} (which is
   * {@code target/classes}, so the model is packaged like a resource). Default: the file name of
   * {@code <model>}. A record of the build, {@code OUTPUT.onnx-prune.json}, is written beside it.
   */
  @Parameter
  String output;

  /**
   * Where to write the report of the run (stages, accuracy, costs, groups): a path ending in
   * {@code .json} gets the JSON alone; any other path is a folder that gets {@code report.json} and
   * {@code report.html}, a page with charts that opens from disk. Default: none.
   */
  @Parameter
  File report;

  /**
   * How channels are scored: {@code l1}, {@code l2}, {@code bn}, {@code fpgm}, {@code random}, or on
   * calibration data {@code apoz}, {@code mean}, {@code oracle}, {@code aofp}, {@code taylor}.
   * Default: {@code l1}, unless {@code <method>} is given.
   */
  @Parameter
  String criterion;

  /**
   * A training-time method instead of a criterion: {@code aofp}, {@code adversarial} or
   * {@code prunenet}, with its default settings; it trains on {@code <trainingImages>}.
   */
  @Parameter
  String method;

  /** Target: remove this fraction (0..1) of the model's FLOPs. Give one of the four targets. */
  @Parameter
  Double flops;

  /** Target: remove this fraction (0..1) of the model's parameters. */
  @Parameter
  Double params;

  /** Target: remove this fraction (0..1) of the channels of every prunable group (of all, with {@code <global>}). */
  @Parameter
  Double ratio;

  /** Target: remove this fraction (0..1) of the latency on {@code <device>}, from per-channel costs measured first. */
  @Parameter
  Double latency;

  /** Rank channels across groups instead of removing the same fraction from each. Default: false. */
  @Parameter
  Boolean global;

  /**
   * How the target is spread over the groups: {@code uniform} (the same fraction from each),
   * {@code global} (as {@code <global>true</global>}), or {@code sensitivity} (per-group fractions
   * from a sensitivity analysis on the calibration data: each group pruned alone at 10% to 90% and
   * evaluated on 500 samples, chosen for the least predicted loss of top-1). Default: uniform.
   */
  @Parameter
  String allocation;

  /** Channels every group keeps at least. Default: 1. */
  @Parameter
  Integer minChannels;

  /** The largest fraction of its channels one group may lose, in (0, 1]. Default: 1. */
  @Parameter
  Double maxGroupRatio;

  /**
   * Keep channel counts in multiples of this; 1 keeps exact widths. Default: the multiple the
   * device runs fast (16 on CPUs with AVX-512, 8 with AVX2 or CUDA), as the CLI's {@code --round auto}.
   */
  @Parameter
  Integer roundTo;

  /**
   * Labelled training samples (IDX, {@code .npy}/{@code .npz}, or a folder of class folders) for
   * BatchNorm recalibration, fine-tuning and training-time methods; data-driven criteria score on
   * them too when there is no {@code <calibrationImages>}.
   */
  @Parameter
  File trainingImages;

  /** The labels of {@code <trainingImages>} (not needed for a {@code .npz} that holds them, nor for an image folder). */
  @Parameter
  File trainingLabels;

  /** Samples the data-driven criteria score channels on (default: {@code <trainingImages>}). */
  @Parameter
  File calibrationImages;

  /** The labels of {@code <calibrationImages>} (they give the criteria the loss). */
  @Parameter
  File calibrationLabels;

  /**
   * Labelled samples on which top-1, top-5 and loss are measured before pruning and after every
   * stage; {@code <maxAccuracyDrop>} needs them.
   */
  @Parameter
  File evaluationImages;

  /** The labels of {@code <evaluationImages>}. */
  @Parameter
  File evaluationLabels;

  /**
   * Per-channel means subtracted from every data set's samples after 8-bit pixels are scaled to
   * [0, 1]: one number, or one per channel separated by commas ({@code 0.485,0.456,0.406}). With
   * {@code <std>}.
   */
  @Parameter
  String mean;

  /** Per-channel standard deviations the samples are divided by, as {@code <mean>}. */
  @Parameter
  String std;

  /** Re-estimate BatchNorm statistics on {@code <trainingImages>} after pruning. Default: false. */
  @Parameter
  Boolean recalibrateBn;

  /** Training samples for {@code <recalibrateBn>} (0: all). Default: 4096. */
  @Parameter
  Integer bnSamples;

  /**
   * Refit every Conv/Gemm/MatMul after pruning by least squares so that it reproduces the original
   * layer's output on {@code <refitSamples>} of {@code <trainingImages>} (He et al. 2017; no labels,
   * no training), before the other recovery stages. Default: false.
   */
  @Parameter
  Boolean refit;

  /** Training samples for {@code <refit>} (0: all). Default: 1024. */
  @Parameter
  Integer refitSamples;

  /** Epochs of fine-tuning on {@code <trainingImages>} after pruning (SGD, cosine schedule). Default: 0 (none). */
  @Parameter
  Integer fineTuningEpochs;

  /** Peak learning rate of the fine-tuning. Default: 0.01. */
  @Parameter
  Double learningRate;

  /** Samples per training step (fine-tuning, recalibration, methods). Default: 64. */
  @Parameter
  Integer batchSize;

  /**
   * Where ONNX Runtime runs: {@code auto} (CUDA when it starts, else CPU), {@code cpu} or
   * {@code cuda}. Default: auto. The plugin ships ONNX Runtime's CPU build, so auto runs on the CPU.
   */
  @Parameter(property = "onnx-prune.device")
  String device;

  /** ONNX Runtime intra-op threads. Default: 0 (ONNX Runtime's choice, one per physical core). */
  @Parameter
  Integer threads;

  /**
   * Check the pruned model against the original with the removed channels masked, in ONNX Runtime,
   * and write it only when they agree. Default: false.
   */
  @Parameter
  Boolean verify;

  /**
   * Fail the build when top-1 on {@code <evaluationImages>} falls by more than this many
   * percentage points between the original model and the final one (after recovery), e.g.
   * {@code 2} lets 92.0% become 90.0% but not 89.9%. The failing model is not kept. Default: no
   * limit.
   */
  @Parameter
  Double maxAccuracyDrop;

  /** The value of each setting that {@link #resolve} fills in when neither level sets it. */
  private static final ModelSettings DEFAULTS = new ModelSettings();

  static {
    DEFAULTS.global = false;
    DEFAULTS.minChannels = 1;
    DEFAULTS.maxGroupRatio = 1.0;
    DEFAULTS.recalibrateBn = false;
    DEFAULTS.bnSamples = 4096;
    DEFAULTS.refit = false;
    DEFAULTS.refitSamples = 1024;
    DEFAULTS.fineTuningEpochs = 0;
    DEFAULTS.learningRate = 0.01;
    DEFAULTS.batchSize = 64;
    DEFAULTS.device = "auto";
    DEFAULTS.threads = 0;
    DEFAULTS.verify = false;
  }

  /**
   * These settings completed: each one unset here is taken from {@code pluginLevel}, then from the
   * defaults; the criterion is l1 when neither a criterion nor a method is given, and the output is
   * the model's file name when none is given.
   */
  ModelSettings resolve(ModelSettings pluginLevel) {
    ModelSettings r = new ModelSettings();
    for (Field f : fields()) {
      try {
        Object v = f.get(this);
        v = v != null ? v : f.get(pluginLevel);
        f.set(r, v != null ? v : f.get(DEFAULTS));
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e); // own fields: cannot happen
      }
    }
    if (r.criterion == null && r.method == null) {
      r.criterion = "l1";
    }
    if (r.output == null && r.model != null) {
      r.output = r.model.getName();
    }
    return r;
  }

  /**
   * Every setting that has a value, by element name, in name order: numbers and booleans as Java
   * prints them, files relative to {@code basedir} when they lie below it (so that moving the
   * project does not change the configuration).
   */
  SortedMap<String, String> normalised(Path basedir) {
    SortedMap<String, String> m = new TreeMap<>();
    for (Field f : fields()) {
      try {
        Object v = f.get(this);
        if (v instanceof File file) {
          Path p = file.toPath().toAbsolutePath().normalize();
          v = (p.startsWith(basedir) ? basedir.relativize(p) : p).toString().replace(File.separatorChar, '/');
        }
        if (v != null) {
          m.put(f.getName(), String.valueOf(v));
        }
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
    return m;
  }

  /** The settings: the instance fields this class declares (not those of {@link PruneMojo}). */
  private static List<Field> fields() {
    List<Field> fields = new ArrayList<>();
    for (Field f : ModelSettings.class.getDeclaredFields()) {
      if (!Modifier.isStatic(f.getModifiers())) {
        fields.add(f);
      }
    }
    return fields;
  }
}
