package dev.onnxprune.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxprune.errors.InvalidOptionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Outputs that would overwrite an input or each other are refused, comparing the paths' real files. */
class OutputPathsTest {
  @TempDir
  Path dir;

  private static Model model() {
    Graph g = new Graph("g");
    Value w = g.addInitializer("w", Tensor.ofFloats(new long[] {1024}, new float[1024]));
    g.addOutput(g.addNode("Identity", "id", List.of(w), List.of("y")).output(0));
    Model m = new Model(g);
    m.setIrVersion(8L);
    m.opsets().add(new OpsetId("", 13));
    return m;
  }

  private static OutputPaths.SameFileException refused(OutputPaths paths) {
    return assertThrows(OutputPaths.SameFileException.class, paths::check);
  }

  @Test
  void reportThatIsTheInputModelIsRefusedNamingBothOptions() throws IOException {
    Path in = dir.resolve("in.onnx");
    OnnxModels.write(model(), in);

    OutputPaths.SameFileException e = refused(new OutputPaths().inputModel("model", in)
        .modelOutput("output", dir.resolve("out.onnx")).output("report", in));

    assertEquals("report", e.key());
    assertEquals("model", e.otherKey());
    assertEquals("report must not be the same file as model (" + in + "): '" + in + "'", e.getMessage());
    assertEquals("--report must not be the same file as MODEL (" + in + "): '" + in + "'",
        e.messageFor("--report", "MODEL"));
  }

  @Test
  void aFolderOutputMayExistButMustNotBeAnotherOptionsFile() throws IOException {
    Path out = dir.resolve("out.onnx");
    Path folder = Files.createDirectories(dir.resolve("report"));
    List<Path> files = List.of(folder.resolve("report.json"), folder.resolve("report.html"));
    new OutputPaths().modelOutput("output", out).outputs("report", folder, files).check();

    OutputPaths.SameFileException e = refused(new OutputPaths().modelOutput("output", out)
        .outputs("report", out, List.of(out.resolve("report.json"), out.resolve("report.html"))));
    assertEquals("report", e.key());
    assertEquals("output", e.otherKey());
    Files.writeString(dir.resolve("file"), "x");
    assertEquals("report", assertThrows(InvalidOptionException.class, () -> new OutputPaths()
        .outputs("report", dir.resolve("file"), List.of(dir.resolve("file").resolve("report.json"))).check()).key());
  }

  @Test
  void modelOutputMayRewriteTheInputModelInPlace() throws IOException {
    Path in = dir.resolve("in.onnx");
    OnnxModels.write(model(), in, WriteOptions.withExternalData());

    new OutputPaths().inputModel("model", in).modelOutput("output", dir.resolve(".").resolve("in.onnx")).check();
  }

  @Test
  void outputThatIsTheInputModelsDataFileIsRefused() throws IOException {
    Path in = dir.resolve("in.onnx");
    Path data = OnnxModels.write(model(), in, WriteOptions.withExternalData());

    OutputPaths.SameFileException e = refused(new OutputPaths().inputModel("model", in).modelOutput("output", data));

    assertEquals("output must not be the external data file of model (" + in + "): '" + data + "'", e.getMessage());
  }

  @Test
  void reportThatIsTheDataFileTheModelOutputReplacesIsRefused() throws IOException {
    Path out = dir.resolve("out.onnx");
    Path data = OnnxModels.write(model(), out, WriteOptions.withExternalData());

    OutputPaths.SameFileException e = refused(new OutputPaths().modelOutput("output", out).output("report", data));

    assertEquals("report must not be the external data file of output (" + out + "): '" + data + "'",
        e.getMessage());
  }

  @Test
  void filesThatDoNotExistYetAreComparedThroughLinkedFolders() throws IOException {
    Path real = Files.createDirectory(dir.resolve("real"));
    Path linked = Files.createSymbolicLink(dir.resolve("linked"), real);

    OutputPaths.SameFileException e = refused(new OutputPaths().output("report", real.resolve("r.json"))
        .output("log", linked.resolve("r.json")));

    assertEquals("log", e.key());
    assertEquals(real.toRealPath().resolve("r.json"), AtomicFiles.realPath(linked.resolve("r.json")));
  }

  @Test
  void aLinkToAFileNotYetCreatedIsThatFile() throws IOException {
    Path link = Files.createSymbolicLink(dir.resolve("link.json"), Path.of("later.json"));

    refused(new OutputPaths().output("report", link).output("log", dir.resolve("later.json")));
  }

  @Test
  void dotDotAfterAFolderNotYetCreatedIsItsParent() {
    Path a = dir.resolve("a.onnx");
    Path sameA = dir.resolve("new").resolve("..").resolve("a.onnx");

    assertEquals(AtomicFiles.realPath(a), AtomicFiles.realPath(sameA));
    refused(new OutputPaths().modelOutput("output", a).output("report", sameA));
  }

  @Test
  void differentFilesPass() throws IOException {
    Path in = dir.resolve("in.onnx");
    OnnxModels.write(model(), in, WriteOptions.withExternalData());

    new OutputPaths().inputModel("model", in).input("images", dir.resolve("images.gz"))
        .modelOutput("output", dir.resolve("out.onnx")).output("report", dir.resolve("report.json"))
        .output("unused", null).check();
  }

  @Test
  void outputThatIsAFolderIsRefusedBeforeAnyWork() throws IOException {
    Path folder = Files.createDirectory(dir.resolve("out.onnx"));

    InvalidOptionException e = assertThrows(InvalidOptionException.class,
        () -> new OutputPaths().modelOutput("output", folder).check());

    assertEquals("output must be a regular file or a new one, not a directory: '" + folder + "'", e.getMessage());
  }
}
