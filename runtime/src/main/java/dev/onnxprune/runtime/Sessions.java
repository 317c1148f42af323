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
public final class Sessions implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(Sessions.class);
  private static final AtomicBoolean SAID = new AtomicBoolean();

  private final Device device;
  private final int deviceId;
  private final int threads;
  private transient volatile String provider;
  /** Why CUDA did not start in this JVM, once it has failed under AUTO. */
  private static volatile String cudaFailure;

  /**
   * The most intra-op threads a session takes: 4 per available processor. Each thread has its own
   * stack and work buffers, and more threads than cores only wait for each other; {@code
   * --threads 100000} grew the heap by 65 MB/s and never ran.
   */
  public static int maxThreads() {
    return 4 * Runtime.getRuntime().availableProcessors();
  }

  /**
   * @param device execution provider choice
   * @param deviceId CUDA device index
   * @param threads intra-op threads, 0 to {@link #maxThreads()}; 0 lets ONNX Runtime choose
   * @throws dev.onnxprune.errors.InvalidOptionException (key {@code sessions.threads} or
   *     {@code sessions.deviceId}) for a value out of range
   */
  public Sessions(Device device, int deviceId, int threads) {
    if (threads < 0 || threads > maxThreads()) {
      throw new dev.onnxprune.errors.InvalidOptionException("sessions.threads", threads, "must be in [0, "
          + maxThreads() + "] (0: ONNX Runtime's choice; at most 4 per available processor, "
          + Runtime.getRuntime().availableProcessors() + " here)");
    }
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

  /** The CUDA device the sessions use (when they use CUDA). */
  public int deviceId() {
    return deviceId;
  }

  /** These settings on CUDA device {@code id} (a Spark executor's GPU). */
  public Sessions onDevice(int id) {
    return new Sessions(device, id, threads);
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

  /**
   * System property: the tensor bytes from which {@link #open(Model)} hands ONNX Runtime files
   * with external data (the model's own, or a temporary copy) instead of serialized bytes (default
   * {@link #DEFAULT_FILE_THRESHOLD}).
   */
  public static final String FILE_THRESHOLD_PROPERTY = "onnxprune.sessions.fileThreshold";

  /**
   * 512 MiB: serialized bytes are a second copy of every weight on the heap (a 0.67 GB pruned model
   * ran a 2 GB heap out of memory) and cannot pass protobuf's 2 GiB; a file with external data is
   * neither, for the cost of writing it.
   */
  public static final long DEFAULT_FILE_THRESHOLD = 512L << 20;

  /**
   * ONNX Runtime's session configuration key that turns off weight prepacking: a kernel (MatMul,
   * Conv) then computes from the initializer as loaded instead of a repacked copy, so a model
   * whose data ONNX Runtime maps from its file costs no second copy (a little slower per run).
   */
  public static final String DISABLE_PREPACKING = "session.disable_prepacking";

  /** ONNX Runtime's configuration key naming the folder external data is read from for a model given as bytes. */
  static final String EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path";

  /** A session over {@code model}; as {@link #open(Model, Map)} with no configuration entries. */
  public OrtSession open(Model model) throws OrtException {
    return open(model, Map.of());
  }

  /**
   * A session over {@code model}, with ONNX Runtime configuration entries as {@link #open(byte[],
   * Map)}. A model whose tensors hold fewer bytes than {@link #fileThreshold()} is serialized in
   * memory. A larger one whose tensors still in external data files are what makes it large
   * (the rest under the threshold) is serialized with those tensors referring to their files,
   * which ONNX Runtime reads or maps itself: no copy of them in this process or on disk. Any
   * other large model (a model over 2 GiB cannot be serialized at all) is written with external
   * data into a temporary folder, ONNX Runtime opens that file, and the folder is removed once the
   * session exists (ONNX Runtime has read or mapped the data by then).
   *
   * @throws OrtException when ONNX Runtime refuses the model, or the temporary file cannot be written
   */
  public OrtSession open(Model model, Map<String, String> config) throws OrtException {
    long threshold = fileThreshold();
    if (OnnxModels.tensorBytes(model) < threshold) {
      return open(OnnxModels.toBytes(model), config);
    }
    OnnxModels.Referencing referencing = OnnxModels.referencing(model, threshold);
    if (referencing != null) {
      Map<String, String> c = new java.util.LinkedHashMap<>(config);
      if (referencing.folder() != null) {
        c.put(EXTERNAL_DATA_FOLDER, referencing.folder().toString());
      }
      return open(referencing.bytes(), c);
    }
    java.nio.file.Path dir = null;
    try {
      dir = java.nio.file.Files.createTempDirectory("onnx-prune-session");
      java.nio.file.Path file = dir.resolve("model.onnx");
      OnnxModels.write(model, file, dev.onnxprune.graph.WriteOptions.withExternalData());
      return open(file, config);
    } catch (java.io.IOException e) {
      throw new OrtException("cannot write the model for ONNX Runtime into a temporary folder"
          + (dir == null ? "" : " (" + dir + ")") + ": " + e.getMessage());
    } finally {
      if (dir != null) {
        removeTree(dir);
      }
    }
  }

  /** Tensor bytes from which {@link #open(Model)} goes through a file: {@value #FILE_THRESHOLD_PROPERTY}, or 512 MiB. */
  public static long fileThreshold() {
    Long v = Long.getLong(FILE_THRESHOLD_PROPERTY);
    return v == null || v < 0 ? DEFAULT_FILE_THRESHOLD : v;
  }

  private static void removeTree(java.nio.file.Path dir) {
    try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.walk(dir)) {
      for (java.nio.file.Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
        java.nio.file.Files.deleteIfExists(p);
      }
    } catch (java.io.IOException e) {
      LOG.warn("could not remove the temporary folder {}: {}", dir, e.getMessage());
    }
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
    return open(file, Map.of());
  }

  /** A session over a model file, with configuration entries as {@link #open(byte[], Map)}. */
  public OrtSession open(java.nio.file.Path file, Map<String, String> config) throws OrtException {
    try (OrtSession.SessionOptions opts = options()) {
      for (Map.Entry<String, String> e : config.entrySet()) {
        opts.addConfigEntry(e.getKey(), e.getValue());
      }
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
