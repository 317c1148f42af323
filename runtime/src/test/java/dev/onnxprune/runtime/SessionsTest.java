package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.testmodels.TestModels;
import dev.onnxprune.errors.InvalidOptionException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class SessionsTest {
  @Test
  void autoFallsBackToCpuWhenCudaCannotStart() throws Exception {
    Sessions auto = new Sessions(Device.AUTO, 0, 1);
    try (OrtSession s = auto.open(TestModels.model("vgg_bn.onnx"))) {
      Assumptions.assumeTrue("CPU".equals(auto.provider()), "CUDA started here");
      assertEquals(1, s.getInputNames().size());
    }
    // a second session in the same JVM does not try CUDA again
    try (OrtSession s = auto.open(TestModels.model("vgg_bn.onnx"))) {
      assertEquals("CPU", auto.provider());
    }
  }

  @Test
  void cudaThatCannotStartSaysWhy() {
    try (OrtSession s = new Sessions(Device.CUDA, 0, 0).open(TestModels.model("vgg_bn.onnx"))) {
      Assumptions.abort("CUDA started here");
    } catch (OrtException e) {
      assertTrue(e.getMessage().startsWith("device CUDA was asked for, and the CUDA execution provider cannot be started: "),
          e.getMessage());
    }
  }

  @Test
  void theReasonTellsTheCpuBuildFromMissingCudaLibraries() {
    assertEquals("this is ONNX Runtime's CPU build; CUDA needs com.microsoft.onnxruntime:onnxruntime_gpu (for the CLI:"
        + " build it with -Pgpu)",
        Sessions.whyNoCuda(new OrtException("Error code - ORT_EP_FAIL - message: Failed to find CUDA shared provider")));
    assertTrue(Sessions.whyNoCuda(new OrtException("Error code - ORT_FAIL - message: Attempt to use DefaultLogger"))
        .startsWith("it needs an NVIDIA GPU with its driver and the CUDA 12 libraries"));
  }

  /** Issue 16, point 10: {@code --threads 100000} grew the heap by 65 MB/s and never ran. */
  @Test
  void threadsOutOfRangeAreRefused() {
    int cpus = Runtime.getRuntime().availableProcessors();
    String rule = "sessions.threads must be in [0, " + 4 * cpus + "] (0: ONNX Runtime's choice; at most 4 per"
        + " available processor, " + cpus + " here): ";
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> new Sessions(Device.CPU, 0, -1));
    assertEquals(rule + "-1", e.getMessage());
    e = assertThrows(InvalidOptionException.class, () -> new Sessions(Device.CPU, 0, 100000));
    assertEquals("sessions.threads", e.key());
    assertEquals(rule + "100000", e.getMessage());
    assertEquals(4 * cpus, Sessions.maxThreads());
    new Sessions(Device.CPU, 0, Sessions.maxThreads()); // the bound itself is taken
  }

  /**
   * Issue 16, point 9: a model at or over {@link Sessions#fileThreshold()} goes to ONNX Runtime as
   * a file with external data (a model over 2 GiB cannot be serialized to bytes): the same outputs
   * as through bytes, and the temporary folder is gone once the session exists.
   */
  @Test
  void aLargeModelGoesThroughAFileWithExternalDataAndTheSameOutputs() throws Exception {
    dev.onnxprune.graph.Model m = dev.onnxprune.graph.OnnxModels.read(TestModels.model("resnet20.onnx"));
    Sessions cpu = Sessions.cpu();
    java.util.Map<String, HostTensor> feeds = RandomInputs.of(m).draw(new java.util.Random(7));
    java.util.Map<String, HostTensor> viaBytes;
    try (OrtSession s = cpu.open(m)) {
      viaBytes = OrtTensors.run(s, feeds, java.util.Set.of());
    }
    java.nio.file.Path tmp = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"));
    java.util.Set<java.nio.file.Path> before = sessionFolders(tmp);
    String old = System.setProperty(Sessions.FILE_THRESHOLD_PROPERTY, "0");
    java.util.Map<String, HostTensor> viaFile;
    try (OrtSession s = cpu.open(m)) {
      assertEquals(before, sessionFolders(tmp), "the temporary folder is removed once the session exists");
      viaFile = OrtTensors.run(s, feeds, java.util.Set.of());
    } finally {
      if (old == null) {
        System.clearProperty(Sessions.FILE_THRESHOLD_PROPERTY);
      } else {
        System.setProperty(Sessions.FILE_THRESHOLD_PROPERTY, old);
      }
    }
    assertEquals(viaBytes.keySet(), viaFile.keySet());
    for (String k : viaBytes.keySet()) {
      HostTensor a = viaBytes.get(k);
      HostTensor b = viaFile.get(k);
      assertTrue(java.util.Arrays.equals(a.shape(), b.shape()), k);
      for (int i = 0; i < a.size(); i++) {
        assertEquals(a.get(i), b.get(i), 0.0, k + "[" + i + "]");
      }
    }
    assertEquals(Sessions.DEFAULT_FILE_THRESHOLD, Sessions.fileThreshold());
  }

  /**
   * A large model read with external data goes to ONNX Runtime as bytes that refer to its own
   * data file (no temporary copy; ONNX Runtime maps the original's weights): the same outputs as
   * through bytes; with prepacking off, the same within float rounding. A data file replaced
   * after reading is not handed on by its path: the temporary copy of what was read is used.
   */
  @Test
  void aLargeModelWithExternalDataReachesOnnxRuntimeThroughItsOwnDataFile(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path file = dir.resolve("resnet20.onnx");
    dev.onnxprune.graph.OnnxModels.write(dev.onnxprune.graph.OnnxModels.read(TestModels.model("resnet20.onnx")), file,
        dev.onnxprune.graph.WriteOptions.withExternalData());
    dev.onnxprune.graph.Model m = dev.onnxprune.graph.OnnxModels.read(file);
    Sessions cpu = Sessions.cpu();
    java.util.Map<String, HostTensor> feeds = RandomInputs.of(m).draw(new java.util.Random(7));
    java.util.Map<String, HostTensor> viaBytes;
    try (OrtSession s = cpu.open(m)) {
      viaBytes = OrtTensors.run(s, feeds, java.util.Set.of());
    }
    long threshold = 64 << 10; // over the small tensors the writer keeps inline, under the model
    assertTrue(dev.onnxprune.graph.OnnxModels.tensorBytes(m) >= threshold);
    assertTrue(dev.onnxprune.graph.OnnxModels.referencing(m, threshold) != null, "the referencing route is taken");
    String old = System.setProperty(Sessions.FILE_THRESHOLD_PROPERTY, Long.toString(threshold));
    try {
      try (OrtSession s = cpu.open(m)) {
        assertSame(viaBytes, OrtTensors.run(s, feeds, java.util.Set.of()), 0.0);
      }
      try (OrtSession s = cpu.open(m, java.util.Map.of(Sessions.DISABLE_PREPACKING, "1"))) {
        assertSame(viaBytes, OrtTensors.run(s, feeds, java.util.Set.of()), 1e-4);
      }
      java.nio.file.Path data = dev.onnxprune.graph.OnnxModels.externalDataFiles(file).get(0);
      java.nio.file.Path zeros = dir.resolve("zeros.bin");
      java.nio.file.Files.write(zeros, new byte[(int) java.nio.file.Files.size(data)]);
      java.nio.file.Files.move(zeros, data, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      assertTrue(dev.onnxprune.graph.OnnxModels.referencing(m, threshold) == null);
      try (OrtSession s = cpu.open(m)) {
        assertSame(viaBytes, OrtTensors.run(s, feeds, java.util.Set.of()), 0.0);
      }
    } finally {
      if (old == null) {
        System.clearProperty(Sessions.FILE_THRESHOLD_PROPERTY);
      } else {
        System.setProperty(Sessions.FILE_THRESHOLD_PROPERTY, old);
      }
    }
  }

  /** Equal outputs, each element within {@code tolerance} of the output's largest magnitude. */
  private static void assertSame(java.util.Map<String, HostTensor> want, java.util.Map<String, HostTensor> got,
      double tolerance) {
    assertEquals(want.keySet(), got.keySet());
    for (String k : want.keySet()) {
      HostTensor a = want.get(k);
      HostTensor b = got.get(k);
      assertTrue(java.util.Arrays.equals(a.shape(), b.shape()), k);
      double scale = 0;
      for (int i = 0; i < a.size(); i++) {
        scale = Math.max(scale, Math.abs(a.get(i)));
      }
      for (int i = 0; i < a.size(); i++) {
        assertEquals(a.get(i), b.get(i), tolerance * scale, k + "[" + i + "]");
      }
    }
  }

  private static java.util.Set<java.nio.file.Path> sessionFolders(java.nio.file.Path tmp) throws java.io.IOException {
    try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(tmp)) {
      return s.filter(p -> p.getFileName().toString().startsWith("onnx-prune-session"))
          .collect(java.util.stream.Collectors.toSet());
    }
  }
}
