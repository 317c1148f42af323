package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code prune --method}: the training-time methods from the command line. */
class PruneMethodCommandTest {
  @TempDir
  Path tmp;

  private static String calib(String what) {
    String idx = what.equals("images") ? "idx3" : "idx1";
    return TestModels.file("fmnist-calib-" + what + "-" + idx + "-ubyte.gz").toString();
  }

  @Test
  void prunenetTrainsPrunesVerifiesAndReportsItsTrajectory() throws Exception {
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");
    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", out.toString(),
        "--method", "prunenet", "--flops", "0.2", "--images", calib("images"), "--labels", calib("labels"),
        "--mean", "0.286", "--std", "0.353", "--val-images", calib("images"), "--val-labels", calib("labels"),
        "--method-steps", "400", "--verify", "--report", report.toString(), "--device", "cpu", "--no-augment");

    assertEquals(0, r.exitCode(), r.err());
    assertTrue(Files.size(out) > 0);
    assertTrue(r.out().contains("verify    PASS") || r.out().matches("(?s).*\\nverify +PASS.*"), r.out());
    assertTrue(r.err().contains("prunenet start"), r.err());
    JsonNode doc = new ObjectMapper().readTree(report.toFile()).get("prune");
    assertEquals("prunenet", doc.get("criterion").asText());
    JsonNode traj = doc.get("trajectory");
    assertTrue(traj.size() >= 2, traj.toString());
    JsonNode last = traj.get(traj.size() - 1);
    assertTrue(last.get("flopsKept").asDouble() <= 0.8 + 1e-9, last.toString());
    assertTrue(last.get("widths").size() > 0, last.toString());
    assertTrue(doc.get("achieved").asDouble() >= 0.2, doc.get("achieved").toString());
  }

  @Test
  void aMethodThatStopsShortFailsUnlessKeepPartialWhichWritesWhatItReached() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();
    Path out = tmp.resolve("out.onnx");
    Path report = tmp.resolve("report.json");
    String[] args = {"prune", in, "-o", out.toString(), "--method", "aofp", "--flops", "0.9", "--images",
        calib("images"), "--labels", calib("labels"), "--mean", "0.286", "--std", "0.353", "--method-steps", "3",
        "--theta", "0.5", "--phi", "16", "--verify", "--report", report.toString(), "--device", "cpu", "--no-augment"};

    Cli.Result failed = Cli.run(args);
    assertEquals(1, failed.exitCode(), failed.err());
    assertTrue(failed.err().contains("aofp-train stopped before reaching flops 0.9; it ended at its budget"
        + " (--method-steps 3)"), failed.err());
    assertFalse(Files.exists(out), "nothing written");

    String[] keep = java.util.Arrays.copyOf(args, args.length + 1);
    keep[args.length] = "--keep-partial";
    Cli.Result kept = Cli.run(keep);
    assertEquals(0, kept.exitCode(), kept.err());
    assertTrue(kept.err().contains("warning: aofp-train stopped before reaching flops 0.9"), kept.err());
    assertTrue(kept.out().matches("(?s).*\\nverify +PASS.*"), kept.out());
    assertTrue(Files.size(out) > 0);
    JsonNode doc = new ObjectMapper().readTree(report.toFile()).get("prune");
    assertTrue(doc.get("shortOfTarget").asText().contains("method.maxSteps 3"), "the report speaks the library's"
        + " keys: " + doc);
    assertTrue(doc.get("achieved").asDouble() < 0.9, doc.get("achieved").toString());

    Cli.Result stray = Cli.run("prune", in, "-o", out.toString(), "--flops", "0.5", "--criterion", "l1",
        "--keep-partial");
    assertEquals(2, stray.exitCode());
    assertTrue(stray.err().contains("--keep-partial applies to a training-time method and to a criterion that chooses"
        + " its own removals"), stray.err());
  }

  @Test
  void methodAndCriterionMistakesNameTheOption() throws Exception {
    String in = TestModels.model("resnet20.onnx").toString();
    String out = tmp.resolve("out.onnx").toString();

    Cli.Result both = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--criterion", "l1", "--method", "aofp");
    Cli.Result unknown = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--method", "magic");
    Cli.Result stray = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--criterion", "l1", "--epsilon", "0.1");
    Cli.Result other = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--method", "prunenet", "--theta", "0.01",
        "--images", calib("images"), "--labels", calib("labels"));
    Cli.Result noData = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--method", "adversarial");

    assertEquals(2, both.exitCode());
    assertTrue(both.err().contains("--method excludes a criterion (a method chooses the channels itself): 'aofp'"),
        both.err());
    assertEquals(2, unknown.exitCode());
    assertTrue(unknown.err().contains("--method must be one of aofp, adversarial, prunenet: 'magic'"), unknown.err());
    assertEquals(2, stray.exitCode());
    assertTrue(stray.err().contains("--epsilon applies to --method only"), stray.err());
    assertEquals(2, other.exitCode());
    assertTrue(other.err().contains("--theta does not apply to the method prunenet: 0.01"), other.err());
    assertEquals(2, noData.exitCode());
    assertTrue(noData.err().contains("--images/--labels is required by the method adversarial (it trains while it"
        + " prunes)"), noData.err());
    assertFalse(Files.exists(Path.of(out)), "nothing written");
  }
}
