package dev.onnxprune.cli;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.WriteOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/** Sizes of a model on disk: the .onnx file and the external data files its tensors live in. */
final class ModelFiles {
  private ModelFiles() {}

  /** The distinct external data files that {@code model}'s initializers were read from. */
  static Set<Path> externalDataFiles(Model model, Path modelFile) {
    Path dir = modelFile.toAbsolutePath().getParent();
    Set<Path> files = new LinkedHashSet<>();
    for (Graph g : model.allGraphs()) {
      for (Value v : g.initializers()) {
        Tensor.ExternalLocation loc = v.initializer().externalLocation();
        if (loc != null) {
          files.add(dir.resolve(loc.location()).normalize());
        }
      }
    }
    return files;
  }

  /** Bytes of the external data files of {@code model} (0 when all data is inline). */
  static long externalDataBytes(Model model, Path modelFile) throws IOException {
    long total = 0;
    for (Path p : externalDataFiles(model, modelFile)) {
      total += Files.size(p);
    }
    return total;
  }

  /** What {@link #write} wrote: the .onnx file's bytes, and the external data file if one was written. */
  record Written(Path file, long fileBytes, Path dataFile, long dataBytes) {
    /** "1.1 MiB", or "12.0 KiB + 1.1 MiB external data". */
    String describe() {
      return describeSize(fileBytes, dataBytes);
    }

    long totalBytes() {
      return fileBytes + dataBytes;
    }
  }

  /**
   * Writes {@code model} to {@code output} (atomically), with its tensors of 1 KiB or more in a data
   * file beside it ({@code OUT.<hash>.data}) when {@code externalData}; without it the data is
   * inline unless the model passes protobuf's 2 GiB limit.
   */
  static Written write(Model model, Path output, boolean externalData) throws IOException {
    Path dataFile = OnnxModels.write(model, output,
        externalData ? WriteOptions.withExternalData() : WriteOptions.defaults());
    return new Written(output, Files.size(output), dataFile, dataFile == null ? 0 : Files.size(dataFile));
  }

  /**
   * Bytes of the model {@code file} this tool wrote and of the external data files it refers to,
   * found without reading the model's tensors ({@link OnnxModels#externalDataFiles}: reading a
   * 0.67 GB inline output back took 0.67 GB of heap after a prune). A file this tool writes with
   * external data is small; one over 64 MiB holds all its data inline.
   */
  static long bytesOnDisk(Path file) throws IOException {
    long total = Files.size(file);
    for (Path p : new LinkedHashSet<>(OnnxModels.externalDataFiles(file))) {
      total += Files.size(p);
    }
    return total;
  }

  /** "1.1 MiB", or "12.0 KiB + 1.1 MiB external data" when some data lives beside the file. */
  static String describeSize(long fileBytes, long externalBytes) {
    return Units.bytes(fileBytes) + (externalBytes > 0 ? " + " + Units.bytes(externalBytes) + " external data" : "");
  }
}
