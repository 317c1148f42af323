package dev.onnxprune.cli;

import dev.onnxprune.report.Numbers;
import java.util.Locale;

/** Human-readable numbers: counts with SI suffixes (40.8M), sizes in binary units (1.1 MiB). */
final class Units {
  private static final String[] IEC = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

  private Units() {}

  /** {@code 999 -> "999"}, {@code 40_812_544 -> "40.8M"}, {@code 1_500 -> "1.5K"}. */
  static String count(long n) {
    return Numbers.count(n);
  }

  /** {@code 512 -> "512 B"}, {@code 1_112_948 -> "1.1 MiB"}. */
  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    double v = n;
    int unit = 0;
    while (v >= 1023.95 && unit < IEC.length - 1) {
      v /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, IEC[unit]);
  }

  /** {@code 1112948 -> "1,112,948"} (independent of the default locale). */
  static String grouped(long n) {
    return Numbers.grouped(n);
  }
}
