package dev.onnxprune.prune;

import dev.onnxprune.criteria.Criteria;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every torchvision model of the zoo (when exported with testmodels/export_zoo.py): channel
 * analysis, L1 pruning of 30% of every prunable group, and verification against the masked
 * original in ONNX Runtime. Writes a table to target/zoo-prune.md.
 */
class ZooPruneTest {
  private static final List<String> ROWS = new ArrayList<>();

  static Stream<String> zoo() throws Exception {
    if (TestModels.zooDir().isEmpty()) {
      return Stream.of("(zoo not exported)");
    }
    JsonNode manifest = new ObjectMapper().readTree(TestModels.zooDir().get().resolve("manifest.json").toFile());
    List<String> files = new ArrayList<>();
    for (JsonNode m : manifest.get("models")) {
      String f = m.get("file").asText();
      if (!f.contains("_folded")) {
        files.add(f);
      }
    }
    return files.stream();
  }

  @ParameterizedTest
  @MethodSource("zoo")
  void prunesThirtyPercentOfEveryGroupAndVerifies(String file) throws Exception {
    assumeTrue(TestModels.zooDir().isPresent(), "zoo not exported: /usr/bin/python3 testmodels/export_zoo.py");
    Path path = TestModels.zooDir().get().resolve(file);
    Model model = OnnxModels.read(path);
    ChannelAnalysis a = ChannelAnalysis.analyze(model);
    Map<String, Integer> reasons = new LinkedHashMap<>();
    for (ChannelGroup g : a.groups()) {
      if (!g.prunable()) {
        String r = g.blockReasons().get(0).replaceAll("'[^']*' \\(", "(").replaceAll("'[^']*'", "'…'");
        reasons.merge(r, 1, Integer::sum);
      }
    }
    PruneResult r = Pruner.builder().criterion(Criteria.l1()).target(Target.ratio(0.3)).roundTo(1).verify(true).build()
        .prune(model);
    PruneReport rep = r.report();
    ROWS.add(String.format("| %s | %d | %d | %s | %.3fG -> %.3fG | %.2fM -> %.2fM | %.2e |", file.replace(".onnx", ""),
        a.groups().size(), a.groups().size() - a.prunableGroups().size(), reasons.isEmpty() ? "" : reasons.toString(),
        rep.before().flops() / 1e9, rep.after().flops() / 1e9, rep.before().params() / 1e6, rep.after().params() / 1e6,
        rep.verify().maxRelDiff()));
    System.out.println(ROWS.get(ROWS.size() - 1));
    assertTrue(rep.verify().passed(), file + ": " + rep.verify());
    assertTrue(rep.after().flops() < rep.before().flops(), file + ": nothing was pruned");
  }

  @AfterAll
  static void writeTable() throws Exception {
    writeTable("zoo-prune.md", "| model | groups | unprunable | why (count) | FLOPs | params | verify max rel diff |",
        "|---|---|---|---|---|---|---|", ROWS);
  }

  /** Writes a Markdown table of {@code rows} under {@code head} and {@code rule} to target/{@code file}, if any. */
  static void writeTable(String file, String head, String rule, List<String> rows) throws Exception {
    if (rows.isEmpty()) {
      return;
    }
    List<String> lines = new ArrayList<>(List.of(head, rule));
    lines.addAll(rows);
    Files.createDirectories(Path.of("target"));
    Files.write(Path.of("target", file), lines);
  }
}
