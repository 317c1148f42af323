package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.report.HtmlReport;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.CancelledException;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.Progress;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SensitivityTest {
  private static final Sessions CPU = Sessions.cpu();

  @TempDir
  Path dir;

  private static Sensitivity.Builder vgg(ArrayDataset data) {
    return Sensitivity.builder().evaluation(data).limit(200).ratios(0.75, 0.25).sessions(CPU);
  }

  @Test
  void everyGroupPrunedAloneAtEveryRatioIsWhatPruningThatGroupAloneGives() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    byte[] before = OnnxModels.toBytes(model);
    ArrayDataset data = PruningPipelineTest.test(200);
    List<Double> fractions = new ArrayList<>();

    Sensitivity.Result r;
    try (Progress.Scope s = Progress.open((f, d) -> fractions.add(f), () -> false)) {
      r = vgg(data).workers(2).build().run(model);
    }

    assertTrue(Arrays.equals(before, OnnxModels.toBytes(model)), "the model is not changed");
    assertEquals(Sensitivity.FORMAT, r.format());
    assertEquals(List.of(0.25, 0.75), r.ratios(), "sorted");
    assertEquals(200, r.baseline().samples());
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    assertEquals(a.prunableGroups().stream().map(ChannelGroup::id).toList(),
        r.curves().stream().map(Sensitivity.Curve::group).toList());
    assertEquals(1.0, fractions.get(fractions.size() - 1), 1e-9, "progress ends at 1");
    try (Runner runner = Runner.open(CPU, model)) {
      assertEquals(new Evaluator(runner).evaluate(data, 100).top1(), r.baseline().top1(), 1e-12);
    }
    double[][] l1 = Criteria.l1().score(a);
    for (Sensitivity.Curve c : r.curves()) {
      assertEquals(2, c.points().size());
      Sensitivity.Point p = c.points().get(1);
      assertEquals(c.channels() - (int) Math.ceil(c.channels() * 0.25 - 1e-9), p.removed(), "75% of the channels");
      assertTrue(p.flopsRemoved() > c.points().get(0).flopsRemoved(), "more channels, more FLOPs");
      // the same channels removed by hand: the L1-lowest of that group
      Integer[] idx = new Integer[c.channels()];
      Arrays.setAll(idx, i -> i);
      double[] s = l1[c.group()];
      Arrays.sort(idx, (x, y) -> s[x] != s[y] ? Double.compare(s[x], s[y]) : Integer.compare(x, y));
      int[] units = Arrays.stream(idx).limit(p.removed()).mapToInt(Integer::intValue).toArray();
      Evaluation e;
      try (Runner runner = Runner.open(CPU, Sensitivity.prunedCopy(model, c.group(), units))) {
        e = new Evaluator(runner).evaluate(data, 100);
      }
      assertEquals(e.top1(), p.top1(), 1e-12, "group " + c.group());
      assertEquals(e.loss(), p.loss(), 1e-9, "group " + c.group());
    }
    Sensitivity.Result one = vgg(data).workers(1).build().run(model);
    assertEquals(r.curves(), one.curves(), "the same curves on one thread as on two");

    JsonNode json = new ObjectMapper().readTree(r.toJson());
    assertEquals(Sensitivity.FORMAT, json.path("format").asText());
    assertEquals(r.curves().size(), json.path("curves").size());

    Document page = Jsoup.parse(HtmlReport.page(r));
    assertNotNull(page.selectFirst("#sensitivity svg.chart"));
    assertEquals(r.curves().size(), page.select("#sensitivity tbody tr").size());
  }

  @Test
  void cancellingStopsTheWorkersAndThrows() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    AtomicBoolean cancel = new AtomicBoolean();
    Sensitivity s = vgg(PruningPipelineTest.test(200)).ratios(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        .workers(2).build();

    try (Progress.Scope scope = Progress.open((f, d) -> cancel.set(true), cancel::get)) {
      assertThrows(CancelledException.class, () -> s.run(model));
    }

    // the pool is shut down and waited for before run returns; a worker thread may still be alive
    // for the instants after its last task, as it leaves the pool (and so may an earlier test's)
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("sensitivity-")) {
        t.join(2000);
      }
    }
    assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith("sensitivity-")
        && t.isAlive()), "a worker thread outlived the run");
  }

  @Test
  void theSensitivityAllocationMeasuresCurvesOnTheCalibrationDataAndSparesTheSensitiveGroups() throws Exception {
    Model model = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    List<String> phases = new ArrayList<>();
    Path report = dir.resolve("report");

    PipelineResult r = PruningPipeline.builder().model(model).criterion("l1").target(Target.flops(0.5))
        .allocation(Allocation.sensitivity()).calibration(PruningPipelineTest.test(200)).sessions(CPU)
        .report(report).verify(true)
        .listener(new PruningPipeline.Listener() {
          @Override
          public void phaseStarted(PruningPipeline.Phase phase, String detail) {
            phases.add(phase.label());
          }
        }).build().run();

    assertEquals(List.of("measuring sensitivity", "analysing"), phases.subList(0, 2), phases.toString());
    Sensitivity.Result curves = r.sensitivity();
    assertNotNull(curves);
    assertEquals(200, curves.baseline().samples());
    assertEquals("sensitivity", r.report().allocation());
    assertTrue(r.report().achieved() >= 0.5, "the target is met: " + r.report().achieved());
    assertTrue(r.report().verify().passed());
    // the widths chosen are predicted to lose less than uniform's
    Map<Integer, Integer> chosen = new LinkedHashMap<>();
    Map<Integer, Integer> uniform = new LinkedHashMap<>();
    PipelineResult u = PruningPipeline.builder().model(model).criterion("l1").target(Target.flops(0.5))
        .sessions(CPU).build().run();
    for (PruneReport.Group g : r.report().groups()) {
      if (g.prunable()) {
        chosen.put(g.id(), g.channels() - g.kept());
        PruneReport.Group ug = u.report().groups().get(g.id());
        uniform.put(g.id(), ug.channels() - ug.kept());
      }
    }
    SensitivityAllocation prediction = new SensitivityAllocation(curves);
    assertTrue(prediction.predicted(chosen) < prediction.predicted(uniform), chosen + " vs uniform " + uniform);
    Document page = Jsoup.parse(Files.readString(report.resolve("report.html")));
    assertNotNull(page.selectFirst("#sensitivity svg.chart"), "the curves are in the pipeline's report");
    // each curve's group id is written at its line's end (ids of lines ending together joined)
    List<String> ends = new ArrayList<>();
    page.select("#sensitivity svg.chart text").eachText().stream().filter(t -> t.matches("\\d+(, \\d+)*"))
        .forEach(t -> ends.addAll(Arrays.asList(t.split(", "))));
    assertEquals(curves.curves().stream().map(c -> Integer.toString(c.group())).sorted().toList(),
        ends.stream().sorted().toList());
    // beside the curves, the share of each group this run removed
    assertEquals("removed", page.select("#sensitivity table th").last().text());
    for (PruneReport.Group g : r.report().groups()) {
      if (curves.curve(g.id()).isPresent()) {
        String removed = page.select("#sensitivity table tbody tr").get(curves.curves().indexOf(
            curves.curve(g.id()).get())).select("td").last().text();
        assertEquals(Math.round(100.0 * (g.channels() - g.kept()) / g.channels()) + "%", removed);
      }
    }
    assertEquals(curves.curves().size(), new ObjectMapper().readTree(report.resolve("report.json").toFile())
        .path("sensitivity").path("curves").size());
  }

  @Test
  void theSensitivityAllocationNeedsDataOrCurvesAndACriterion() {
    assertEquals("calibration", assertThrows(InvalidOptionException.class, () -> PruningPipeline.builder()
        .model(Path.of("m.onnx")).target(Target.flops(0.5)).allocation(Allocation.sensitivity()).build()).key());
    assertEquals("allocation", assertThrows(InvalidOptionException.class, () -> Pruner.builder()
        .target(Target.flops(0.5)).allocation(Allocation.sensitivity()).build()).key());
    assertEquals("allocation", assertThrows(InvalidOptionException.class, () -> Allocation.byName("best")).key());
  }

  @Test
  void badSettingsAreRefusedByKey() throws Exception {
    ArrayDataset data = PruningPipelineTest.test(10);
    assertEquals("sensitivity.ratios", assertThrows(InvalidOptionException.class,
        () -> Sensitivity.builder().evaluation(data).ratios(0.5, 1.0).build()).key());
    assertEquals("evaluation", assertThrows(InvalidOptionException.class,
        () -> Sensitivity.builder().build()).key());
    assertEquals("sensitivity.limit", assertThrows(InvalidOptionException.class,
        () -> Sensitivity.builder().evaluation(data).limit(-1).build()).key());
  }
}
