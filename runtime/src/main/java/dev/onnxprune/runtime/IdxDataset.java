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

  /** The largest array the JVM allocates (a few bytes under {@code Integer.MAX_VALUE}). */
  private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

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
      long plane = (long) dims[1] * dims[2]; // both < 2^31: no overflow, nor in n * plane once plane fits
      long need = n * plane;
      if (plane > MAX_ARRAY || need > MAX_ARRAY) {
        throw new DatasetException(images, "the IDX header says " + n + " images of " + dims[1] + "x" + dims[2]
            + " pixels, more than one array holds (" + MAX_ARRAY + " bytes); read fewer images (a limit)");
      }
      // read as the data comes, not allocated from the header: a header may promise more than the file has
      String truncated = "truncated: " + n + " images of " + dims[1] + "x" + dims[2] + " need " + need
          + " bytes of pixels";
      try {
        pixels = in.readNBytes((int) need);
      } catch (EOFException e) { // compressed data that ends early
        throw new DatasetException(images, truncated, e);
      }
      if (pixels.length < need) {
        throw new DatasetException(images, truncated + ", the file has " + pixels.length);
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
      int n = count < 0 ? total : count;
      byte[] bytes;
      try {
        bytes = in.readNBytes(n); // as the data comes: the header may promise more than the file has
      } catch (EOFException e) { // compressed data that ends early
        throw new DatasetException(labels, "truncated: " + n + " labels", e);
      }
      if (bytes.length < n) {
        throw new DatasetException(labels, "truncated: " + n + " labels, the file has " + bytes.length);
      }
      long[] y = new long[n];
      for (int i = 0; i < n; i++) {
        y[i] = bytes[i] & 0xff;
      }
      return y;
    } catch (EOFException e) {
      throw new DatasetException(labels, "truncated label file", e);
    } catch (java.util.zip.ZipException e) {
      throw new DatasetException(labels, "corrupt gzip data: " + e.getMessage(), e);
    }
  }

  private static DataInputStream open(Path file) throws IOException {
    if (!Files.exists(file)) {
      throw new DatasetException(file, "no such file");
    }
    Datasets.refuseNonRegular(file);
    InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    raw.mark(2);
    int b0 = raw.read();
    int b1 = raw.read();
    raw.reset();
    InputStream in = (b0 == 0x1f && b1 == 0x8b) ? checkedAtClose(new GZIPInputStream(raw, 1 << 16)) : raw;
    return new DataInputStream(in);
  }

  /**
   * {@code gz} whose close reads it to its end: GZIPInputStream checks the CRC-32 and length of the
   * gzip trailer only there, and a reader that stops at the last pixel it wants would never see a
   * corrupt file. A mismatch is a {@link java.util.zip.ZipException} ("Corrupt GZIP trailer").
   */
  private static InputStream checkedAtClose(InputStream gz) {
    return new java.io.FilterInputStream(gz) {
      @Override
      public void close() throws IOException {
        try {
          in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (EOFException e) {
          throw new java.util.zip.ZipException("the gzip data ends before its trailer (CRC-32 and length)");
        } finally {
          super.close();
        }
      }
    };
  }
}
