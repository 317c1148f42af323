package dev.onnxprune.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates ONNX Runtime sessions on the chosen device. ONNX Runtime has no automatic fallback:
 * {@code addCUDA} throws when there is no GPU or no CUDA 12 libraries, so {@link Device#AUTO}
 * catches that, logs once which provider is in use and why, and builds a CPU session.
 */
public final class Sessions {
  private static final Logger LOG = LoggerFactory.getLogger(Sessions.class);
  private static final AtomicBoolean SAID = new AtomicBoolean();

  private final Device device;
  private final int deviceId;
  private final int threads;
  private volatile String provider;
  /** Why CUDA did not start in this JVM, once it has failed under AUTO. */
  private static volatile String cudaFailure;

  /**
   * @param device execution provider choice
   * @param deviceId CUDA device index
   * @param threads intra-op threads; 0 lets ONNX Runtime choose
   */
  public Sessions(Device device, int deviceId, int threads) {
    dev.onnxprune.errors.InvalidOptionException.atLeast("sessions.threads", threads, 0);
    dev.onnxprune.errors.InvalidOptionException.atLeast("sessions.deviceId", deviceId, 0);
    this.device = device;
    this.deviceId = deviceId;
    this.threads = threads;
  }

  /**
   * Sessions on CUDA when it starts (an NVIDIA GPU, its driver, the CUDA 12 libraries and
   * ONNX Runtime's GPU jar), otherwise on the CPU, said once in the log; ONNX Runtime's default
   * threading.
   */
  public static Sessions auto() {
    return new Sessions(Device.AUTO, 0, 0);
  }

  /** CPU sessions with ONNX Runtime's default threading. */
  public static Sessions cpu() {
    return new Sessions(Device.CPU, 0, 0);
  }

  /** These sessions with {@code n} intra-op threads each (0: ONNX Runtime's choice), on the same device. */
  public Sessions withThreads(int n) {
    return new Sessions(device, deviceId, n);
  }

  public static OrtEnvironment environment() {
    return OrtEnvironment.getEnvironment();
  }

  /** The execution provider asked for (AUTO: CUDA when it starts, else CPU). */
  public Device device() {
    return device;
  }

  /** Intra-op threads per session; 0 lets ONNX Runtime choose. */
  public int threads() {
    return threads;
  }

  /** The provider the last session used ("CUDA" or "CPU"), or null before the first. */
  public String provider() {
    return provider;
  }

  /** A session over {@code model} (serialized in memory; models over 2 GiB need a file). */
  public OrtSession open(Model model) throws OrtException {
    return open(OnnxModels.toBytes(model));
  }

  /** A session over serialized model bytes. */
  public OrtSession open(byte[] modelBytes) throws OrtException {
    return open(modelBytes, Map.of());
  }

  /**
   * A session over serialized model bytes with ONNX Runtime session configuration entries added
   * to these sessions' options (keys as in ONNX Runtime's {@code onnxruntime_session_options_config_keys.h},
   * e.g. {@code session.intra_op.allow_spinning}).
   */
  public OrtSession open(byte[] modelBytes, Map<String, String> config) throws OrtException {
    try (OrtSession.SessionOptions opts = options()) {
      for (Map.Entry<String, String> e : config.entrySet()) {
        opts.addConfigEntry(e.getKey(), e.getValue());
      }
      return environment().createSession(modelBytes, opts);
    }
  }

  /** A session over a model file. */
  public OrtSession open(java.nio.file.Path file) throws OrtException {
    try (OrtSession.SessionOptions opts = options()) {
      return environment().createSession(file.toString(), opts);
    }
  }

  private OrtSession.SessionOptions options() throws OrtException {
    OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
    if (threads > 0) {
      opts.setIntraOpNumThreads(threads);
    }
    if (device == Device.CPU) {
      say("CPU", "device CPU as asked");
      provider = "CPU";
      return opts;
    }
    String failed = cudaFailure;
    if (device == Device.AUTO && failed != null) {
      // tried once in this JVM already; with the GPU build each try unpacks a ~580 MB library
      provider = "CPU";
      return opts;
    }
    try {
      opts.addCUDA(deviceId);
      say("CUDA", "device " + deviceId);
      provider = "CUDA";
    } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
      String why = whyNoCuda(e);
      if (device == Device.CUDA) {
        opts.close();
        throw new OrtException("device CUDA was asked for, and the CUDA execution provider cannot be started: " + why);
      }
      cudaFailure = why;
      say("CPU", "CUDA is not available: " + why);
      provider = "CPU";
    }
    return opts;
  }

  /** Why {@code addCUDA} failed, in words: ONNX Runtime's own message often hides the cause. */
  static String whyNoCuda(Throwable e) {
    String msg = firstLine(e.getMessage());
    if (msg.contains("Failed to find CUDA shared provider") || msg.contains("CUDA is not supported")) {
      return "this is ONNX Runtime's CPU build; CUDA needs com.microsoft.onnxruntime:onnxruntime_gpu (for the CLI:"
          + " build it with -Pgpu)";
    }
    return "it needs an NVIDIA GPU with its driver and the CUDA 12 libraries (cuBLAS, cuRAND, cudart) on the"
        + " library path; ONNX Runtime said: " + msg;
  }

  private static void say(String which, String why) {
    if (SAID.compareAndSet(false, true)) {
      LOG.info("ONNX Runtime execution provider: {} ({})", which, why);
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "no reason given";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
