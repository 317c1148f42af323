/**
 * The exported training artifact: reverse-mode differentiation of an ONNX inference graph into
 * graphs of standard ONNX ops that stock ONNX Runtime (CPU or CUDA) runs, since ONNX Runtime's
 * Java packages have no training support.
 *
 * <ul>
 *   <li>{@link dev.onnxprune.training.Autodiff#gradients}: a model computing a {@link
 *       dev.onnxprune.training.Loss} and its gradients with respect to named inputs, initializers
 *       or activations (dL/dmask for Taylor, adversarial and PruneNet scores).
 *   <li>{@link dev.onnxprune.training.TrainingArtifact}: the training step (forward with batch
 *       statistics, cross-entropy, gradients, {@link dev.onnxprune.training.Optimizer} update),
 *       the eval model and the checkpoint, written to a folder with {@code artifact.json}
 *       ({@link dev.onnxprune.training.ArtifactSpec}); options in {@link
 *       dev.onnxprune.training.TrainingOptions}.
 *   <li>{@link dev.onnxprune.training.TrainingSession}: runs an artifact in ONNX Runtime, keeping
 *       the state between steps; {@link dev.onnxprune.training.Schedules}: learning-rate
 *       schedules.
 *   <li>{@link dev.onnxprune.training.Trainer} ({@link dev.onnxprune.training.TrainerOptions}):
 *       epochs over a dataset with shuffling, {@link dev.onnxprune.training.Augmentation}, a
 *       schedule, validation after each epoch, checkpoints and resuming.
 *   <li>Recovery after pruning: {@link dev.onnxprune.training.BnRecalibration} (re-estimated
 *       BatchNorm statistics, no weight update) and {@link dev.onnxprune.training.Scratch} (the
 *       re-initialised baseline of Liu et al. and its Scratch-B epoch budget).
 * </ul>
 *
 * <p>The gradient rules are one class per op family ({@code ConvGrads}, {@code LinearGrads},
 * {@code NormGrads}, {@code ActivationGrads}, {@code ArithmeticGrads}, {@code PoolGrads}, {@code
 * ReduceGrads}, {@code LayoutGrads}, {@code SoftmaxGrads}), each citing its math, registered in
 * the enum {@code GradRules}. Every rule is checked against central finite differences ({@code
 * GradientCheckTest}, table in {@code target/gradient-check.txt}); one SGD step of the resnet20
 * fixture and one of the vit_tiny fixture (a transformer: Gather, Erf, Pow, Sqrt, Expand, Where,
 * decomposed LayerNorms, class token and position table) agree with PyTorch ({@code
 * PyTorchAgreementTest}).
 */
package dev.onnxprune.training;
