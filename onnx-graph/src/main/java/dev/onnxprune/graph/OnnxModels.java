package dev.onnxprune.graph;

import com.google.protobuf.CodedOutputStream;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.Map;

/** Reading and writing ONNX model files. */
public final class OnnxModels {
  private OnnxModels() {}

  /**
   * Reads a model. The file is memory-mapped and parsed once into a heap copy that every
   * inline tensor shares (protobuf-java cannot parse a mapping in place), so the weights are on
   * the heap once, never twice; tensors in external data files stay in those files (open, read
   * on use: {@link ExternalDataFile}), off the heap, until changed.
   *
   * @throws ModelFormatException when the file is missing, not ONNX, truncated or corrupt,
   *     its external data is missing, or a node reads an undefined value; no partial model
   *     is returned
   */
  public static Model read(Path file) throws IOException {
    return ProtoReader.read(file);
  }

  /**
   * The external data files the model in {@code file} refers to, resolved against its folder, in
   * order of first use; none when all its data is inline (or the file is missing, not a model, or
   * over 64 MiB, which no model that keeps its weights outside is). For tools that treat a model as
   * the files it consists of, such as the Maven plugin's content hash.
   */
  public static java.util.List<Path> externalDataFiles(Path file) {
    return ProtoReader.externalDataFiles(file);
  }

  /** Reads a model from bytes; {@code nameForMessages} names it in errors (may be null). */
  public static Model read(byte[] bytes, Path nameForMessages) throws IOException {
    return ProtoReader.read(bytes, nameForMessages);
  }

  /**
   * Writes a model atomically, tensor data inline unless it passes protobuf's 2 GiB limit; as
   * {@link #write(Model, Path, WriteOptions)}.
   */
  public static Path write(Model model, Path file) throws IOException {
    return write(model, file, WriteOptions.defaults());
  }

  /**
   * Writes a model atomically: to temporary files beside {@code file}, then renamed into place,
   * so that whenever the writer stops (a failure, a kill), {@code file} is the complete previous
   * model with its previous data or the complete new model with its data, never a mix and never
   * a part.
   *
   * <p>External data goes to a file beside {@code file} named after its content:
   * {@code <file name>.<16 hex digits of its SHA-256>.data} (or {@link WriteOptions#dataFileName()}
   * with the digits inserted before its extension). The same data gets the same name, and new
   * data never takes the name of the data the previous model uses. After the new model is in
   * place, the data files of the previous model at {@code file} that the new one does not use are
   * removed when this writer named them for {@code file} ({@code <file name>.data} as earlier
   * versions named it, or a hashed name as above); a data file that the old model did not refer
   * to, or that someone else named, is never touched. Temporary files that killed writes of
   * {@code file} left behind are removed first ({@link AtomicFiles#removeStaleTemps}).
   *
   * <p>A symbolic link at {@code file} is written through: the file it leads to gets the model,
   * the link stays, and external data goes beside the link (locations are relative to the folder
   * of the path a loader is given).
   *
   * @return the external data file written, or null when all data is inline
   * @throws dev.onnxprune.errors.InvalidOptionException (key {@code output}) when {@code file}
   *     exists and is not a regular file (a directory, a device, a FIFO): it is never replaced
   * @throws IOException when writing fails; {@code file} is then as it was
   */
  public static Path write(Model model, Path file, WriteOptions options) throws IOException {
    return ProtoWriter.write(model, file, options);
  }

  /** Bytes of tensor data the model's initializers hold, in every graph (subgraphs included). */
  public static long tensorBytes(Model model) {
    return ProtoWriter.tensorBytes(model);
  }

  /**
   * A serialized model whose tensors that are still in external data files stay there: the
   * bytes refer to them by {@link ExternalDataFile#location()} relative to {@link #folder()}.
   *
   * @param bytes the serialized model; every other tensor is inline
   * @param folder the folder the locations are relative to; null when no tensor is referenced
   * @param inlineTensorBytes bytes of tensor data inline in {@code bytes}
   */
  public record Referencing(byte[] bytes, Path folder, long inlineTensorBytes) {}

  /**
   * {@code model} serialized with the tensors read from external data files referring to those
   * files (all in one folder, and each file still the one that was read: {@link
   * ExternalDataFile#unchangedOnDisk()}), the others inline, so that ONNX Runtime reads (or maps)
   * the weights from the model's own files, with no copy in this process; null when the files
   * are in several folders or one changed since reading, or when the tensors that would be
   * inline hold {@code maxInlineBytes} or more.
   */
  public static Referencing referencing(Model model, long maxInlineBytes) {
    Path folder = null;
    long inline = 0;
    Map<ExternalDataFile, Boolean> usable = new IdentityHashMap<>();
    for (Graph g : model.allGraphs()) {
      for (Value v : g.initializers()) {
        Tensor.FileSlice f = v.initializer().fileSlice();
        if (f == null) {
          inline += v.initializer().byteSize();
          continue;
        }
        if (!usable.computeIfAbsent(f.file(), ExternalDataFile::unchangedOnDisk)
            || (folder != null && !folder.equals(f.file().folder()))) {
          return null;
        }
        folder = f.file().folder();
      }
    }
    if (inline >= maxInlineBytes || inline > WriteOptions.PROTOBUF_LIMIT - (64L << 20)) {
      return null;
    }
    ModelProto proto = ProtoWriter.toProtoReferencing(model, f -> true);
    return new Referencing(serialize(proto), folder, inline);
  }

  /** The serialized model, all data inline (for in-memory sessions; limited to 2 GiB). */
  public static byte[] toBytes(Model model) {
    return serialize(ProtoWriter.toProtoInline(model));
  }

  private static byte[] serialize(ModelProto proto) {
    try {
      // one array of the exact size (a ByteArrayOutputStream's toByteArray was a second copy)
      byte[] out = new byte[proto.getSerializedSize()];
      CodedOutputStream cos = CodedOutputStream.newInstance(out);
      proto.writeTo(cos);
      cos.checkNoSpaceLeft();
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("serializing to memory", e);
    }
  }
}
