package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
    assertEquals(want, Files.getPosixFilePermissions(ExternalDataTest.dataFileOf(out)), "external data file");
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
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    WriteOptions options = new WriteOptions(WriteOptions.ExternalData.ALWAYS, 0, "weights");
    // the data file's name depends on the data alone: learn it by writing elsewhere first
    Path elsewhere = Files.createDirectories(dir.resolve("elsewhere")).resolve("model.onnx");
    String dataName = OnnxModels.write(m, elsewhere, options).getFileName().toString();
    deleteTree(elsewhere.getParent());
    Path target = Files.write(dir.resolve("model.onnx"), OLD);
    // The data file's name is taken by a non-empty folder, so its rename fails after both
    // temporary files have been written in full.
    Files.createDirectories(dir.resolve(dataName).resolve("keep"));

    assertThrows(IOException.class, () -> OnnxModels.write(m, target, options));

    assertArrayEquals(OLD, Files.readAllBytes(target));
    assertEquals(Set.of("model.onnx", dataName), filesIn(dir));
    assertEquals(Set.of("keep"), filesIn(dir.resolve(dataName)));
  }

  private static void deleteTree(Path folder) throws IOException {
    try (Stream<Path> s = Files.walk(folder)) {
      for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  @Test
  void sameDataGetsTheSameDataFileNameAndOtherDataAnother() throws IOException {
    Path a = Files.createDirectories(dir.resolve("a")).resolve("m.onnx");
    Path b = Files.createDirectories(dir.resolve("b")).resolve("m.onnx");
    Path one = OnnxModels.write(smallModel(1), a, WriteOptions.withExternalData());
    Path again = OnnxModels.write(smallModel(1), b, WriteOptions.withExternalData());
    byte[] modelAgain = Files.readAllBytes(b);
    Path other = OnnxModels.write(smallModel(2), b, WriteOptions.withExternalData());

    assertTrue(one.getFileName().toString().matches("m\\.onnx\\.[0-9a-f]{16}\\.data"), one.toString());
    assertEquals(one.getFileName(), again.getFileName());
    assertArrayEquals(Files.readAllBytes(a), modelAgain, "the same model gives the same bytes");
    assertNotEquals(one.getFileName(), other.getFileName());
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
    assertEquals(Set.of("vgg.onnx", ExternalDataTest.dataFileOf(f).getFileName().toString(), "inline.onnx"),
        filesIn(dir));
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
    Path data = OnnxModels.write(smallModel(1), out, WriteOptions.withExternalData());
    assertEquals(Set.of("m.onnx", data.getFileName().toString()), filesIn(dir));
    // read back (its tensor mapped from the data file), written inline over itself: the data file goes
    Model mapped = OnnxModels.read(out);
    OnnxModels.write(mapped, out, WriteOptions.inline());
    assertEquals(Set.of("m.onnx"), filesIn(dir));
    assertEquals(1f, OnnxModels.read(out).graph().initializers().get(0).initializer().toFloatArray()[2047]);
    // and to another data file name: the old one goes too
    OnnxModels.write(smallModel(2), out, WriteOptions.withExternalData());
    Path weights = OnnxModels.write(smallModel(3), out, new WriteOptions(WriteOptions.ExternalData.ALWAYS, 1024,
        "weights.bin"));
    assertTrue(weights.getFileName().toString().matches("weights\\.[0-9a-f]{16}\\.bin"), weights.toString());
    assertEquals(Set.of("m.onnx", weights.getFileName().toString()), filesIn(dir));
    assertEquals(3f, OnnxModels.read(out).graph().initializers().get(0).initializer().toFloatArray()[0]);
    // the data file that earlier versions named m.onnx.data goes when the model stops using it
    Protos.write(out, Protos.parse(out).toBuilder().setGraph(relocated(Protos.parse(out).getGraph(),
        weights.getFileName().toString(), "m.onnx.data")).build());
    Files.move(weights, dir.resolve("m.onnx.data"));
    OnnxModels.write(smallModel(4), out, WriteOptions.inline());
    assertEquals(Set.of("m.onnx"), filesIn(dir));
  }

  /** {@code g} with every external data location {@code from} changed to {@code to}. */
  private static dev.onnxprune.graph.proto.Onnx.GraphProto relocated(dev.onnxprune.graph.proto.Onnx.GraphProto g,
      String from, String to) {
    var b = g.toBuilder();
    for (var t : b.getInitializerBuilderList()) {
      for (var e : t.getExternalDataBuilderList()) {
        if (e.getKey().equals("location") && e.getValue().equals(from)) {
          e.setValue(to);
        }
      }
    }
    return b.build();
  }

  @Test
  void dataFilesTheOldModelDidNotUseOrSomeoneElseNamedAreLeftAlone() throws IOException {
    Path out = dir.resolve("m.onnx");
    // a data file named by another tool, in use by the old model, is not this writer's to remove
    OnnxModels.write(smallModel(1), out, WriteOptions.withExternalData());
    Path theirs = Files.move(ExternalDataTest.dataFileOf(out), dir.resolve("weights.bin"));
    Protos.write(out, Protos.parse(out).toBuilder().setGraph(relocated(Protos.parse(out).getGraph(),
        dir.relativize(ExternalDataTest.dataFileOf(out)).toString(), "weights.bin")).build());
    assertEquals(1f, OnnxModels.read(out).graph().initializers().get(0).initializer().toFloatArray()[0]);
    OnnxModels.write(smallModel(2), out, WriteOptions.inline());
    assertEquals(Set.of("m.onnx", "weights.bin"), filesIn(dir));
    assertTrue(Files.isRegularFile(theirs));
    // files named like this writer's data files that the old (inline) model did not refer to stay
    Files.write(dir.resolve("m.onnx.data"), OLD);
    Files.write(dir.resolve("m.onnx.0123456789abcdef.data"), OLD);
    OnnxModels.write(smallModel(3), out, WriteOptions.inline());
    assertArrayEquals(OLD, Files.readAllBytes(dir.resolve("m.onnx.data")));
    assertArrayEquals(OLD, Files.readAllBytes(dir.resolve("m.onnx.0123456789abcdef.data")));
  }

  @Test
  void outputThatIsALinkIsWrittenThroughAndStaysALink() throws IOException {
    Path real = Files.write(dir.resolve("real.onnx"), OLD);
    Path link = Files.createSymbolicLink(dir.resolve("link.onnx"), real.getFileName());

    OnnxModels.write(smallModel(4), link);

    assertTrue(Files.isSymbolicLink(link), "the link was replaced by a file");
    assertEquals(real.getFileName(), Files.readSymbolicLink(link));
    assertEquals(4f, OnnxModels.read(real).graph().initializers().get(0).initializer().toFloatArray()[0]);
  }

  private static String whatIsAt(Path p) throws IOException {
    var a = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
        java.nio.file.LinkOption.NOFOLLOW_LINKS);
    return a.isRegularFile() ? "file" : a.isDirectory() ? "directory" : a.isSymbolicLink() ? "link" : "other";
  }

  private void assertRefusedAndLeftAsItIs(Path out, String kind) throws IOException {
    String before = whatIsAt(out);
    dev.onnxprune.errors.InvalidOptionException e = assertThrows(dev.onnxprune.errors.InvalidOptionException.class,
        () -> OnnxModels.write(smallModel(5), out));
    assertEquals("output", e.key());
    assertEquals("output must be a regular file or a new one, not " + kind + ": '" + out + "'", e.getMessage());
    assertEquals(before, whatIsAt(out));
    assertEquals(Set.of(out.getFileName().toString()), filesIn(dir));
  }

  @Test
  void outputThatIsAFifoIsRefusedAndLeftAsItIs() throws Exception {
    Path fifo = dir.resolve("fifo.onnx");
    org.junit.jupiter.api.Assumptions.assumeTrue(
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo");
    assertRefusedAndLeftAsItIs(fifo, "a FIFO (named pipe)");
  }

  @Test
  void outputThatIsADeviceNodeIsRefusedAndLeftAsItIs() throws Exception {
    Path device = dir.resolve("null.onnx"); // a copy of /dev/null's node, made where replacing it harms nothing
    org.junit.jupiter.api.Assumptions.assumeTrue(
        new ProcessBuilder("mknod", device.toString(), "c", "1", "3").start().waitFor() == 0, "mknod (root only)");
    assertRefusedAndLeftAsItIs(device, "a character device");
  }

  @Test
  void outputThatIsAnEmptyFolderIsRefusedAndLeftAsItIs() throws IOException {
    assertRefusedAndLeftAsItIs(Files.createDirectory(dir.resolve("folder.onnx")), "a directory");
  }
}
