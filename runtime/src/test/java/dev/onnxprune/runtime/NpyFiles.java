package dev.onnxprune.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Test helper: writes .npy and .npz files as NumPy does (version 1.0 header padded to 64 bytes). */
final class NpyFiles {
  private NpyFiles() {}

  static byte[] npy(String descr, boolean fortran, long[] shape, byte[] data) {
    StringBuilder s = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) {
      s.append(i > 0 ? ", " : "").append(shape[i]);
    }
    s.append(shape.length == 1 ? ",)" : ")");
    String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + s
        + ", }";
    return npy(dict, data);
  }

  /** A .npy with the header dictionary {@code dict} as given. */
  static byte[] npy(String dict, byte[] data) {
    int pad = 64 - (10 + dict.length() + 1) % 64;
    String header = dict + " ".repeat(pad % 64) + "\n";
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
    out.write(header.length() & 0xff);
    out.write(header.length() >> 8);
    out.writeBytes(header.getBytes(StandardCharsets.ISO_8859_1));
    out.writeBytes(data);
    return out.toByteArray();
  }

  static byte[] f4(float... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }

  static byte[] i8(long... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asLongBuffer().put(v);
    return b.array();
  }

  static byte[] i4(int... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(v);
    return b.array();
  }

  static Path write(Path file, byte[] bytes) throws IOException {
    Files.write(file, bytes);
    return file;
  }

  /** A .npz of {@code arrays} (key -> .npy bytes), in map order; deflated when {@code compressed}. */
  static Path npz(Path file, Map<String, byte[]> arrays, boolean compressed) throws IOException {
    try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
      zip.setMethod(compressed ? ZipOutputStream.DEFLATED : ZipOutputStream.STORED);
      for (Map.Entry<String, byte[]> e : arrays.entrySet()) {
        ZipEntry entry = new ZipEntry(e.getKey() + ".npy");
        if (!compressed) {
          java.util.zip.CRC32 crc = new java.util.zip.CRC32();
          crc.update(e.getValue());
          entry.setSize(e.getValue().length);
          entry.setCrc(crc.getValue());
        }
        zip.putNextEntry(entry);
        zip.write(e.getValue());
        zip.closeEntry();
      }
    }
    return file;
  }
}
