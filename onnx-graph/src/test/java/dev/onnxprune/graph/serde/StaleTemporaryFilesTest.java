package dev.onnxprune.graph.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.WriteOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer killed before its renames leaves its temporary files behind; the next write of the same
 * output removes those of its own naming whose writer is gone, and no other file.
 */
class StaleTemporaryFilesTest {
  @TempDir
  Path dir;

  private Set<String> filesIn(Path folder) throws IOException {
    try (Stream<Path> s = Files.list(folder)) {
      return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
    }
  }

  private Path file(String name, Duration age) throws IOException {
    Path p = Files.write(dir.resolve(name), new byte[100]);
    Files.setLastModifiedTime(p, FileTime.from(Instant.now().minus(age)));
    return p;
  }

  /** The id of a process that has ended. */
  private static long deadPid() throws Exception {
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    return p.pid();
  }

  @Test
  void nextWriteRemovesTheTemporaryFilesOfKilledWritersOfTheSameOutputOnly() throws Exception {
    long dead = deadPid();
    long alive = ProcessHandle.current().pid();
    Duration old = Duration.ofHours(1);
    // a killed writer's model and data temporaries, and one from before the pid was in the name
    file(".m.onnx." + dead + ".k3j2h1.tmp", old);
    file(".m.onnx.data." + dead + ".a1b2c3.tmp", old);
    file(".m.onnx.1x2y3z4w5v.tmp", old);
    // not stale: a writer still running, a writer that may be running elsewhere (young), another output's,
    // and names that are not this writer's pattern
    Set<String> kept = Set.of(
        file(".m.onnx." + alive + ".q9w8e7.tmp", old).getFileName().toString(),
        file(".m.onnx." + dead + ".young1.tmp", Duration.ofSeconds(5)).getFileName().toString(),
        file(".other.onnx." + dead + ".k3j2h1.tmp", old).getFileName().toString(),
        file(".m.onnx.notes.tmp.bak", old).getFileName().toString(),
        file("m.onnx." + dead + ".k3j2h1.tmp", old).getFileName().toString(),
        file(".m.onnx.." + dead + ".k3j2h1.tmp", old).getFileName().toString());

    OnnxModels.write(KillDuringWriteTest.model("new", 2), dir.resolve("m.onnx"), WriteOptions.inline());

    Set<String> want = new TreeSet<>(kept);
    want.add("m.onnx");
    assertEquals(want, filesIn(dir));
  }
}
