package dev.onnxprune.prune;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Sessions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The channel multiple that suits an execution provider: kept channel counts in multiples of it
 * keep a pruned model on the provider's fast kernels.
 * <ol>
 *   <li>CPU, x86 with AVX-512 (Linux {@code /proc/cpuinfo} flag {@code avx512f}, macOS
 *       {@code sysctl machdep.cpu.leaf7_features}): 16. ONNX Runtime's blocked (NCHWc)
 *       convolutions, pooling and depthwise convolutions take 16 channels at a time there; a Conv
 *       whose output channels are not a multiple of the block (or whose input channels are neither
 *       a multiple nor below it) stays in NCHW on slower kernels, with layout reorders around it.
 *   <li>CPU, x86 without AVX-512 (AVX2, AVX, SSE): 8, the NCHWc block there.
 *   <li>CPU, x86 whose features cannot be read: 16, which is a multiple of both blocks.
 *   <li>CPU, other architectures (aarch64, ...): 8, a multiple of the 4- and 8-lane SIMD GEMM
 *       kernels (ONNX Runtime has no blocked layout there).
 *   <li>CUDA: 8 (tensor cores take channel counts in multiples of 8).
 *   <li>AUTO (CUDA when it starts, else CPU): the CPU's multiple (with the GPU build of ONNX Runtime
 *       the least common multiple of the CPU's and 8, which is the same on x86).
 * </ol>
 * The CPU is read once per JVM.
 */
public final class HardwareWidths {
  private HardwareWidths() {}

  /**
   * A channel multiple and why it was chosen.
   *
   * @param multiple kept channel counts are multiples of it (1: exact widths)
   * @param reason the provider and CPU feature it follows, in words
   */
  public record Choice(int multiple, String reason) {}

  private static volatile Choice cpu;

  /** The multiple for the sessions' execution provider. */
  public static Choice of(Sessions sessions) {
    return of(sessions.device());
  }

  /** The multiple for {@code device} on this machine. */
  public static Choice of(Device device) {
    return switch (device) {
      case CUDA -> cuda();
      case CPU -> cpu();
      case AUTO -> {
        Choice c = cpu();
        if (!cudaBuild()) {
          yield new Choice(c.multiple(), c.reason() + "; device auto, and this ONNX Runtime build has no CUDA");
        }
        int m = lcm(c.multiple(), cuda().multiple());
        yield new Choice(m, "device auto: multiples of " + m + " suit CUDA's tensor cores (8) and the CPU ("
            + c.reason() + ")");
      }
    };
  }

  /** Whether this ONNX Runtime build lists CUDA (the GPU build lists it also on machines without a GPU). */
  private static boolean cudaBuild() {
    try {
      return OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
    } catch (RuntimeException | LinkageError e) {
      return true; // cannot tell: suit both
    }
  }

  private static Choice cuda() {
    return new Choice(8, "CUDA: tensor cores take channel counts in multiples of 8");
  }

  /** The multiple for this machine's CPU (read once). */
  public static Choice cpu() {
    Choice c = cpu;
    if (c == null) {
      c = forCpu(System.getProperty("os.arch", ""), readCpuFlags());
      cpu = c;
    }
    return c;
  }

  /**
   * The multiple for a CPU of architecture {@code arch} ({@code os.arch}) with feature flags
   * {@code flags} (lower case, as in {@code /proc/cpuinfo}; null when they could not be read).
   */
  static Choice forCpu(String arch, Set<String> flags) {
    String a = arch.toLowerCase(Locale.ROOT);
    boolean x86 = a.equals("amd64") || a.equals("x86_64") || a.equals("x86") || a.matches("i[3-6]86");
    if (!x86) {
      return new Choice(8, a + " CPU: ONNX Runtime has no blocked convolution layout here; multiples of 8 suit its"
          + " SIMD kernels");
    }
    if (flags == null) {
      return new Choice(16, "x86 CPU whose features could not be read: multiples of 16 suit ONNX Runtime's blocked"
          + " (NCHWc) convolutions with AVX-512 (16 channels) and AVX2 (8)");
    }
    if (flags.contains("avx512f")) {
      return new Choice(16, "CPU with AVX-512: ONNX Runtime's blocked (NCHWc) convolutions take 16 channels at a"
          + " time");
    }
    String isa = flags.contains("avx2") ? "AVX2" : flags.contains("avx") ? "AVX" : "SSE";
    return new Choice(8, "CPU with " + isa + ", no AVX-512: ONNX Runtime's blocked (NCHWc) convolutions take 8"
        + " channels at a time");
  }

  /** The first processor's flags of a Linux {@code /proc/cpuinfo} text; null when it has none. */
  static Set<String> cpuinfoFlags(String cpuinfo) {
    for (String line : cpuinfo.split("\n")) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).trim().equals("flags")) {
        return Arrays.stream(line.substring(colon + 1).trim().split("\\s+")).map(s -> s.toLowerCase(Locale.ROOT))
            .collect(Collectors.toSet());
      }
    }
    return null;
  }

  private static Set<String> readCpuFlags() {
    Path info = Path.of("/proc/cpuinfo");
    try {
      if (Files.isReadable(info)) {
        return cpuinfoFlags(Files.readString(info));
      }
      if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("mac")) {
        Process p = new ProcessBuilder("sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features")
            .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        return p.waitFor() == 0 ? cpuinfoFlags("flags: " + out.replace('\n', ' ').replace('.', '_')) : null;
      }
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
    return null;
  }

  private static int lcm(int a, int b) {
    int x = a;
    int y = b;
    while (y != 0) {
      int t = x % y;
      x = y;
      y = t;
    }
    return a / x * b;
  }
}
