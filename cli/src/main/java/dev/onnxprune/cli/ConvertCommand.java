package dev.onnxprune.cli;

import dev.onnxprune.graph.pass.PassManager;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.surgery.BatchNormFolding;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune convert MODEL -o OUT [--fold-bn] [--external-data]}: reads a model and
 * writes it back (the lossless round trip), with the optional passes in between. The output is
 * written atomically, so OUT may be MODEL itself.
 */
@Command(name = "convert",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
        "Reads a model and writes it again: every node, attribute, opset, metadata entry and weight is kept.",
        "Use it to move weights into or out of an external data file, or with --fold-bn to fold BatchNormalization"
            + " into the Conv/Gemm before it. OUT is written atomically (temporary file, then rename), so it may be"
            + " MODEL itself; nothing is written when reading fails."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json):%n",
    footer = {
        "  format             \"" + ConvertCommand.FORMAT + "\"",
        "  input, output, dataFile (null: all data inside output)",
        "  nodesBefore, nodesAfter, bytesBefore, bytesAfter (model file and external data together)",
        "  foldBn             {folded, skipped[] (each node left, with the reason)} (null: no --fold-bn)"})
public final class ConvertCommand implements Callable<Integer> {
  /** Version tag of the --json layout. */
  static final String FORMAT = "onnx-prune.convert/1";

  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to read.")
  Path model;

  @Mixin
  ModelOutputOptions output;

  @Option(names = "--fold-bn",
      description = "Fold every inference-mode BatchNormalization into the Conv, ConvTranspose or Gemm that feeds it"
          + " (same outputs within float rounding); prints how many were folded and why any was left.")
  boolean foldBn;

  @Option(names = "--json", description = "Print what was written as one JSON document (fields below).")
  boolean json;

  /** What --json prints. */
  @JsonPropertyOrder({"format", "input", "output", "dataFile", "nodesBefore", "nodesAfter", "bytesBefore",
      "bytesAfter", "foldBn"})
  record Report(String format, String input, String output, String dataFile, int nodesBefore, int nodesAfter,
      long bytesBefore, long bytesAfter, Folding foldBn) {}

  /** --fold-bn's result. */
  record Folding(int folded, List<String> skipped) {}

  @Override
  public Integer call() {
    return common.run(() -> {
      new OutputPaths().inputModel("model", model).modelOutput("output", output.file).check();
      Model m = OnnxModels.read(model);
      if (foldBn) {
        ModelChecker.requireValid(m); // a pass needs a valid graph
      }
      // the model is written as it is (lossless); what ONNX's checker would refuse is said, one line each
      for (String problem : ModelChecker.check(m)) {
        common.err().println("onnx-prune: warning: " + model + " is not a valid ONNX model: " + problem);
      }
      long inBytes = Files.size(model);
      long inExternal = ModelFiles.externalDataBytes(m, model);
      int nodesIn = m.graph().nodes().size();

      BatchNormFolding.Result folding = foldBn ? (BatchNormFolding.Result) PassManager.run(m, new BatchNormFolding()) : null;
      ModelFiles.Written w = ModelFiles.write(m, output.file, output.externalData);

      PrintWriter out = common.out();
      if (json) {
        Json.print(out, new Report(FORMAT, model.toString(), output.file.toString(),
            w.dataFile() == null ? null : w.dataFile().toString(), nodesIn, m.graph().nodes().size(),
            inBytes + inExternal, w.totalBytes(), folding == null ? null
                : new Folding(folding.folded(), folding.skipped())));
        return ExitCodes.OK;
      }
      if (folding != null) {
        printFolding(folding, out);
      }
      out.println("wrote " + output.file + ": " + (nodesIn == m.graph().nodes().size() ? "" : nodesIn + " -> ")
          + m.graph().nodes().size() + " nodes, " + ModelFiles.describeSize(inBytes, inExternal) + " -> " + w.describe()
          + (w.dataFile() != null ? " (" + w.dataFile().getFileName() + ")" : ""));
      return ExitCodes.OK;
    });
  }

  private static void printFolding(BatchNormFolding.Result r, PrintWriter out) {
    int total = r.folded() + r.skipped().size();
    out.println("folded " + r.folded() + " of " + total + " BatchNormalization node(s)"
        + (r.skipped().isEmpty() ? "" : "; " + r.skipped().size() + " left as they are:"));
    for (String why : r.skipped()) {
      out.println("  " + why);
    }
  }
}
