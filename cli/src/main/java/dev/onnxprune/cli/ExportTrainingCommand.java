package dev.onnxprune.cli;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.training.ArtifactSpec;
import dev.onnxprune.training.BatchNormMode;
import dev.onnxprune.training.GradientException;
import dev.onnxprune.training.Optimizer;
import dev.onnxprune.training.RunningVariance;
import dev.onnxprune.training.TrainingArtifact;
import dev.onnxprune.training.TrainingOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune export-training MODEL -o DIR}: writes the training artifact of MODEL (a
 * training-step model, an eval model, a checkpoint and artifact.json) that stock ONNX Runtime
 * runs; see {@link TrainingArtifact}.
 */
@Command(name = "export-training",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    parameterListHeading = "%nInput and output:%n",
    description = {
        "Writes the training artifact of MODEL into DIR: train_step.onnx (forward with batch statistics, softmax"
            + " cross-entropy, gradients and the optimizer update, standard ONNX ops only), eval.onnx,"
            + " checkpoint.onnx (the initial parameters, optimizer state and BatchNorm statistics) and the file"
            + " artifact.json, which says which input and output is which."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json):%n",
    footer = {
        "  format             \"" + ExportTrainingCommand.FORMAT + "\"",
        "  model, output (the folder), files {trainStep, eval, checkpoint, spec} (names in the folder)",
        "  parameterTensors, parameters (values), batchNormStatistics (tensors), optimizer (its type)"})
public final class ExportTrainingCommand implements Callable<Integer> {
  /** Version tag of the --json layout. */
  static final String FORMAT = "onnx-prune.export-training/1";

  @Parameters(index = "0", paramLabel = "MODEL", description = "The inference .onnx file (opset 13 or newer).")
  Path model;

  @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "The folder to write.")
  Path output;

  @Option(names = "--json", description = "Print what was written as one JSON document (fields below).")
  boolean json;

  /** What --json prints. */
  @JsonPropertyOrder({"format", "model", "output", "files", "parameterTensors", "parameters", "batchNormStatistics",
      "optimizer"})
  record Report(String format, String model, String output, ArtifactFiles files, int parameterTensors, long parameters,
      int batchNormStatistics, String optimizer) {}

  /** The artifact's files, by name in the output folder. */
  record ArtifactFiles(String trainStep, String eval, String checkpoint, String spec) {}

  @Mixin
  CommonOptions common;

  @ArgGroup(validate = false, heading = "%nOptimizer and loss:%n", order = 1)
  TrainingStepOptions step = new TrainingStepOptions();

  @ArgGroup(validate = false, heading = "%nParameters and BatchNorm:%n", order = 2)
  Trained trained = new Trained();

  /** What the training step updates, and how; an option section, defaults as field initialisers. */
  static final class Trained {
    @Option(names = "--freeze", paramLabel = "NAME", split = ",",
        description = "Initializers to keep constant (comma-separated or repeated).")
    List<String> freeze = new ArrayList<>();

    @Option(names = "--bn-eval",
        description = "Keep BatchNormalization on its running statistics (frozen) instead of batch statistics.")
    boolean bnEval;

    @Option(names = "--running-var", paramLabel = "KIND",
        description = "unbiased (PyTorch) or biased (ONNX Runtime) batch variance in the running variance"
            + " (default: ${DEFAULT-VALUE}).")
    String runningVar = "unbiased";

    @Option(names = "--keep-zeros",
        description = "Weights that are exactly zero (unstructured masking) stay zero.")
    boolean keepZeros;
  }

  @Override
  public Integer call() {
    return common.run(() -> {
      if (Files.isRegularFile(output)) {
        throw new CommandFailure(output + ": is a file; -o names the folder to write the artifact into");
      }
      TrainingOptions options = options();
      OutputPaths paths = new OutputPaths().inputModel("model", model);
      for (String file : List.of(TrainingArtifact.TRAIN_STEP, TrainingArtifact.EVAL, TrainingArtifact.CHECKPOINT,
          TrainingArtifact.SPEC)) {
        paths.output("output", output.resolve(file)); // new files, not MODEL rewritten: never MODEL itself
      }
      paths.check();
      Model m = OnnxModels.read(model);
      ArtifactSpec spec;
      try {
        spec = TrainingArtifact.export(m, options, output);
      } catch (GradientException e) {
        throw new CommandFailure(e.getMessage());
      }
      long params = 0;
      for (ArtifactSpec.StateTensor s : spec.state(ArtifactSpec.PARAMETER)) {
        params += s.shape().stream().mapToLong(Long::longValue).reduce(1, (a, b) -> a * b);
      }
      int tensors = spec.state(ArtifactSpec.PARAMETER).size();
      int statistics = spec.state(ArtifactSpec.BUFFER).size();
      String optimizer = String.valueOf(spec.optimizer().get("type"));
      if (json) {
        ArtifactFiles files =
            new ArtifactFiles(spec.trainStep(), spec.eval(), spec.checkpoint(), TrainingArtifact.SPEC);
        Json.print(common.out(), new Report(FORMAT, model.toString(), output.toString(), files, tensors, params,
            statistics, optimizer));
        return ExitCodes.OK;
      }
      common.out().println("wrote " + output + ": " + spec.trainStep() + ", " + spec.eval() + ", "
          + spec.checkpoint() + ", " + TrainingArtifact.SPEC + " (" + tensors + " parameter tensors, " + params
          + " values; " + statistics + " BatchNorm statistics; optimizer " + optimizer + ")");
      return ExitCodes.OK;
    });
  }

  private TrainingOptions options() throws UsageFailure {
    Optimizer opt = step.optimizer();
    String runningVar = trained.runningVar;
    RunningVariance rv = UsageFailure.check("--running-var", () -> switch (runningVar) {
      case "unbiased" -> RunningVariance.UNBIASED;
      case "biased" -> RunningVariance.BIASED;
      default -> throw new IllegalArgumentException("must be unbiased or biased: '" + runningVar + "'");
    });
    TrainingOptions.Builder b = TrainingOptions.builder().optimizer(opt).runningVariance(rv)
        .batchNormMode(trained.bnEval ? BatchNormMode.INFERENCE : BatchNormMode.TRAINING).freeze(trained.freeze)
        .maskZeroWeights(trained.keepZeros);
    b.labelSmoothing(step.labelSmoothing());
    return b.build();
  }
}
