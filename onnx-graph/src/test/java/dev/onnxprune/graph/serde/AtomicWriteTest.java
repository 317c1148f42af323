package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.WriteOptions;
import dev.onnxprune.graph.conformance.ProtoDiff;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writing goes to temporary files that are renamed into place: a failed write changes nothing. */
class AtomicWriteTest {
  private static final byte[] OLD = "previous model".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path dir;

  private Set<String> filesIn(Path folder) throws IOException {
    try (Stream<Path> s = Files.list(folder)) {
      return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
    }
  }

  /** 33 initializers of 64 MiB that share one buffer: 2.1 GB of tensor data in 64 MiB of heap. */
  private static Model modelOverTwoGigabytes() {
    ByteString shared = UnsafeByteOperations.unsafeWrap(new byte[64 << 20]);
    Graph g = new Graph("huge");
    List<Value> weights = new ArrayList<>();
    for (int i = 0; i < 33; i++) {
      weights.add(g.addInitializer("w" + i, Tensor.ofRaw(DataType.FLOAT, new long[] {16L << 20}, shared)));
    }
    g.addOutput(g.addNode("Sum", "sum", weights, List.of("y")).output(0));
    return model(g);
  }

  private static Model model(Graph g) {
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  @Test
  void writtenFilesGetTheFolderDefaultPermissionsNotOwnerOnly() throws IOException {
    org.junit.jupiter.api.Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"));
    Path plain = Files.createFile(dir.resolve("plain"));
    Path out = dir.resolve("m.onnx");
    OnnxModels.write(smallModel(0), out, WriteOptions.withExternalData());
    var want = Files.getPosixFilePermissions(plain);
    assertEquals(want, Files.getPosixFilePermissions(out), "model file");
    assertEquals(want, Files.getPosixFilePermissions(dir.resolve("m.onnx.data")), "external data file");
  }

  @Test
  void modelOverTheProtobufLimitIsRefusedAndTheExistingTargetKept() throws IOException {
    Path target = Files.write(dir.resolve("model.onnx"), OLD);

    IOException e = assertThrows(IOException.class,
        () -> OnnxModels.write(modelOverTwoGigabytes(), target, WriteOptions.inline()));

    assertTrue(e.getMessage().contains("over protobuf's 2 GiB limit; write it with external data"), e.getMessage());
    assertArrayEquals(OLD, Files.readAllBytes(target));
    assertEquals(Set.of("model.onnx"), filesIn(dir));
  }

  @Test
  void targetFolderThatCannotBeCreatedFailsWithoutCreatingAnything() throws IOException {
    Path notAFolder = Files.write(dir.resolve("plain-file"), OLD);
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));

    assertThrows(IOException.class, () -> OnnxModels.write(m, notAFolder.resolve("model.onnx")));

    assertArrayEquals(OLD, Files.readAllBytes(notAFolder));
    assertEquals(Set.of("plain-file"), filesIn(dir));
  }

  @Test
  void failureWhileMovingFilesIntoPlaceKeepsTheExistingTargetAndRemovesTemporaries() throws IOException {
    Path target = Files.write(dir.resolve("model.onnx"), OLD);
    // The data file's name is taken by a non-empty folder, so its rename fails after both
    // temporary files have been written in full.
    Files.createDirectories(dir.resolve("weights").resolve("keep"));
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));

    assertThrows(IOException.class, () -> OnnxModels.write(m, target,
        new WriteOptions(WriteOptions.ExternalData.ALWAYS, 0, "weights")));

    assertArrayEquals(OLD, Files.readAllBytes(target));
    assertEquals(Set.of("model.onnx", "weights"), filesIn(dir));
    assertEquals(Set.of("keep"), filesIn(dir.resolve("weights")));
  }

  @Test
  void writingAModelOverItsOwnSourceFileKeepsItsData() throws IOException {
    Path f = dir.resolve("vgg.onnx");
    Files.copy(TestModels.model("vgg_bn.onnx"), f);
    byte[] before = Files.readAllBytes(f);

    Model m = OnnxModels.read(f); // its tensors stay in the mapping of f
    OnnxModels.write(m, f);

    assertArrayEquals(before, Files.readAllBytes(f));
    assertEquals(Set.of("vgg.onnx"), filesIn(dir));
  }

  @Test
  void externalDataModelWrittenOverItsOwnSourceKeepsItsData() throws IOException {
    Path f = dir.resolve("vgg.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("vgg_bn.onnx")), f, WriteOptions.withExternalData());

    OnnxModels.write(OnnxModels.read(f), f, WriteOptions.withExternalData());

    Path inline = dir.resolve("inline.onnx");
    OnnxModels.write(OnnxModels.read(f), inline, WriteOptions.inline());
    assertNull(ProtoDiff.firstDifference(Protos.parse(TestModels.model("vgg_bn.onnx")), Protos.parse(inline)));
    assertEquals(Set.of("vgg.onnx", "vgg.onnx.data", "inline.onnx"), filesIn(dir));
  }

  private static Model smallModel(float value) {
    Graph g = new Graph("g");
    float[] data = new float[2048];
    java.util.Arrays.fill(data, value);
    Value w = g.addInitializer("w", Tensor.ofFloats(new long[] {2048}, data));
    g.addOutput(g.addNode("Identity", "id", List.of(w), List.of("y")).output(0));
    return model(g);
  }

  @Test
  void rewritingInlineRemovesTheDataFileTheEarlierWriteLeft() throws IOException {
    Path out = dir.resolve("m.onnx");
    OnnxModels.write(smallModel(1), out, WriteOptions.withExternalData());
    assertEquals(Set.of("m.onnx", "m.onnx.data"), filesIn(dir));
    // read back (its tensor mapped from m.onnx.data), written inline over itself: the data file goes
    Model mapped = OnnxModels.read(out);
    OnnxModels.write(mapped, out, WriteOptions.inline());
    assertEquals(Set.of("m.onnx"), filesIn(dir));
    assertEquals(1f, OnnxModels.read(out).graph().initializers().get(0).initializer().toFloatArray()[2047]);
    // and to another data file name: the old default-named file goes too
    OnnxModels.write(smallModel(2), out, WriteOptions.withExternalData());
    OnnxModels.write(smallModel(3), out, new WriteOptions(WriteOptions.ExternalData.ALWAYS, 1024, "weights.bin"));
    assertEquals(Set.of("m.onnx", "weights.bin"), filesIn(dir));
    assertEquals(3f, OnnxModels.read(out).graph().initializers().get(0).initializer().toFloatArray()[0]);
  }

  @Test
  void dataFilesTheOldModelDidNotUseAreLeftAlone() throws IOException {
    Path out = dir.resolve("m.onnx");
    // a custom data file name is not this writer's to remove
    OnnxModels.write(smallModel(1), out, new WriteOptions(WriteOptions.ExternalData.ALWAYS, 1024, "weights.bin"));
    OnnxModels.write(smallModel(2), out, WriteOptions.inline());
    assertEquals(Set.of("m.onnx", "weights.bin"), filesIn(dir));
    // a file named like the default data file that the old (inline) model did not refer to stays
    Files.write(dir.resolve("m.onnx.data"), OLD);
    OnnxModels.write(smallModel(3), out, WriteOptions.inline());
    assertArrayEquals(OLD, Files.readAllBytes(dir.resolve("m.onnx.data")));
  }
}
