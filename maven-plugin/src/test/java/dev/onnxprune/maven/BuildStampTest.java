package dev.onnxprune.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BuildStampTest {
  @TempDir
  Path dir;
  Path model;
  Path output;

  @BeforeEach
  void files() throws IOException {
    model = Files.writeString(dir.resolve("in.onnx"), "model bytes");
    output = Files.writeString(dir.resolve("out.onnx"), "pruned bytes");
  }

  private static SortedMap<String, String> config(String flops) {
    return new TreeMap<>(Map.of("criterion", "l1", "flops", flops));
  }

  private BuildStamp stamp(String version, String flops) throws IOException {
    return BuildStamp.of(version, Map.of("model", model), config(flops));
  }

  @Test
  void sameInputsConfigurationAndVersionBesideTheWrittenOutputIsUpToDate() throws IOException {
    stamp("1.0", "0.5").writeFor(output);
    assertNull(stamp("1.0", "0.5").staleness(BuildStamp.read(BuildStamp.fileFor(output)), output, null));
  }

  @Test
  void eachChangeIsSaid() throws IOException {
    BuildStamp before = stamp("1.0", "0.5").writeFor(output);
    assertEquals("configuration changed: flops 0.5 -> 0.4", stamp("1.0", "0.4").staleness(before, output, null));
    assertEquals("plugin version changed: 1.0 -> 1.1", stamp("1.1", "0.5").staleness(before, output, null));
    Files.writeString(model, "another model");
    assertEquals("model changed", stamp("1.0", "0.5").staleness(before, output, null));
  }

  @Test
  void outputMissingOrChangedOrReportMissingRebuilds() throws IOException {
    BuildStamp before = stamp("1.0", "0.5").writeFor(output);
    assertEquals("report missing", stamp("1.0", "0.5").staleness(before, output, dir.resolve("report.json")));
    Files.writeString(output, "edited");
    assertEquals("output changed since it was written", stamp("1.0", "0.5").staleness(before, output, null));
    Files.delete(output);
    assertEquals("output missing", stamp("1.0", "0.5").staleness(before, output, null));
  }

  @Test
  void noRecordOrAnUnreadableOneRebuilds() throws IOException {
    assertEquals("no earlier build recorded in out.onnx.onnx-prune.json",
        stamp("1.0", "0.5").staleness(BuildStamp.read(BuildStamp.fileFor(output)), output, null));
    Files.writeString(BuildStamp.fileFor(output), "{ not json");
    assertNull(BuildStamp.read(BuildStamp.fileFor(output)));
  }

  @Test
  void hashCoversEveryPart() throws IOException {
    String base = stamp("1.0", "0.5").sha256();
    assertEquals(base, stamp("1.0", "0.5").sha256());
    assertNotEquals(base, stamp("1.1", "0.5").sha256());
    assertNotEquals(base, stamp("1.0", "0.4").sha256());
    Files.writeString(model, "another model");
    assertNotEquals(base, stamp("1.0", "0.5").sha256());
  }

  @Test
  void folderHashCoversNamesAndContent() throws IOException {
    Path data = Files.createDirectories(dir.resolve("images/cat"));
    Files.writeString(data.resolve("1.png"), "a");
    String before = BuildStamp.contentHash(dir.resolve("images"));
    Files.move(data.resolve("1.png"), data.resolve("2.png"));
    assertNotEquals(before, BuildStamp.contentHash(dir.resolve("images")));
  }
}
