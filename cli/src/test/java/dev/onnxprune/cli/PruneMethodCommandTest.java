package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import dev.onnxprune.methods.TrajectoryPoint;
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

  /**
   * Issue 18: AOFP records one trajectory point per layer whose search step finished on a batch
   * (every layer, every phi batches), and the log printed each as a line. And with restarts, a
   * theta no move can meet trained on to the step budget.
   */
  @Test
  void aofpPrintsOneLinePerStepAtMostAndATargetOutOfReachEndsEarly() throws Exception {
    Path report = tmp.resolve("report.json");
    Cli.Result r = Cli.run("prune", TestModels.model("resnet20.onnx").toString(), "-o", tmp.resolve("o.onnx").toString(),
        "--method", "aofp", "--flops", "0.5", "--images", calib("images"), "--labels", calib("labels"), "--mean",
        "0.286", "--std", "0.353", "--theta", "1e-9", "--phi", "1", "--method-steps", "5000", "--keep-partial",
        "--report", report.toString(), "--device", "cpu", "--no-augment");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().contains("warning: aofp-train stopped before reaching flops 0.5; it ended early, every layer's"
        + " last 3 moves having pruned nothing"), r.err());
    assertTrue(r.err().contains("raise --theta"), r.err());
    JsonNode traj = new ObjectMapper().readTree(report.toFile()).get("prune").get("trajectory");
    long lastStep = traj.get(traj.size() - 1).get("step").asLong();
    assertTrue(lastStep < 100, "ended early, not at the 5000-step budget: step " + lastStep);
    List<String> lines = r.err().lines().filter(l -> l.startsWith("  aofp ")).toList();
    Set<String> steps = new HashSet<>();
    for (String l : lines) {
      Matcher m = STEP.matcher(l);
      assertTrue(m.find(), l);
      assertTrue(steps.add((l.contains(" end ") ? "end " : "") + m.group(1)), "a step printed twice: " + lines);
    }
    assertTrue(lines.size() <= lastStep + 2, lines.size() + " lines for " + lastStep + " steps: " + lines);
    System.out.printf("aofp progress: %d trajectory points (the lines printed before), %d lines for %d steps%n",
        traj.size(), lines.size(), lastStep);

    // the same points without the one-second throttle: one line per step, with the time the rest of
    // the budget would take at the step rate
    StringWriter text = new StringWriter();
    try (PipelineLog log = new PipelineLog(new PrintWriter(text), true, 0).method("aofp", 5000)) {
      for (JsonNode p : traj) {
        JsonNode loss = p.get("loss");
        JsonNode acc = p.get("accuracy");
        log.methodStep(new TrajectoryPoint(p.get("step").asLong(), p.get("event").asText(), p.get("seconds")
            .asDouble(), p.get("flops").asLong(), p.get("flopsKept").asDouble(), Map.of(), loss != null
            && loss.isNumber() ? loss.asDouble() : Double.NaN, acc != null && acc.isNumber() ? acc.asDouble() : null));
      }
    }
    List<String> each = text.toString().lines().toList();
    assertEquals(lastStep + 2, each.size(), "start, one line per step, end: " + each);
    assertTrue(each.get(1).matches(" +aofp .*(refine|stop-layer) x\\d+.* step +1 .*"), each.get(1));
    assertTrue(each.get(1).matches(".*steps/s  budget left [\\d:]+ at most"), each.get(1));
  }

  private static final Pattern STEP = Pattern.compile(" step +(\\d+) ");

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

  @Test
  void budgetAndPatienceFlagsReachTheLibraryAndItsErrorsNameThem() throws Exception {
    String in = TestModels.model("vgg_bn.onnx").toString();
    String out = tmp.resolve("out.onnx").toString();
    String[] data = {"--images", calib("images"), "--labels", calib("labels")};

    Cli.Result negative = Cli.run(concat(new String[] {"prune", in, "-o", out, "--flops", "0.5", "--method", "aofp",
        "--patience", "-1"}, data));
    Cli.Result other = Cli.run(concat(new String[] {"prune", in, "-o", out, "--flops", "0.5", "--method", "prunenet",
        "--patience", "2"}, data));
    Cli.Result zero = Cli.run(concat(new String[] {"prune", in, "-o", out, "--flops", "0.5", "--method", "aofp",
        "--method-seconds", "0"}, data));
    Cli.Result stray = Cli.run("prune", in, "-o", out, "--flops", "0.5", "--criterion", "l1", "--method-seconds", "5");

    assertEquals(2, negative.exitCode(), negative.err());
    assertTrue(negative.err().contains("--patience must be >= 0: -1"), negative.err());
    assertEquals(2, other.exitCode(), other.err());
    assertTrue(other.err().contains("--patience does not apply to the method prunenet: 2"), other.err());
    assertEquals(2, zero.exitCode(), zero.err());
    assertTrue(zero.err().contains("--method-seconds must be > 0 (or none): 0"), zero.err());
    assertEquals(2, stray.exitCode(), stray.err());
    assertTrue(stray.err().contains("--method-seconds applies to --method only"), stray.err());
    assertFalse(Files.exists(Path.of(out)), "nothing written");
  }

  /**
   * --progress json: every stderr line is one JSON object with an "event"; a method's lines carry
   * the step, the FLOPs kept and the time left, which a time budget bounds; the time budget's key
   * reads as its flag in the reason.
   */
  @Test
  void progressAsJsonLinesAndATimeBudgetThatEndsTheRun() throws Exception {
    Path report = tmp.resolve("report.json");
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", tmp.resolve("o.onnx").toString(),
        "--method", "aofp", "--flops", "0.5", "--images", calib("images"), "--labels", calib("labels"), "--mean",
        "0.286", "--std", "0.353", "--theta", "1e-9", "--phi", "1", "--patience", "0", "--no-fail-early",
        "--method-seconds", "3", "--keep-partial", "--report", report.toString(), "--device", "cpu", "--no-augment",
        "--speed-check", "off", "--progress", "json");
    assertEquals(0, r.exitCode(), r.err());
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> events = new java.util.ArrayList<>();
    for (String line : r.err().lines().filter(l -> !l.isBlank() && !l.contains("[W:onnxruntime")).toList()) {
      JsonNode n = json.readTree(line);
      assertTrue(n.has("event"), line);
      events.add(n);
    }
    List<JsonNode> method = events.stream().filter(n -> n.get("event").asText().equals("method")).toList();
    assertTrue(method.size() >= 2, "start and end at least: " + r.err());
    assertEquals("start", method.get(0).get("point").asText());
    assertEquals("end", method.get(method.size() - 1).get("point").asText());
    for (JsonNode m : method.subList(1, method.size() - 1)) {
      assertTrue(m.get("secondsLeft").asDouble() <= 3, "the time budget bounds the time left: " + m);
    }
    // the run's own warnings only: a speed-check warning would depend on the machine's load
    assertTrue(events.stream().filter(n -> n.get("event").asText().equals("warning")).anyMatch(n -> n.get("message")
        .asText().contains("it ended at its time budget (--method-seconds 3) after")), r.err());
    assertTrue(events.stream().anyMatch(n -> n.get("event").asText().equals("phase")
        && n.get("phase").asText().equals("scoring")), r.err());

    Cli.Result bad = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", tmp.resolve("p.onnx")
        .toString(), "--flops", "0.5", "--progress", "xml");
    assertEquals(2, bad.exitCode());
    assertTrue(bad.err().contains("--progress must be text or json: xml"), bad.err());
  }

  /** Oracle re-scores by default and says what it will cost, from the forward rate it measures, before it runs. */
  @Test
  void oracleRescoresByDefaultAndPrintsItsCostFirst() throws Exception {
    Cli.Result r = Cli.run("prune", TestModels.model("vgg_bn.onnx").toString(), "-o", tmp.resolve("o.onnx").toString(),
        "--criterion", "oracle", "--flops", "0.3", "--images", calib("images"), "--labels", calib("labels"),
        "--mean", "0.286", "--std", "0.353", "--calib-limit", "64", "--device", "cpu");
    assertEquals(0, r.exitCode(), r.err());
    List<String> lines = r.err().lines().toList();
    int note = -1;
    int scoring = -1;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("  oracle: ")) {
        note = i;
      } else if (lines.get(i).startsWith("scoring ")) {
        scoring = i;
      }
    }
    assertTrue(note >= 0 && note < scoring, "the estimate comes before the scoring line: " + r.err());
    assertTrue(lines.get(note).matches("  oracle: \\d+ channels in \\d+ groups, 1 \\+ 3 re-scoring rounds of 0\\.1"
        + " \\(--rescore; 0 is one-shot, about \\d+\\.\\dx faster\\): about \\d+ forward passes over 64 samples,"
        + " \\d+ s at the measured \\d+ samples/s"), lines.get(note));
  }

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
