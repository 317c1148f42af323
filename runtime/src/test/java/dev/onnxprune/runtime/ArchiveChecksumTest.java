package dev.onnxprune.runtime;

import static dev.onnxprune.runtime.NpyFiles.f4;
import static dev.onnxprune.runtime.NpyFiles.i8;
import static dev.onnxprune.runtime.NpyFiles.npy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.testmodels.TestModels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 5: a .gz whose trailer's CRC-32 (or length) does not match its data, and a .npz
 * member whose bytes do not match the CRC-32 the zip records, were read as good data. Each format
 * carries these checks; the readers now make them, reading every file they use to its end.
 */
class ArchiveChecksumTest {
  private static final Path IMAGES = TestModels.file("fmnist-calib-images-idx3-ubyte.gz");
  private static final Path LABELS = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz");

  @TempDir
  Path tmp;

  /** {@code gz} with the 4 bytes at {@code fromEnd} bytes before its end (the trailer) changed. */
  private Path trailerChanged(Path gz, int fromEnd, String name) throws Exception {
    byte[] b = Files.readAllBytes(gz);
    for (int i = 0; i < 4; i++) {
      b[b.length - fromEnd + i] ^= 0x5a;
    }
    return Files.write(tmp.resolve(name), b);
  }

  @Test
  void aGzipWhoseTrailerDoesNotMatchItsDataIsRefused() throws Exception {
    Path crc = trailerChanged(IMAGES, 8, "crc-images.gz");
    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(crc, LABELS,
        DatasetOptions.defaults()));
    assertEquals(crc + ": corrupt gzip data: Corrupt GZIP trailer", e.getMessage());
    // also when only the first images are read: the rest is read for the check
    e = assertThrows(DatasetException.class, () -> Datasets.open(crc, LABELS, DatasetOptions.defaults().withLimit(10)));
    assertEquals(crc + ": corrupt gzip data: Corrupt GZIP trailer", e.getMessage());

    Path size = trailerChanged(IMAGES, 4, "size-images.gz");
    e = assertThrows(DatasetException.class, () -> Datasets.open(size, LABELS, DatasetOptions.defaults()));
    assertEquals(size + ": corrupt gzip data: Corrupt GZIP trailer", e.getMessage());

    Path labels = trailerChanged(LABELS, 8, "crc-labels.gz");
    e = assertThrows(DatasetException.class, () -> Datasets.open(IMAGES, labels, DatasetOptions.defaults()));
    assertEquals(labels + ": corrupt gzip data: Corrupt GZIP trailer", e.getMessage());

    // the good files still read, whole or in part
    assertEquals(1000, Datasets.open(IMAGES, LABELS, DatasetOptions.defaults()).size());
    assertEquals(10, Datasets.open(IMAGES, LABELS, DatasetOptions.defaults().withLimit(10)).size());
  }

  private static Map<String, byte[]> arrays() {
    Map<String, byte[]> a = new LinkedHashMap<>();
    a.put("x", npy("<f4", false, new long[] {3, 4}, f4(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)));
    a.put("y", npy("<i8", false, new long[] {3}, i8(0, 1, 2)));
    return a;
  }

  @Test
  void aStoredNpzMemberWhoseBytesDoNotMatchItsCrcIsRefused() throws Exception {
    Path npz = NpyFiles.npz(tmp.resolve("stored.npz"), arrays(), false);
    byte[] b = Files.readAllBytes(npz);
    // the last float of x (11.0f) becomes 11.000001f: a valid .npy, a wrong CRC-32
    byte[] eleven = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(11f).array();
    int at = indexOf(b, eleven);
    b[at] ^= 1;
    Files.write(npz, b);
    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(npz, null,
        DatasetOptions.defaults()));
    assertTrue(e.getMessage().startsWith(npz + ": array 'x': its bytes have CRC-32 "), e.getMessage());
    assertTrue(e.getMessage().endsWith(": the file is corrupt"), e.getMessage());
    assertEquals(3, Datasets.open(NpyFiles.npz(tmp.resolve("good.npz"), arrays(), false), null,
        DatasetOptions.defaults()).size());
  }

  @Test
  void aDeflatedNpzMemberWhoseCrcDoesNotMatchIsRefused() throws Exception {
    Path npz = NpyFiles.npz(tmp.resolve("deflated.npz"), arrays(), true);
    byte[] b = Files.readAllBytes(npz);
    // change the CRC-32 the central directory records for y.npy (16 bytes into its header "PK\1\2")
    int central = indexOf(b, new byte[] {'P', 'K', 1, 2});
    int y = indexOf(b, "y.npy".getBytes(java.nio.charset.StandardCharsets.US_ASCII), central);
    int header = lastIndexOf(b, new byte[] {'P', 'K', 1, 2}, y);
    b[header + 16] ^= 0x5a;
    Files.write(npz, b);
    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(npz, null,
        DatasetOptions.defaults()));
    assertTrue(e.getMessage().startsWith(npz + ": array 'y': its bytes have CRC-32 "), e.getMessage());
  }

  private static int indexOf(byte[] b, byte[] what) {
    return indexOf(b, what, 0);
  }

  private static int indexOf(byte[] b, byte[] what, int from) {
    for (int i = from; i + what.length <= b.length; i++) {
      if (java.util.Arrays.equals(b, i, i + what.length, what, 0, what.length)) {
        return i;
      }
    }
    throw new AssertionError("not found");
  }

  private static int lastIndexOf(byte[] b, byte[] what, int before) {
    for (int i = before - what.length; i >= 0; i--) {
      if (java.util.Arrays.equals(b, i, i + what.length, what, 0, what.length)) {
        return i;
      }
    }
    throw new AssertionError("not found");
  }
}
