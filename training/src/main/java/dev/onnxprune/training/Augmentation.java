package dev.onnxprune.training;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * The usual augmentations for small images, applied to a batch {@code [N, C, H, W]} in place:
 * a random crop of the original size from the image padded by {@code padding} pixels on every
 * side (torchvision's {@code RandomCrop(size, padding)}), then a horizontal flip with
 * probability 1/2 ({@code RandomHorizontalFlip}). Batches are already normalised, so the padding
 * is filled with what a black (zero) pixel becomes after normalisation, {@code (0 - mean) /
 * std} per channel, as torchvision pads before {@code Normalize}.
 */
public final class Augmentation {
  private static final Augmentation NONE = new Augmentation(0, false, new float[] {0f});

  private final int padding;
  private final boolean flip;
  private final float[] fill;

  private Augmentation(int padding, boolean flip, float[] fill) {
    if (padding < 0) {
      throw new IllegalArgumentException("crop padding must be >= 0: " + padding);
    }
    if (fill.length == 0) {
      throw new IllegalArgumentException("the padding fill needs one value per channel (or one for all)");
    }
    this.padding = padding;
    this.flip = flip;
    this.fill = fill.clone();
  }

  /** No augmentation. */
  public static Augmentation none() {
    return NONE;
  }

  /**
   * Random crop with {@code padding} and random horizontal flip.
   *
   * @param fill the padded pixels' value per channel (one value: all channels)
   */
  public static Augmentation cropAndFlip(int padding, float... fill) {
    return new Augmentation(padding, true, fill);
  }

  /** Random crop with {@code padding}, no flip. */
  public static Augmentation crop(int padding, float... fill) {
    return new Augmentation(padding, false, fill);
  }

  public int padding() {
    return padding;
  }

  public boolean flip() {
    return flip;
  }

  public boolean isNone() {
    return padding == 0 && !flip;
  }

  /**
   * Augments every sample of {@code x} (shape {@code [N, C, H, W]}) in place, drawing from
   * {@code random}: per sample the crop offsets, then the flip.
   *
   * @throws IllegalArgumentException when the samples are not images {@code [C, H, W]}, or
   *     {@code fill} has neither 1 nor C values
   */
  public void apply(float[] x, long[] shape, RandomGenerator random) {
    if (isNone()) {
      return;
    }
    if (shape.length != 4) {
      throw new IllegalArgumentException("crop and flip need images [N, C, H, W], got " + Arrays.toString(shape));
    }
    int n = (int) shape[0];
    int c = (int) shape[1];
    int h = (int) shape[2];
    int w = (int) shape[3];
    if (fill.length != 1 && fill.length != c) {
      throw new IllegalArgumentException("the padding fill has " + fill.length + " values; the images have " + c
          + " channels");
    }
    int plane = h * w;
    float[] tmp = new float[plane];
    for (int s = 0; s < n; s++) {
      int dy = padding == 0 ? 0 : random.nextInt(2 * padding + 1) - padding;
      int dx = padding == 0 ? 0 : random.nextInt(2 * padding + 1) - padding;
      boolean mirror = flip && random.nextBoolean();
      if (dy == 0 && dx == 0 && !mirror) {
        continue;
      }
      for (int ch = 0; ch < c; ch++) {
        int base = (s * c + ch) * plane;
        float f = fill[fill.length == 1 ? 0 : ch];
        // output (i, j) takes input (i + dy, j + dx) of the unpadded image, fill outside
        for (int i = 0; i < h; i++) {
          int si = i + dy;
          for (int j = 0; j < w; j++) {
            int sj = j + dx;
            tmp[i * w + (mirror ? w - 1 - j : j)] = si < 0 || si >= h || sj < 0 || sj >= w ? f : x[base + si * w + sj];
          }
        }
        System.arraycopy(tmp, 0, x, base, plane);
      }
    }
  }

  @Override
  public String toString() {
    return isNone() ? "none" : (padding > 0 ? "crop(padding " + padding + ")" : "") + (padding > 0 && flip ? " + " : "")
        + (flip ? "horizontal flip" : "");
  }
}
