package dev.onnxprune.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.methods.TrajectoryPoint;
import dev.onnxprune.prune.FineTuning;
import dev.onnxprune.prune.PipelineResult;
import dev.onnxprune.prune.PruneReport;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.PruningPipeline;
import dev.onnxprune.prune.Recovery;
import dev.onnxprune.prune.Target;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HtmlReportTest {
  private static final Normalization FMNIST = new Normalization(new float[] {0.286f}, new float[] {0.353f});

  @TempDir
  Path dir;

  private static ArrayDataset data(String images, String labels, int n) throws Exception {
    return IdxDataset.read(TestModels.file(images), TestModels.file(labels), FMNIST, n);
  }

  @Test
  void reportFolderHoldsTheJsonAndAPageWithEverySectionAndNothingFromTheNetwork() throws Exception {
    Path report = dir.resolve("report");
    PipelineResult r = PruningPipeline.builder()
        .model(TestModels.model("resnet20.onnx"))
        .criterion(Criteria.l1())
        .target(Target.flops(0.5))
        .trainingData(data("fmnist-calib-images-idx3-ubyte.gz", "fmnist-calib-labels-idx1-ubyte.gz", 256))
        .recovery(Recovery.recalibrateBnThenFineTune(FineTuning.builder().epochs(1).batchSize(32).build()))
        .evaluation(data("fmnist-test-images-idx3-ubyte.gz", "fmnist-test-labels-idx1-ubyte.gz", 256))
        .cropFill(FMNIST.zeroPixel())
        .verify(true)
        .measureLatency(4)
        .roundTo(8)
        .speedCheck(dev.onnxprune.prune.SpeedCheck.Mode.ALWAYS, 1)
        .sessions(Sessions.cpu())
        .report(report)
        .build()
        .run();

    JsonNode json = new ObjectMapper().readTree(report.resolve(HtmlReport.JSON).toFile());
    assertEquals(PipelineResult.FORMAT, json.path("format").asText());
    assertEquals(4, json.path("stages").size());
    JsonNode scores = json.path("prune").path("groups").get(0).path("scores");
    assertTrue(scores.path("q1").asDouble() <= scores.path("median").asDouble()
        && scores.path("median").asDouble() <= scores.path("q3").asDouble(), scores.toString());

    String html = Files.readString(report.resolve(HtmlReport.HTML));
    Document doc = Jsoup.parse(html);
    for (String id : List.of("summary", "accuracy", "costs", "channels", "scores", "fine-tuning", "groups", "phases")) {
      assertNotNull(doc.getElementById(id), "section #" + id);
    }
    for (String id : List.of("accuracy", "costs", "channels", "scores", "fine-tuning")) {
      Element svg = doc.getElementById(id).selectFirst("svg.chart");
      assertNotNull(svg, "a chart in #" + id);
      assertTrue(svg.hasAttr("viewBox"), id);
      assertFalse(svg.select("text").isEmpty(), "labels in #" + id + " are text");
    }
    assertEquals(List.of("original", "pruned", "recalibrated", "fine-tuned"),
        doc.select("#summary table tbody tr td:first-child").eachText());
    assertTrue(doc.getElementById("summary").text().contains("PASS"), "verification in the summary");
    assertTrue(doc.getElementById("summary").text().contains("latency"), "latency in the summary");
    // the widths' multiple and the speed check, as the CLI's summary says them
    assertTrue(doc.selectFirst("p.story").text().contains("; kept widths in multiples of 8: as asked"),
        doc.selectFirst("p.story").text());
    PruneReport.Speed speed = r.report().speed();
    assertTrue(doc.getElementById("summary").text().contains(String.format(java.util.Locale.ROOT, "Speed check right"
        + " after pruning, on %s at batch 1: %.2f ms → %.2f ms", speed.provider(), speed.originalMs(),
        speed.prunedMs())), doc.getElementById("summary").text());
    assertTrue(doc.select("#channels svg text").eachText().contains("12*"), "the classifier's group, unprunable");
    assertEquals(r.report().groups().size(), doc.select("#groups tbody tr").size());
    // self-contained: no script, no style sheet, image or frame to fetch; no URL at all
    assertTrue(doc.select("script, link, img, iframe, object, embed").isEmpty());
    assertFalse(html.contains("http:") || html.contains("https:") || html.contains("//www."), "a network reference");
    // the clip paths of all charts share one document: their ids must not collide
    List<String> ids = doc.select("clipPath").eachAttr("id");
    assertEquals(ids.size(), ids.stream().distinct().count(), ids.toString());
  }

  @Test
  void aTrainingTimeMethodsTrajectoryIsDrawn() {
    List<TrajectoryPoint> t = List.of(
        new TrajectoryPoint(0, "start", 0, 1000, 1.0, Map.of(0, 16), 0.5, 0.9),
        new TrajectoryPoint(10, "prune", 1, 700, 0.7, Map.of(0, 11), 0.6, 0.85),
        new TrajectoryPoint(20, "end", 2, 500, 0.5, Map.of(0, 8), 0.55, 0.88));
    PruneReport p = new PruneReport("aofp", "flops 0.5", "aofp", List.of(new PruneReport.Group(0, List.of("conv"),
        List.of(), 16, 8, new int[] {0, 1, 2, 3, 4, 5, 6, 7}, null, true, List.of(), "channels")),
        new PruneReport.Totals(100, 500, 1000, 3, 0), new PruneReport.Totals(50, 250, 500, 3, 0), 0.5, null, t, null, null, null);
    PipelineResult r = new PipelineResult(PipelineResult.FORMAT, null, null, new PruneResult(null, null, p),
        List.of(new PipelineResult.Stage("original", null, 100, 1000, null),
            new PipelineResult.Stage("pruned", null, 50, 500, null)), List.of(), Map.of(), List.of(), null, null);

    Document doc = Jsoup.parse(HtmlReport.page(r));

    Element section = doc.getElementById("trajectory");
    assertNotNull(section);
    assertEquals(2, section.select("svg.chart").size(), "FLOPs kept, and accuracy");
    assertTrue(section.text().contains("3 recorded steps"), section.text());
    assertTrue(doc.getElementById("summary").text().contains("not run"), "no verification");
  }

  @Test
  void aJsonPathIsTheJsonAloneAndAnyOtherPathAFolder() throws Exception {
    Path file = dir.resolve("r.json");
    assertEquals(List.of(file), Reports.files(file));
    Path folder = dir.resolve("out");
    assertEquals(List.of(folder.resolve("report.json"), folder.resolve("report.html")), Reports.files(folder));
    assertEquals(folder.resolve("report.html"), Reports.main(folder));
    Files.createDirectories(dir.resolve("d.json"));
    assertFalse(Reports.jsonOnly(dir.resolve("d.json")), "an existing folder stays a folder");
    Files.writeString(dir.resolve("old-report"), "{}");
    assertTrue(Reports.jsonOnly(dir.resolve("old-report")), "an existing file stays a JSON file");
    assertEquals(List.of(), Reports.files(null));
  }
}
