package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.WriteOptions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An output (model, report, artifact file) that is an input (the model, its external data, a data
 * file) or another output is refused before any work, with one line naming both options; nothing
 * is read beyond the paths, nothing is written.
 */
class OutputsThatClobberInputsTest {
  @TempDir
  Path tmp;

  private Path copy(Path from, String name) throws Exception {
    return Files.copy(from, tmp.resolve(name));
  }

  private static void assertRefused(String message, Cli.Result r) {
    assertEquals(2, r.exitCode(), r.err());
    String[] lines = r.err().split("\n");
    assertEquals(2, lines.length, r.err());
    assertEquals("onnx-prune: error: " + message, lines[0]);
    assertTrue(lines[1].matches("onnx-prune: try 'onnx-prune [a-z-]+ --help'"), r.err());
    assertEquals("", r.out());
  }

  @Test
  void pruneReportThatIsTheInputModelIsRefusedAndTheModelKept() throws Exception {
    Path in = copy(TestModels.model("resnet20.onnx"), "in.onnx");
    byte[] before = Files.readAllBytes(in);
    Path out = tmp.resolve("out.onnx");

    Cli.Result r = Cli.run("prune", in.toString(), "-o", out.toString(), "--criterion", "l1", "--ratio", "0.5",
        "--report", in.toString());

    assertRefused("--report must not be the same file as MODEL (" + in + "): '" + in + "'", r);
    assertArrayEquals(before, Files.readAllBytes(in));
    assertFalse(Files.exists(out));
  }

  @Test
  void pruneReportThatIsTheOutputIsRefused() throws Exception {
    Path out = tmp.resolve("out.onnx");
    // the same file by another spelling
    Path sameOut = tmp.resolve("sub").resolve("..").resolve("out.onnx");
    Files.createDirectories(tmp.resolve("sub"));

    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--criterion", "l1", "--ratio", "0.5", "--report", sameOut.toString());

    assertRefused("--report must not be the same file as -o/--output (" + out + "): '" + sameOut + "'", r);
    assertEquals(Set.of("sub"), Cli.filesIn(tmp));
  }

  @Test
  void convertOutputThatIsTheInputsExternalDataFileIsRefusedAndTheInputKept() throws Exception {
    Path in = tmp.resolve("in.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("vgg_bn.onnx")), in, WriteOptions.withExternalData());
    Path data = ModelFiles.externalDataFiles(OnnxModels.read(in), in).iterator().next();
    byte[] before = Files.readAllBytes(data);

    Cli.Result r = Cli.run("convert", in.toString(), "-o", data.toString());

    assertRefused("-o/--output must not be the external data file of MODEL (" + in + "): '" + data + "'", r);
    assertArrayEquals(before, Files.readAllBytes(data));
  }

  @Test
  void maskOutputThatIsTheInputsExternalDataFileIsRefused() throws Exception {
    Path in = tmp.resolve("in.onnx");
    OnnxModels.write(OnnxModels.read(TestModels.model("vgg_bn.onnx")), in, WriteOptions.withExternalData());
    Path data = ModelFiles.externalDataFiles(OnnxModels.read(in), in).iterator().next();

    Cli.Result r = Cli.run("mask", in.toString(), "-o", data.toString(), "--sparsity", "0.5");

    assertRefused("-o/--output must not be the external data file of MODEL (" + in + "): '" + data + "'", r);
  }

  @Test
  void finetuneOutputThatIsTheLabelsFileIsRefusedBeforeTraining() throws Exception {
    Path images = copy(Path.of(FinetuneCommandTest.TRAIN), "images.gz");
    Path labels = copy(Path.of(FinetuneCommandTest.TRAIN_LABELS), "labels.gz");
    byte[] before = Files.readAllBytes(labels);

    Cli.Result r = Cli.run("finetune", FinetuneCommandTest.RESNET, "-o", labels.toString(), "--epochs", "1",
        "--limit", "64", "--images", images.toString(), "--labels", labels.toString(), "--device", "cpu");

    assertRefused("-o/--output must not be the same file as --labels (" + labels + "): '" + labels + "'", r);
    assertArrayEquals(before, Files.readAllBytes(labels));
  }

  @Test
  void exportTrainingIntoTheFolderOfAnInputNamedLikeAnArtifactFileIsRefused() throws Exception {
    Path art = Files.createDirectories(tmp.resolve("art"));
    Path in = Files.copy(TestModels.model("vgg_bn.onnx"), art.resolve("eval.onnx"));
    byte[] before = Files.readAllBytes(in);

    Cli.Result r = Cli.run("export-training", in.toString(), "-o", art.toString());

    assertRefused("-o/--output must not be the same file as MODEL (" + in + "): '" + in + "'", r);
    assertArrayEquals(before, Files.readAllBytes(in));
    assertEquals(Set.of("eval.onnx"), Cli.filesIn(art));
  }
}
