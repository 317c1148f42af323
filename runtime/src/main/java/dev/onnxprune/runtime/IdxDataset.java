package dev.onnxprune.runtime;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Images and labels in the IDX format of MNIST and Fashion-MNIST, gzipped or not. Images
 * ({@code 0x00000803}, unsigned bytes, N x H x W) become samples of shape {@code [1, H, W]},
 * scaled to [0, 1] and then normalised; labels ({@code 0x00000801}) become class indices.
 */
public final class IdxDataset {
  private IdxDataset() {}

  /**
   * Reads an image file and its label file (labels may be null).
   *
   * @param limit read at most this many samples (0: all)
   * @throws DatasetException naming the file and what is wrong (bad magic, truncated, counts differ)
   */
  public static ArrayDataset read(Path images, Path labels, Normalization norm, int limit) throws IOException {
    int[] dims;
    int inFile;
    byte[] pixels;
    try (DataInputStream in = open(images)) {
      int magic = in.readInt();
      if (magic != 0x00000803) {
        throw new DatasetException(images, "not an IDX image file (magic 0x" + Integer.toHexString(magic)
            + ", expected 0x00000803 for unsigned-byte images N x H x W)");
      }
      dims = new int[] {in.readInt(), in.readInt(), in.readInt()};
      if (dims[0] < 0 || dims[1] <= 0 || dims[2] <= 0) {
        throw new DatasetException(images, "bad IDX dimensions " + java.util.Arrays.toString(dims));
      }
      inFile = dims[0];
      int n = limit > 0 ? Math.min(limit, dims[0]) : dims[0];
      dims[0] = n;
      pixels = new byte[Math.multiplyExact(Math.multiplyExact(n, dims[1]), dims[2])];
      try {
        in.readFully(pixels);
      } catch (EOFException e) {
        throw new DatasetException(images, "truncated: " + n + " images of " + dims[1] + "x" + dims[2]
            + " need " + pixels.length + " bytes of pixels", e);
      }
    } catch (EOFException e) {
      throw new DatasetException(images, "truncated IDX header", e);
    } catch (java.util.zip.ZipException e) {
      throw new DatasetException(images, "corrupt gzip data: " + e.getMessage(), e);
    }
    long[] y = labels == null ? null : java.util.Arrays.copyOf(readLabels(labels, inFile, images), dims[0]);
    float[] x = new float[pixels.length];
    for (int i = 0; i < x.length; i++) {
      x[i] = (pixels[i] & 0xff) / 255f;
    }
    norm.apply(x, 1, dims[1] * dims[2]);
    return new ArrayDataset(x, new long[] {1, dims[1], dims[2]}, y);
  }

  /**
   * Reads the labels of an IDX label file, which must hold exactly {@code count} of them, one per
   * image of {@code images} ({@code count} < 0: as many as it holds). A label file of another length
   * belongs to other images (the training labels given with the test images, say): refused.
   */
  static long[] readLabels(Path labels, int count, Path images) throws IOException {
    try (DataInputStream in = open(labels)) {
      int magic = in.readInt();
      if (magic != 0x00000801) {
        throw new DatasetException(labels, "not an IDX label file (magic 0x" + Integer.toHexString(magic)
            + ", expected 0x00000801)");
      }
      int total = in.readInt();
      if (total < 0) {
        throw new DatasetException(labels, "bad IDX label count " + total);
      }
      if (count >= 0 && total != count) {
        throw new DatasetException(labels, "has " + total + " labels for the " + count + " images in " + images
            + "; a label file belongs to the image file with as many images");
      }
      long[] y = new long[count < 0 ? total : count];
      for (int i = 0; i < y.length; i++) {
        y[i] = in.readUnsignedByte();
      }
      return y;
    } catch (EOFException e) {
      throw new DatasetException(labels, "truncated label file", e);
    } catch (java.util.zip.ZipException e) {
      throw new DatasetException(labels, "corrupt gzip data: " + e.getMessage(), e);
    }
  }

  private static DataInputStream open(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new DatasetException(file, "no such file");
    }
    InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    raw.mark(2);
    int b0 = raw.read();
    int b1 = raw.read();
    raw.reset();
    InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(raw, 1 << 16) : raw;
    return new DataInputStream(in);
  }
}
