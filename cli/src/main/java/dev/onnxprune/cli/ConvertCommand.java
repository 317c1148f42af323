package dev.onnxprune.cli;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.WriteOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune convert MODEL -o OUT [--external-data]}: reads a model and writes it back
 * (the lossless round trip); the passes of later commands run between the two. The output is
 * written atomically, so OUT may be MODEL itself.
 */
@Command(name = "convert",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
        "Reads a model and writes it again: every node, attribute, opset, metadata entry and weight is kept.",
        "Use it to move weights into or out of an external data file. OUT is written atomically (temporary"
            + " file, then rename), so it may be MODEL itself; nothing is written when reading fails."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE})
public final class ConvertCommand implements Callable<Integer> {
  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to read.")
  Path model;

  @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "The .onnx file to write.")
  Path output;

  @Option(names = "--external-data",
      description = "Write every tensor of 1 KiB or more to OUT.data beside OUT (default: all data inside OUT,"
          + " unless the model is over protobuf's 2 GiB limit).")
  boolean externalData;

  @Override
  public Integer call() {
    return common.run(() -> {
      if (Files.isDirectory(output)) {
        throw new CommandFailure(Messages.outputIsDirectory(output));
      }
      Model m = OnnxModels.read(model);
      long inBytes = Files.size(model);
      long inExternal = ModelFiles.externalDataBytes(m, model);

      Instant writeStart = Instant.now().truncatedTo(ChronoUnit.SECONDS);
      OnnxModels.write(m, output, externalData ? WriteOptions.withExternalData() : WriteOptions.defaults());

      long outBytes = Files.size(output);
      // the default options also move data out when the model passes protobuf's 2 GiB limit
      Path dataFile = output.resolveSibling(output.getFileName() + ".data");
      boolean wroteData = Files.exists(dataFile)
          && (externalData || !Files.getLastModifiedTime(dataFile).toInstant().isBefore(writeStart));
      long outExternal = wroteData ? Files.size(dataFile) : 0;
      common.out().println("wrote " + output + ": " + m.graph().nodes().size() + " nodes, "
          + ModelFiles.describeSize(inBytes, inExternal) + " -> " + ModelFiles.describeSize(outBytes, outExternal)
          + (wroteData ? " (" + dataFile.getFileName() + ")" : ""));
      return ExitCodes.OK;
    });
  }
}
