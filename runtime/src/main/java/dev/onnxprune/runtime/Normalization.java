package dev.onnxprune.runtime;

import java.util.Arrays;

/**
 * Per-channel normalisation {@code (x - mean[c]) / std[c]} applied to samples whose channel axis
 * is the first axis of a sample (CHW). One value applies to every channel.
 *
 * @param mean per-channel means (length 1 or the channel count)
 * @param std per-channel standard deviations, all > 0
 */
public record Normalization(float[] mean, float[] std) implements java.io.Serializable {
  /** No normalisation. */
  public static final Normalization NONE = new Normalization(new float[] {0f}, new float[] {1f});

  public Normalization {
    if (mean.length == 0 || std.length == 0) {
      throw new dev.onnxprune.errors.InvalidOptionException("normalization.mean", null,
          "and normalization.std need at least one value each");
    }
    for (float s : std) {
      if (!(s > 0)) {
        throw new dev.onnxprune.errors.InvalidOptionException("normalization.std", std, "values must be > 0");
      }
    }
    mean = mean.clone();
    std = std.clone();
  }

  /**
   * What a black pixel (0 after scaling to [0, 1]) becomes, per channel: {@code -mean/std}; the
   * padding value of a random crop of normalised images. One value when mean and std have one.
   */
  public float[] zeroPixel() {
    int c = Math.max(mean.length, std.length);
    float[] f = new float[c];
    for (int i = 0; i < c; i++) {
      f[i] = -mean[mean.length == 1 ? 0 : i] / std[std.length == 1 ? 0 : i];
    }
    return f;
  }

  /** True when this normalisation changes nothing. */
  public boolean isIdentity() {
    for (float m : mean) {
      if (m != 0f) {
        return false;
      }
    }
    for (float s : std) {
      if (s != 1f) {
        return false;
      }
    }
    return true;
  }

  /**
   * Normalises {@code x} in place: samples of {@code channels * plane} values each.
   *
   * @throws IllegalArgumentException when mean or std has neither 1 nor {@code channels} values
   */
  public void apply(float[] x, int channels, int plane) {
    if ((mean.length != 1 && mean.length != channels) || (std.length != 1 && std.length != channels)) {
      throw new dev.onnxprune.errors.DataMismatchException("the normalization has " + mean.length + " mean(s) and "
          + std.length + " std(s); the data has " + channels + " channels (give 1 or " + channels + " of each)");
    }
    int sample = channels * plane;
    for (int base = 0; base < x.length; base += sample) {
      for (int c = 0; c < channels; c++) {
        float m = mean[mean.length == 1 ? 0 : c];
        float inv = 1f / std[std.length == 1 ? 0 : c];
        int from = base + c * plane;
        for (int i = from; i < from + plane; i++) {
          x[i] = (x[i] - m) * inv;
        }
      }
    }
  }
}
