package dev.onnxprune.cli;

import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import picocli.CommandLine.Option;

/**
 * Where ONNX Runtime runs, shared by every command that runs a model: {@code --device},
 * {@code --device-id}, {@code --threads}.
 */
public final class RuntimeOptions {
  @Option(names = "--device", paramLabel = "DEVICE",
      description = "Execution provider: cpu, cuda, or auto (CUDA when it starts, else CPU; default). The provider in"
          + " use, and why, is logged once. CUDA needs the GPU build of onnx-prune.jar (see README-cli.md).")
  String device = "auto";

  @Option(names = "--device-id", paramLabel = "N",
      description = "CUDA device index (default ${DEFAULT-VALUE}).")
  int deviceId = 0;

  @Option(names = "--threads", paramLabel = "T",
      description = "ONNX Runtime intra-op threads (default ${DEFAULT-VALUE}: ONNX Runtime's choice, one per physical"
          + " core).")
  int threads = 0;

  /** Sessions as the options say; a bad value is a {@link UsageFailure} naming its option. */
  Sessions sessions() throws UsageFailure {
    Device d = UsageFailure.check("--device", () -> Device.parse(device));
    if (deviceId < 0) {
      throw new UsageFailure("--device-id must be >= 0: " + deviceId);
    }
    return UsageFailure.check("--threads", () -> new Sessions(d, deviceId, threads));
  }
}
