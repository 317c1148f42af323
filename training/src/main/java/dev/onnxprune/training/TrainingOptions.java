package dev.onnxprune.training;

import dev.onnxprune.graph.Tensor;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How {@link TrainingArtifact} builds a training step. Build with {@link #builder()}; every
 * setting has a default (SGD momentum 0.9, weight decay 5e-4, no label smoothing, BatchNormalization
 * with batch statistics and PyTorch's unbiased running variance, Dropout active).
 *
 * <p><b>Parameters.</b> Trainable are the FLOAT initializers in a weight or bias slot (Conv and
 * ConvTranspose inputs 1-2, Gemm inputs 1-2, a constant MatMul operand, BatchNormalization scale
 * and bias; for transformers the bias Add after a constant MatMul, embedding tables (a Gather's
 * data), LayerNormalization scale and bias, the scale and bias of a LayerNorm or RMSNorm the exporter
 * decomposed into ReduceMean/Sqrt/Div/Mul/Add, and learned class tokens and position tables of shape
 * {@code [1, tokens, width]}), also when reached through {@code Identity} (an exporter's shared copy becomes a
 * parameter of its own, as in the framework it came from), plus those named by {@link
 * Builder#trainable}, less those named by {@link Builder#freeze}. Every other initializer (pruning
 * masks such as those of {@code MaskInsertion}, shape constants, scale factors) stays a constant.
 * BatchNormalization running statistics are buffers: inputs and updated outputs of the step.
 */
public final class TrainingOptions {
  private final Optimizer optimizer;
  private final double labelSmoothing;
  private final BatchNormMode batchNormMode;
  private final RunningVariance runningVariance;
  private final boolean dropout;
  private final Set<String> frozen;
  private final Set<String> trainable;
  private final Map<String, Tensor> weightMasks;
  private final boolean maskZeroWeights;
  private final String input;
  private final String logits;
  private final List<String> gradientOutputs;
  private final List<String> extraOutputs;
  private final Distillation distillation;
  private final boolean labels;

  private TrainingOptions(Builder b) {
    this.optimizer = b.optimizer;
    this.labelSmoothing = b.labelSmoothing;
    this.batchNormMode = b.batchNormMode;
    this.runningVariance = b.runningVariance;
    this.dropout = b.dropout;
    this.frozen = Set.copyOf(b.frozen);
    this.trainable = Set.copyOf(b.trainable);
    this.weightMasks = Map.copyOf(b.weightMasks);
    this.maskZeroWeights = b.maskZeroWeights;
    this.input = b.input;
    this.logits = b.logits;
    this.gradientOutputs = List.copyOf(b.gradientOutputs);
    this.extraOutputs = List.copyOf(b.extraOutputs);
    this.distillation = b.distillation;
    this.labels = b.labels;
  }

  /** The defaults. */
  public static TrainingOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public Optimizer optimizer() {
    return optimizer;
  }

  public double labelSmoothing() {
    return labelSmoothing;
  }

  public BatchNormMode batchNormMode() {
    return batchNormMode;
  }

  public RunningVariance runningVariance() {
    return runningVariance;
  }

  public boolean dropout() {
    return dropout;
  }

  public Set<String> frozen() {
    return frozen;
  }

  public Set<String> trainable() {
    return trainable;
  }

  public Map<String, Tensor> weightMasks() {
    return weightMasks;
  }

  public boolean maskZeroWeights() {
    return maskZeroWeights;
  }

  /** Name of the batch input, or null for the model's first input. */
  public String input() {
    return input;
  }

  /** Name of the logits output, or null for the model's first output. */
  public String logits() {
    return logits;
  }

  /** Values whose loss gradient the training step also outputs (see {@link Builder#gradientOutputs}). */
  public List<String> gradientOutputs() {
    return gradientOutputs;
  }

  /** Values of the forward pass the training step also outputs (see {@link Builder#extraOutputs}). */
  public List<String> extraOutputs() {
    return extraOutputs;
  }

  /** Distillation from a teacher in the loss, or null for cross-entropy alone. */
  public Distillation distillation() {
    return distillation;
  }

  /** Whether the training step takes labels (a cross-entropy term); false only with distillation. */
  public boolean labels() {
    return labels;
  }

  /** Builder of {@link TrainingOptions}. */
  public static final class Builder {
    private Optimizer optimizer = Optimizer.sgd(0.9, 5e-4);
    private double labelSmoothing;
    private BatchNormMode batchNormMode = BatchNormMode.TRAINING;
    private RunningVariance runningVariance = RunningVariance.UNBIASED;
    private boolean dropout = true;
    private final Set<String> frozen = new LinkedHashSet<>();
    private final Set<String> trainable = new LinkedHashSet<>();
    private final Map<String, Tensor> weightMasks = new LinkedHashMap<>();
    private boolean maskZeroWeights;
    private String input;
    private String logits;
    private final Set<String> gradientOutputs = new LinkedHashSet<>();
    private final Set<String> extraOutputs = new LinkedHashSet<>();
    private Distillation distillation;
    private boolean labels = true;

    private Builder() {}

    /**
     * Distillation from a teacher (default none): the step takes the teacher's outputs as inputs
     * ({@link Distillation#teacherInput}) and the loss is as {@link Distillation} says.
     */
    public Builder distillation(Distillation d) {
      this.distillation = d;
      return this;
    }

    /**
     * Whether the step takes labels (default true). Without labels the loss is the distillation
     * term alone, so {@link #distillation} is required.
     */
    public Builder labels(boolean on) {
      this.labels = on;
      return this;
    }

    public Builder optimizer(Optimizer o) {
      this.optimizer = java.util.Objects.requireNonNull(o, "optimizer");
      return this;
    }

    /** Label smoothing of the cross-entropy, in [0, 1). */
    public Builder labelSmoothing(double eps) {
      if (!(eps >= 0 && eps < 1)) {
        throw new IllegalArgumentException("label smoothing must be in [0, 1): " + eps);
      }
      this.labelSmoothing = eps;
      return this;
    }

    /**
     * TRAINING (default): batch statistics, running statistics updated; INFERENCE: the running
     * statistics are frozen constants (fine-tuning with BN in eval mode).
     */
    public Builder batchNormMode(BatchNormMode mode) {
      this.batchNormMode = mode;
      return this;
    }

    public Builder runningVariance(RunningVariance rv) {
      this.runningVariance = rv;
      return this;
    }

    /** Whether Dropout is active in the training step (default true). */
    public Builder dropout(boolean on) {
      this.dropout = on;
      return this;
    }

    /** Initializers that stay constants (no gradient, no update). */
    public Builder freeze(String... names) {
      frozen.addAll(java.util.Arrays.asList(names));
      return this;
    }

    public Builder freeze(java.util.Collection<String> names) {
      frozen.addAll(names);
      return this;
    }

    /** Extra FLOAT initializers to train (e.g. a learned scale in a Mul). */
    public Builder trainable(String... names) {
      trainable.addAll(java.util.Arrays.asList(names));
      return this;
    }

    /**
     * A 0/1 mask of a parameter's shape: its gradient and update are multiplied by it, so masked
     * weights stay what they are (zero, after unstructured masking).
     */
    public Builder weightMask(String parameter, Tensor mask) {
      weightMasks.put(parameter, mask);
      return this;
    }

    /** Masks every Conv/ConvTranspose/Gemm/MatMul weight at its zeros (keeps unstructured sparsity). */
    public Builder maskZeroWeights(boolean on) {
      this.maskZeroWeights = on;
      return this;
    }

    public Builder input(String name) {
      this.input = name;
      return this;
    }

    public Builder logits(String name) {
      this.logits = name;
      return this;
    }

    /**
     * Values whose gradient dL/dv (before the optimizer update, same shape as the value) the
     * training step also outputs as {@code <name>_grad}: extra graph inputs such as the channel
     * masks of {@code MaskInsertion.inputs} (Taylor scores, PGD on masks), or parameters. Read
     * them with {@link TrainingSession#gradient} after a step or a {@link TrainingSession#probe}.
     */
    public Builder gradientOutputs(String... names) {
      gradientOutputs.addAll(java.util.Arrays.asList(names));
      return this;
    }

    /**
     * Values of the model (outputs or intermediate values, e.g. AOFP's damage outputs on a scoring
     * path) that the training step also outputs under their own names, computed in the training
     * step's forward pass (BatchNormalization on batch statistics). They take no part in the loss.
     * Read them with {@link TrainingSession#output} after a step or a probe.
     */
    public Builder extraOutputs(java.util.Collection<String> names) {
      extraOutputs.addAll(names);
      return this;
    }

    public Builder gradientOutputs(java.util.Collection<String> names) {
      gradientOutputs.addAll(names);
      return this;
    }

    public TrainingOptions build() {
      if (!labels && distillation == null) {
        throw new IllegalArgumentException("a training step without labels needs distillation (it has no other loss)");
      }
      return new TrainingOptions(this);
    }
  }
}
