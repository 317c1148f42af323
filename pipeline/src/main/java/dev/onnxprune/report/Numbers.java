package dev.onnxprune.report;

import java.util.Locale;

/** Counts as people read them, the same in every report and on the command line. */
public final class Numbers {
  private static final String[] SI = {"", "K", "M", "G", "T", "P", "E"};

  private Numbers() {}

  /** {@code 999 -> "999"}, {@code 1_500 -> "1.5K"}, {@code 62_564_480 -> "62.6M"}. */
  public static String count(long n) {
    if (Math.abs(n) < 1000) {
      return Long.toString(n);
    }
    double v = n;
    int unit = 0;
    while (Math.abs(v) >= 999.95 && unit < SI.length - 1) {
      v /= 1000;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f%s", v, SI[unit]);
  }

  /** {@code 1112948 -> "1,112,948"}, independent of the default locale. */
  public static String grouped(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }
}
