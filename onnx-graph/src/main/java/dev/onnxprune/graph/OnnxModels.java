package dev.onnxprune.graph;

import com.google.protobuf.CodedOutputStream;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;

/** Reading and writing ONNX model files. */
public final class OnnxModels {
  private OnnxModels() {}

  /**
   * Reads a model. The file is memory-mapped and parsed once into a heap copy that every
   * inline tensor shares (protobuf-java cannot parse a mapping in place), so the weights are on
   * the heap once, never twice; tensors in external data files stay in their mappings, off the
   * heap, until changed.
   *
   * @throws ModelFormatException when the file is missing, not ONNX, truncated or corrupt,
   *     its external data is missing, or a node reads an undefined value; no partial model
   *     is returned
   */
  public static Model read(Path file) throws IOException {
    return ProtoReader.read(file);
  }

  /** Reads a model from bytes; {@code nameForMessages} names it in errors (may be null). */
  public static Model read(byte[] bytes, Path nameForMessages) throws IOException {
    return ProtoReader.read(bytes, nameForMessages);
  }

  /** Writes a model atomically, tensor data inline unless it passes protobuf's 2 GiB limit. */
  public static void write(Model model, Path file) throws IOException {
    write(model, file, WriteOptions.defaults());
  }

  /**
   * Writes a model atomically: to temporary files beside {@code file}, then renamed into place,
   * so a failure never leaves a partial output. When {@code file} was written before with its
   * data in {@code file.data} and this write no longer uses that file (inline data, or another
   * data file name), {@code file.data} is deleted after the new model is in place; a data file
   * that the old model did not refer to is never touched.
   */
  public static void write(Model model, Path file, WriteOptions options) throws IOException {
    ProtoWriter.write(model, file, options);
  }

  /** The serialized model, all data inline (for in-memory sessions; limited to 2 GiB). */
  public static byte[] toBytes(Model model) {
    ModelProto proto = ProtoWriter.toProtoInline(model);
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(32, proto.getSerializedSize()));
      CodedOutputStream cos = CodedOutputStream.newInstance(out, 1 << 16);
      proto.writeTo(cos);
      cos.flush();
      return out.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("serializing to memory", e);
    }
  }
}
