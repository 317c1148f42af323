package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelFormatException;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.WriteOptions;
import dev.onnxprune.graph.conformance.OrtRunner;
import dev.onnxprune.graph.conformance.OrtRunner.NotComparableException;
import dev.onnxprune.graph.conformance.ProtoDiff;
import dev.onnxprune.graph.conformance.TensorProtos;
import dev.onnxprune.graph.conformance.TensorProtos.Decoded;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.StringStringEntryProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tensor data in a separate file beside the model (ONNX external data). */
class ExternalDataTest {
  @TempDir
  Path dir;

  private Path resnetWithExternalData() throws IOException {
    Path ext = dir.resolve("resnet20.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("resnet20.onnx")), ext, WriteOptions.withExternalData());
    return ext;
  }

  @Test
  void externalDataGoesToADataFileAndReadsBackWithEqualTensorBytes() throws IOException {
    Path original = TestModels.model("resnet20.onnx");
    Path ext = resnetWithExternalData();

    Path data = dataFileOf(ext);
    assertTrue(data.getFileName().toString().matches("resnet20\\.onnx\\.[0-9a-f]{16}\\.data"),
        data.toString());
    assertTrue(Files.isRegularFile(data), "no " + data);
    assertTrue(Files.size(ext) < Files.size(original) / 10,
        "model file is " + Files.size(ext) + " bytes, the original " + Files.size(original));
    Model before = OnnxModels.read(original);
    Model after = OnnxModels.read(ext);
    int external = 0;
    for (Value v : before.graph().initializers()) {
      Tensor t = after.graph().value(v.name()).initializer();
      assertEquals(v.initializer().rawBytes(), t.rawBytes(), v.name());
      if (t.externalLocation() != null) {
        external++;
        assertEquals(0, t.externalLocation().offset() % 4096, "offset of " + v.name() + " is not page-aligned");
        assertEquals(data.getFileName().toString(), t.externalLocation().location());
      } else {
        assertTrue(t.byteSize() < WriteOptions.withExternalData().externalThreshold(), v.name() + " stayed inline");
      }
    }
    assertTrue(external > 20, "only " + external + " tensors went external");
  }

  @Test
  void onnxRuntimeRunsTheExternalDataModelWithTheSameOutputs() throws IOException, OrtException,
      NotComparableException {
    Path ext = resnetWithExternalData();
    float[] image = new float[2 * 28 * 28];
    Random r = new Random(3);
    for (int i = 0; i < image.length; i++) {
      image[i] = r.nextFloat();
    }
    ByteBuffer b = ByteBuffer.allocate(image.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(image);
    Map<String, Decoded> input = Map.of("input",
        new Decoded(TensorProto.DataType.FLOAT_VALUE, new long[] {2, 1, 28, 28}, b, null));

    Decoded want;
    Decoded got;
    try (OrtRunner ort = OrtRunner.open(TestModels.model("resnet20.onnx"))) {
      want = ort.run(input, List.of("logits")).get(0);
    }
    try (OrtRunner ort = OrtRunner.open(ext)) {
      got = ort.run(input, List.of("logits")).get(0);
    }
    assertNull(TensorProtos.compare(want, got, 0, 0));
  }

  @Test
  void externalThenInlineGivesBackTheOriginalModel() throws IOException {
    Path ext = resnetWithExternalData();
    Path inline = dir.resolve("inline.onnx");
    OnnxModels.write(OnnxModels.read(ext), inline, WriteOptions.inline());
    ModelProto original = Protos.parse(TestModels.model("resnet20.onnx"));
    assertNull(ProtoDiff.firstDifference(original, Protos.parse(inline)));
  }

  @Test
  void externalTensorsStayInTheirFileAndWritingKeepsNoHeapCopy() throws IOException {
    Path ext = resnetWithExternalData();
    Model m = OnnxModels.read(ext);
    List<Value> external = m.graph().initializers().stream()
        .filter(v -> v.initializer().externalLocation() != null).toList();
    assertFalse(external.isEmpty());
    Model inline = OnnxModels.read(TestModels.model("resnet20.onnx"));

    OnnxModels.write(m, dir.resolve("again.onnx"), WriteOptions.withExternalData());
    OnnxModels.write(m, dir.resolve("inline.onnx"), WriteOptions.inline());

    for (Value v : external) {
      Tensor.FileSlice f = v.initializer().fileSlice();
      assertNotNull(f, v.name() + " is not read from its file");
      assertEquals(dataFileOf(ext).toRealPath(), f.file().file(), v.name());
      assertEquals(v.initializer().byteSize(), f.length(), v.name());
      assertEquals(inline.graph().value(v.name()).initializer().buffer(), v.initializer().buffer(), v.name());
      assertArrayEquals(inline.graph().value(v.name()).initializer().toFloatArray(), v.initializer().toFloatArray());
    }
  }

  @Test
  void readerWalksExternalDataInWindowsAsTheWholeBufferHasIt() throws IOException {
    Model m = OnnxModels.read(resnetWithExternalData());
    for (Value v : m.graph().initializers()) {
      Tensor t = v.initializer();
      if (t.fileSlice() == null || t.dataType() != DataType.FLOAT) {
        continue;
      }
      float[] all = t.toFloatArray();
      // every other run of 3 elements read, the rest skipped; then one bulk read of what is left
      Tensor.Reader r = t.reader();
      int i = 0;
      float[] three = new float[3];
      for (; i + 6 <= all.length / 2; i += 6) {
        r.get(three, 0, 3);
        assertArrayEquals(java.util.Arrays.copyOfRange(all, i, i + 3), three, v.name() + " at " + i);
        r.skip(3);
      }
      float[] rest = new float[all.length - i];
      r.get(rest, 0, rest.length);
      assertArrayEquals(java.util.Arrays.copyOfRange(all, i, all.length), rest, v.name());
    }
  }

  @Test
  void aDataFileReplacedOrDeletedAfterReadingDoesNotChangeTheModel() throws IOException {
    Path ext = resnetWithExternalData();
    Model m = OnnxModels.read(ext);
    Value w = m.graph().initializers().stream().filter(v -> v.initializer().fileSlice() != null).findFirst()
        .orElseThrow();
    float[] before = w.initializer().toFloatArray();
    Path data = dataFileOf(ext);
    assertTrue(w.initializer().fileSlice().file().unchangedOnDisk());
    assertNotNull(OnnxModels.referencing(m, Long.MAX_VALUE));

    // replaced by another file of the same size (zeros): the model keeps the data it read
    Path other = dir.resolve("other.bin");
    Files.write(other, new byte[(int) Files.size(data)]);
    Files.move(other, data, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertFalse(w.initializer().fileSlice().file().unchangedOnDisk());
    assertNull(OnnxModels.referencing(m, Long.MAX_VALUE), "a changed file must not be handed on by its path");
    assertArrayEquals(before, w.initializer().toFloatArray());

    Files.delete(data);
    assertArrayEquals(before, w.initializer().toFloatArray());
    Path again = dir.resolve("copy.onnx");
    OnnxModels.write(m, again, WriteOptions.withExternalData());
    assertArrayEquals(before, OnnxModels.read(again).graph().value(w.name()).initializer().toFloatArray());
  }

  @Test
  void referencingKeepsExternalTensorsInTheirFile() throws Exception {
    Path ext = resnetWithExternalData();
    Model m = OnnxModels.read(ext);
    OnnxModels.Referencing r = OnnxModels.referencing(m, Long.MAX_VALUE);
    assertNotNull(r);
    assertEquals(ext.getParent().toRealPath(), r.folder());
    long external = m.graph().initializers().stream().filter(v -> v.initializer().fileSlice() != null)
        .mapToLong(v -> v.initializer().byteSize()).sum();
    assertEquals(OnnxModels.tensorBytes(m) - external, r.inlineTensorBytes());
    assertTrue(r.bytes().length < Files.size(ext) + OnnxModels.tensorBytes(m) - external + 4096,
        r.bytes().length + " bytes: the external tensors must not be inline");
    ModelProto p = ModelProto.parseFrom(r.bytes());
    for (TensorProto t : p.getGraph().getInitializerList()) {
      boolean wasExternal = m.graph().value(t.getName()).initializer().fileSlice() != null;
      assertEquals(wasExternal, t.getDataLocation() == TensorProto.DataLocation.EXTERNAL, t.getName());
    }
    // over the inline limit: not possible
    assertNull(OnnxModels.referencing(m, OnnxModels.tensorBytes(m) - external));
  }

  @Test
  void missingDataFileIsNamedInTheError() throws IOException {
    Path ext = resnetWithExternalData();
    Path data = dataFileOf(ext);
    Files.delete(data);
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(ext));
    assertEquals(ext, e.file());
    assertTrue(e.getMessage().contains("external data file " + data + " does not exist"),
        e.getMessage());
  }

  @Test
  void dataFileTooShortForATensorIsNamedWithTheBytesNeeded() throws IOException {
    Path ext = resnetWithExternalData();
    Path data = dataFileOf(ext);
    long size = Files.size(data);
    try (FileChannel ch = FileChannel.open(data, StandardOpenOption.WRITE)) {
      ch.truncate(size - 100);
    }
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(ext));
    assertTrue(e.getMessage().contains("external data file " + data + " has " + (size - 100) + " bytes, the tensor needs"
        + " bytes ["), e.getMessage());
    assertTrue(e.getMessage().matches(".*tensor '[^']+'.*"), "the tensor is not named: " + e.getMessage());
  }

  @Test
  void externalLocationOutsideTheModelsFolderIsRefused() throws IOException {
    ModelProto m = Protos.parse(resnetWithExternalData());
    ModelProto.Builder b = m.toBuilder();
    TensorProto.Builder t = b.getGraphBuilder().getInitializerBuilder(0);
    t.clearExternalData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
        .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("../../etc/passwd"));
    Path f = Protos.write(dir.resolve("escape.onnx"), b.build());
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(f));
    assertTrue(e.getMessage().contains("../../etc/passwd"), e.getMessage());
  }

  /** The one external data file {@code model} refers to (its name is the writer's choice). */
  static Path dataFileOf(Path model) throws IOException {
    List<Path> files = dataFilesOf(model);
    assertEquals(1, files.size(), files.toString());
    return files.get(0);
  }

  static List<Path> dataFilesOf(Path model) throws IOException {
    return Protos.parse(model).getGraph().getInitializerList().stream()
        .flatMap(t -> t.getExternalDataList().stream()).filter(e -> e.getKey().equals("location"))
        .map(e -> model.resolveSibling(e.getValue())).distinct().toList();
  }

  @Test
  void dataFileThatIsALinkOutOfTheModelsFolderIsRefusedNamingTensorAndLocation() throws IOException {
    Path folder = Files.createDirectories(dir.resolve("models"));
    Path ext = folder.resolve("resnet20.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("resnet20.onnx")), ext, WriteOptions.withExternalData());
    Path data = dataFileOf(ext);
    // the data file's name now leads out of the folder (as a link to /usr/share/... would)
    Path outside = Files.move(data, dir.resolve("outside.bin"));
    Files.createSymbolicLink(data, outside);

    ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxModels.read(ext));

    assertEquals(ext, e.file());
    String location = data.getFileName().toString();
    assertTrue(e.getMessage().contains("tensor '"), e.getMessage());
    assertTrue(e.getMessage().contains("external data location '" + location + "' leads to " + outside.toRealPath()
        + ", outside the model's folder " + folder.toRealPath()), e.getMessage());
  }

  @Test
  void dataFileLinkedWithinTheModelsFolderIsRead() throws IOException {
    Path ext = resnetWithExternalData();
    Path data = dataFileOf(ext);
    Path moved = Files.move(data, Files.createDirectories(dir.resolve("weights")).resolve("w.bin"));
    Files.createSymbolicLink(data, dir.relativize(moved));

    Model m = OnnxModels.read(ext);

    assertNull(ProtoDiff.firstDifference(Protos.parse(TestModels.model("resnet20.onnx")),
        ModelProto.parseFrom(OnnxModels.toBytes(m))));
  }

  @Test
  void replacingTheDataFileAfterReadingDoesNotChangeTheReadModel() throws IOException {
    Path ext = resnetWithExternalData();
    Model m = OnnxModels.read(ext);
    Value w = m.graph().initializers().stream().filter(v -> v.initializer().externalLocation() != null)
        .findFirst().orElseThrow();
    byte[] expected = Protos.parse(TestModels.model("resnet20.onnx")).getGraph().getInitializerList().stream()
        .filter(t -> t.getName().equals(w.name())).findFirst().orElseThrow().getRawData().toByteArray();

    // Another model written to the same path removes the data file of this one.
    Model other = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    OnnxModels.write(other, ext, WriteOptions.withExternalData());

    assertNotNull(w.initializer().externalLocation());
    assertEquals(com.google.protobuf.ByteString.copyFrom(expected), w.initializer().rawBytes());
  }
}
