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

  @Test
  void negativeThreadsAreRefused() {
    InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> new Sessions(Device.CPU, 0, -1));
    assertEquals("sessions.threads must be >= 0: -1", e.getMessage());
  }
}
