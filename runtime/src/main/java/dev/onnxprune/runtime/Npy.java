package dev.onnxprune.runtime;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy's {@code .npy} format (versions 1 to 3): a header naming dtype, order and shape, then
 * the data. Only little-endian C-order arrays of the dtypes datasets use are read; anything else
 * is refused with the reason.
 */
final class Npy {
  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
  private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

  private Npy() {}

  /** The header of one array; {@code where} names it in messages ("x.npy: " or "d.npz: array 'x': "). */
  record Header(String descr, long[] shape, Path file, String where) {
    /** Rows along the first axis. */
    int rows() {
      return (int) shape[0];
    }

    long rowElements() {
      long n = 1;
      for (int i = 1; i < shape.length; i++) {
        n *= shape[i];
      }
      return n;
    }

    String type() {
      return descr.substring(1);
    }

    String shapeText() {
      StringBuilder b = new StringBuilder("(");
      for (int i = 0; i < shape.length; i++) {
        b.append(i > 0 ? ", " : "").append(shape[i]);
      }
      return b.append(shape.length == 1 ? ",)" : ")").toString();
    }

    DatasetException error(String what) {
      return new DatasetException(file, where + what);
    }
  }

  static boolean isNpy(byte[] head) {
    return head.length >= MAGIC.length && Arrays.equals(Arrays.copyOf(head, MAGIC.length), MAGIC);
  }

  /** Reads and checks the header; the stream is left at the first data byte. */
  static Header header(DataInputStream in, Path file, String where) throws IOException {
    byte[] magic = new byte[MAGIC.length];
    try {
      in.readFully(magic);
      if (!isNpy(magic)) {
        throw new DatasetException(file, where + "not a .npy array (no \\x93NUMPY magic at the start)");
      }
      int major = in.readUnsignedByte();
      in.readUnsignedByte();
      int len;
      if (major == 1) {
        len = in.readUnsignedByte() | in.readUnsignedByte() << 8;
      } else if (major == 2 || major == 3) {
        len = Integer.reverseBytes(in.readInt());
        if (len < 0 || len > 1 << 20) {
          throw new DatasetException(file, where + "corrupt .npy header length " + Integer.toUnsignedString(len));
        }
      } else {
        throw new DatasetException(file, where + ".npy format version " + major + " is not supported (1 to 3 are)");
      }
      byte[] text = new byte[len];
      in.readFully(text);
      String dict = new String(text, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1).strip();
      return parse(dict, file, where);
    } catch (EOFException e) {
      throw new DatasetException(file, where + "truncated .npy header", e);
    }
  }

  private static Header parse(String dict, Path file, String where) throws DatasetException {
    Matcher d = DESCR.matcher(dict);
    Matcher f = FORTRAN.matcher(dict);
    Matcher s = SHAPE.matcher(dict);
    if (!d.find() || !f.find() || !s.find()) {
      throw new DatasetException(file, where + "not a plain array (.npy header " + dict
          + "; structured and object arrays are not supported)");
    }
    if (f.group(1).equals("True")) {
      throw new DatasetException(file, where + "the array is in Fortran order; save a C-order copy"
          + " (np.save(path, np.ascontiguousarray(x)))");
    }
    String descr = d.group(1);
    if (descr.startsWith(">")) {
      throw new DatasetException(file, where + "the array is big-endian ('" + descr + "'); save it little-endian"
          + " (x.astype('<" + descr.substring(1) + "'))");
    }
    if (descr.length() < 2 || "<|=".indexOf(descr.charAt(0)) < 0) {
      throw new DatasetException(file, where + "unsupported dtype '" + descr + "'");
    }
    List<Long> dims = new ArrayList<>();
    for (String part : s.group(1).split(",")) {
      String p = part.strip();
      if (p.endsWith("L")) {
        p = p.substring(0, p.length() - 1);
      }
      if (!p.isEmpty()) {
        try {
          dims.add(Long.parseLong(p));
        } catch (NumberFormatException e) {
          throw new DatasetException(file, where + "bad shape in .npy header: (" + s.group(1) + ")");
        }
      }
    }
    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
    long total = 1;
    for (long dim : shape) {
      if (dim < 0) {
        throw new DatasetException(file, where + "bad shape in .npy header: (" + s.group(1) + ")");
      }
      total = Math.multiplyExact(total, dim);
    }
    if (total > Integer.MAX_VALUE - 8) {
      throw new DatasetException(file, where + "the array has " + total + " elements; at most "
          + (Integer.MAX_VALUE - 8) + " can be read into memory");
    }
    return new Header(descr, shape, file, where);
  }

  /**
   * Reads the first {@code rows} rows of a float32 or uint8 array (uint8 scaled to [0, 1]),
   * then checks that the rest of the data is there and nothing follows it.
   *
   * @return the values, and whether they were 8-bit
   */
  static float[] readSamples(DataInputStream in, Header h, int rows) throws IOException {
    String t = h.type();
    if (!t.equals("f4") && !t.equals("u1")) {
      throw h.error("samples must be float32 or uint8, not '" + h.descr() + "' (convert with"
          + " x.astype(np.float32))");
    }
    int n = Math.toIntExact(rows * h.rowElements());
    float[] out = new float[n];
    try {
      if (t.equals("u1")) {
        byte[] chunk = new byte[1 << 16];
        for (int done = 0; done < n; ) {
          int k = Math.min(chunk.length, n - done);
          in.readFully(chunk, 0, k);
          for (int i = 0; i < k; i++) {
            out[done + i] = (chunk[i] & 0xff) / 255f;
          }
          done += k;
        }
      } else {
        byte[] chunk = new byte[1 << 16];
        ByteBuffer bb = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        for (int done = 0; done < n; ) {
          int k = Math.min(chunk.length / 4, n - done);
          in.readFully(chunk, 0, k * 4);
          bb.clear();
          bb.asFloatBuffer().get(out, done, k);
          done += k;
        }
      }
      finish(in, h, (h.rows() - rows) * h.rowElements() * (t.equals("u1") ? 1 : 4));
    } catch (EOFException e) {
      throw truncated(h, e);
    }
    return out;
  }

  /** True for the integer dtypes read as model inputs (token ids, masks): int64 and int32. */
  static boolean isInteger(Header h) {
    return h.type().equals("i8") || h.type().equals("i4");
  }

  /**
   * Reads the first {@code rows} rows of an int64, int32, uint8 or bool array (token ids, attention
   * masks) as int64, then checks that the rest of the data is there and nothing follows it.
   */
  static long[] readIntegers(DataInputStream in, Header h, int rows) throws IOException {
    int size = switch (h.type()) {
      case "i8" -> 8;
      case "i4" -> 4;
      case "u1", "b1" -> 1;
      default -> throw h.error("expected int64, int32, uint8 or bool, not '" + h.descr() + "'");
    };
    int n = Math.toIntExact(rows * h.rowElements());
    long[] out = new long[n];
    byte[] chunk = new byte[1 << 16];
    ByteBuffer bb = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
    try {
      for (int done = 0; done < n; ) {
        int k = Math.min(chunk.length / size, n - done);
        in.readFully(chunk, 0, k * size);
        for (int i = 0; i < k; i++) {
          out[done + i] = size == 8 ? bb.getLong(i * 8) : size == 4 ? bb.getInt(i * 4) : chunk[i] & 0xff;
        }
        done += k;
      }
      finish(in, h, (h.rows() - rows) * h.rowElements() * size);
    } catch (EOFException e) {
      throw truncated(h, e);
    }
    return out;
  }

  /** Reads the first {@code rows} labels of an int64, int32 or uint8 array of shape (N,) or (N, 1). */
  static long[] readLabels(DataInputStream in, Header h, int rows) throws IOException {
    if (h.shape().length == 0 || h.shape().length > 2 || h.rowElements() != 1) {
      throw h.error("labels must have shape (N,) or (N, 1), not " + h.shapeText());
    }
    String t = h.type();
    int size = switch (t) {
      case "i8" -> 8;
      case "i4" -> 4;
      case "u1" -> 1;
      default -> throw h.error("labels must be int64 or int32 (or uint8), not '" + h.descr()
          + "' (convert with y.astype(np.int64))");
    };
    long[] out = new long[rows];
    byte[] row = new byte[8];
    ByteBuffer bb = ByteBuffer.wrap(row).order(ByteOrder.LITTLE_ENDIAN);
    try {
      for (int i = 0; i < rows; i++) {
        in.readFully(row, 0, size);
        out[i] = switch (size) {
          case 8 -> bb.getLong(0);
          case 4 -> bb.getInt(0);
          default -> row[0] & 0xff;
        };
        if (out[i] < 0) {
          throw h.error("label " + out[i] + " at index " + i + " is negative");
        }
      }
      finish(in, h, (long) (h.rows() - rows) * size);
    } catch (EOFException e) {
      throw truncated(h, e);
    }
    return out;
  }

  private static void finish(InputStream in, Header h, long skip) throws IOException {
    in.skipNBytes(skip);
    if (in.read() != -1) {
      throw h.error("more data than the header's shape " + h.shapeText() + " '" + h.descr() + "' holds");
    }
  }

  private static DatasetException truncated(Header h, EOFException e) {
    return new DatasetException(h.file(), h.where() + "truncated: the header says shape " + h.shapeText() + " '"
        + h.descr() + "', and the data ends before that", e);
  }
}
