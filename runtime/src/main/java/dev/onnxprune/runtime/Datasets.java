package dev.onnxprune.runtime;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Opens a labelled dataset, choosing the reader by what the file is (its first bytes, not its
 * name):
 * <ul>
 *   <li>IDX (MNIST, Fashion-MNIST), gzipped or not: {@code images} and {@code labels} files;
 *       samples {@code [1, H, W]}.
 *   <li>{@code .npy}: samples float32 or uint8, {@code (N, C, H, W)}, {@code (N, H, W)} (read
 *       as one channel) or {@code (N, F)}; labels int64, int32 or uint8, {@code (N,)}; both
 *       little-endian and in C order. Labels from a .npy, .npz or IDX file.
 *   <li>{@code .npz}: a zip of .npy arrays. Samples and labels are the arrays named in the
 *       options' keys, else {@code x} and {@code y}, else {@code images} and {@code labels},
 *       else, for token data (below), every array of rank 2 or more, else the first two arrays
 *       in the file (np.savez's {@code arr_0}, {@code arr_1}); with a separate {@code labels}
 *       file, the samples are the images key, {@code x}, {@code images} or the first array.
 *   <li>A folder with one subfolder per class ({@link ImageFolderDataset}); no labels file.
 * </ul>
 * <b>Token data.</b> Samples of int64 or int32 {@code (N, L, ...)} are model inputs of their own
 * (token ids, attention masks), read as INT64 and fed in the element type each model input
 * declares ({@link InputBinding}); they are not scaled or normalised. A .npz without the keys
 * above that holds an int64/int32 array of rank 2 or more is token data: each array of rank 2 or
 * more is the input of its key (e.g. {@code input_ids} and {@code attention_mask}, which may also
 * be uint8 or bool there; one alone
 * feeds the model's data input whatever its name), and the labels are the labels key, else
 * {@code labels}, {@code y} or {@code label}, else the only 1-D array; none when there is none.
 * 8-bit data is scaled to [0, 1]; then, and for float data only when given, the options'
 * normalisation applies (per channel; the channel axis is axis 1 of 4-D data, else one channel).
 * With a seed the samples are shuffled in an order fixed by it, then the limit applies.
 */
public final class Datasets {
  private Datasets() {}

  /**
   * Opens {@code images} (and {@code labels}, which may be null where the format carries them
   * or the data is unlabelled).
   *
   * @throws DatasetException naming the file and what is wrong: unknown format, truncated or
   *     corrupt data, unsupported dtype or order, sample and label counts that differ
   * @throws IOException when a file cannot be read at all
   */
  public static Dataset open(Path images, Path labels, DatasetOptions options) throws IOException {
    Dataset d = read(images, labels, options);
    DatasetSource source = new DatasetSource(images.toAbsolutePath().toString(),
        labels == null ? null : labels.toAbsolutePath().toString(), options);
    // an image folder keeps its type (callers read its classes)
    return d instanceof ImageFolderDataset f ? f.from(source) : new SourcedDataset(d, source);
  }

  private static Dataset read(Path images, Path labels, DatasetOptions options) throws IOException {
    if (Files.isDirectory(images)) {
      if (labels != null) {
        throw new DatasetException(labels, "an image folder takes its labels from its class subfolders;"
            + " give no labels file");
      }
      return ImageFolderDataset.open(images, options);
    }
    Kind kind = kind(images);
    return switch (kind) {
      case IDX -> idx(images, labels, options);
      case NPY, NPZ -> arrays(images, kind, labels, options);
    };
  }

  private enum Kind { IDX, NPY, NPZ }

  private static Kind kind(Path file) throws IOException {
    if (!Files.exists(file)) {
      throw new DatasetException(file, "no such file or directory");
    }
    refuseNonRegular(file);
    byte[] head = new byte[6];
    int got;
    try (InputStream in = Files.newInputStream(file)) {
      got = in.readNBytes(head, 0, head.length);
    }
    if (got == 0) {
      throw new DatasetException(file, "empty file");
    }
    if (Npy.isNpy(head)) {
      return Kind.NPY;
    }
    if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
      return Kind.NPZ;
    }
    if (got >= 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b) {
      return Kind.IDX;
    }
    if (got >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 8) {
      return Kind.IDX;
    }
    throw new DatasetException(file, "not a dataset file: expected IDX (gzipped or not), .npy, .npz, or a folder"
        + " with one subfolder of images per class");
  }

  /**
   * Refuses a file that is not a regular one before opening it: a FIFO would block the open until
   * a writer comes, a device would never end.
   */
  static void refuseNonRegular(Path file) throws IOException {
    String other = dev.onnxprune.graph.AtomicFiles.notRegular(file.toRealPath());
    if (other != null) {
      throw new DatasetException(file, "is " + other + ", not a regular file; data must be a file (or, for"
          + " images, a folder of class subfolders)");
    }
  }

  private static Dataset idx(Path images, Path labels, DatasetOptions o) throws IOException {
    if (labels != null && kind(labels) != Kind.IDX) {
      throw new DatasetException(labels, "IDX images need an IDX labels file");
    }
    ArrayDataset d = IdxDataset.read(images, labels, o.normalizationOrNone(), o.seed() == null ? o.limit() : 0);
    return o.seed() == null ? d : d.shuffled(o.seed(), o.limit());
  }

  /** Samples from a .npy or .npz, labels from the same .npz or from {@code labels}. */
  private static Dataset arrays(Path images, Kind kind, Path labels, DatasetOptions o) throws IOException {
    boolean inline = kind == Kind.NPZ && (labels == null || Files.isSameFile(images, labels));
    Npz npz = kind == Kind.NPZ ? Npz.open(images) : null;
    try {
      if (npz != null && inline && o.imagesKey() == null) {
        List<String> inputs = npz.tokenInputs(o.labelsKey());
        if (inputs != null) {
          return tokens(npz, inputs, npz.tokenLabels(o.labelsKey()), o);
        }
      }
      String xKey = null;
      String yKey = null;
      if (npz != null) {
        String[] keys = inline ? npz.pair(o.imagesKey(), o.labelsKey()) : new String[] {npz.samples(o.imagesKey()), null};
        xKey = keys[0];
        yKey = keys[1];
      }
      Npy.Header xh;
      float[] x;
      int rows;
      try (DataInputStream in = npz != null ? npz.stream(xKey) : stream(images)) {
        xh = Npy.header(in, images, npz != null ? "array '" + xKey + "': " : "");
        if (xh.shape().length < 2) {
          throw xh.error("samples need a batch axis and at least one more: shape " + xh.shapeText());
        }
        rows = o.seed() == null && o.limit() > 0 ? Math.min(o.limit(), xh.rows()) : xh.rows();
        if (Npy.isInteger(xh)) {
          checkNoNormalization(xh, o);
          HostTensor ids = HostTensor.longs(Npy.readIntegers(in, xh, rows), withRows(xh.shape(), rows));
          long[] y = yKey == null ? null : readLabels(npz, yKey, images, xh, rows);
          if (yKey == null && labels != null && !inline) {
            y = labels(labels, o.labelsKey(), xh, rows);
          }
          return typed(Map.of(Batch.DATA, ids), y, o);
        }
        x = Npy.readSamples(in, xh, rows);
      }
      long[] y = null;
      if (yKey != null) {
        y = readLabels(npz, yKey, images, xh, rows);
      } else if (labels != null && !inline) {
        y = labels(labels, o.labelsKey(), xh, rows);
      }

      long[] shape = xh.shape();
      long[] sample = shape.length == 3 ? new long[] {1, shape[1], shape[2]} : java.util.Arrays.copyOfRange(shape, 1, shape.length);
      if (xh.type().equals("u1") || o.normalization() != null) {
        if (!xh.type().equals("u1")) {
          requireUnitRange(x, xh);
        }
        int channels = sample.length == 3 ? (int) sample[0] : 1;
        int plane = Math.toIntExact(xh.rowElements() / channels);
        try {
          o.normalizationOrNone().apply(x, channels, plane);
        } catch (dev.onnxprune.errors.DataMismatchException e) {
          throw xh.error(e.getMessage());
        }
      }
      ArrayDataset d = new ArrayDataset(x, sample, y);
      return o.seed() == null ? d : d.shuffled(o.seed(), o.limit());
    } finally {
      if (npz != null) {
        npz.close();
      }
    }
  }

  /**
   * Token data of a .npz: the arrays {@code inputs} (one alone under {@link Batch#DATA}) and the
   * labels array {@code yKey} (null: none).
   */
  private static Dataset tokens(Npz npz, List<String> inputs, String yKey, DatasetOptions o) throws IOException {
    Map<String, HostTensor> arrays = new LinkedHashMap<>();
    Npy.Header first = null;
    int rows = 0;
    for (String key : inputs) {
      try (DataInputStream in = npz.stream(key)) {
        Npy.Header h = Npy.header(in, npz.file, "array '" + key + "': ");
        if (first == null) {
          first = h;
          rows = o.seed() == null && o.limit() > 0 ? Math.min(o.limit(), h.rows()) : h.rows();
        } else if (h.shape()[0] != first.shape()[0]) {
          throw h.error("has " + h.shape()[0] + " samples, array '" + inputs.get(0) + "' has " + first.shape()[0]);
        }
        HostTensor t;
        if (Npy.isInteger(h) || h.type().equals("u1") || h.type().equals("b1")) {
          checkNoNormalization(h, o);
          t = HostTensor.longs(Npy.readIntegers(in, h, rows), withRows(h.shape(), rows));
        } else {
          t = HostTensor.floats(Npy.readSamples(in, h, rows), withRows(h.shape(), rows));
        }
        arrays.put(inputs.size() == 1 ? Batch.DATA : key, t);
      }
    }
    long[] y = yKey == null ? null : readLabels(npz, yKey, npz.file, first, rows);
    return typed(arrays, y, o);
  }

  private static Dataset typed(Map<String, HostTensor> arrays, long[] labels, DatasetOptions o) {
    TensorDataset d = new TensorDataset(arrays, labels);
    return o.seed() == null ? d : d.shuffled(o.seed(), o.limit());
  }

  /**
   * Refuses a normalization of float samples that are not in [0, 1]: a normalization applies to
   * pixels scaled to [0, 1], and float data outside that range is normalised already (normalising
   * twice silently wrecks accuracy: 93.9% top-1 became 30.4% on Fashion-MNIST).
   */
  private static void requireUnitRange(float[] x, Npy.Header h) throws DatasetException {
    float min = Float.POSITIVE_INFINITY;
    float max = Float.NEGATIVE_INFINITY;
    for (float v : x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    if (min < -1e-6f || max > 1 + 1e-6f) {
      throw h.error(String.format(java.util.Locale.ROOT, "the float samples range over [%.4g, %.4g], outside [0, 1]:"
          + " they look normalised already, and normalization.mean/normalization.std apply to pixels scaled to"
          + " [0, 1]; give no normalization for this file (or store raw pixels in [0, 1], or as uint8)", min, max));
    }
  }

  private static void checkNoNormalization(Npy.Header h, DatasetOptions o) throws DatasetException {
    if (o.normalization() != null) {
      throw h.error("int64/int32 arrays are model inputs as they are (token ids, masks); a normalization does not"
          + " apply to them");
    }
  }

  private static long[] withRows(long[] shape, int rows) {
    long[] s = shape.clone();
    s[0] = rows;
    return s;
  }

  private static long[] readLabels(Npz npz, String key, Path file, Npy.Header samples, int rows) throws IOException {
    try (DataInputStream in = npz.stream(key)) {
      return labels(in, file, "array '" + key + "': ", samples, rows);
    }
  }

  private static long[] labels(DataInputStream in, Path file, String where, Npy.Header samples, int rows)
      throws IOException {
    Npy.Header h = Npy.header(in, file, where);
    if (h.shape().length >= 1 && h.shape()[0] != samples.shape()[0]) {
      throw h.error("has " + h.shape()[0] + " labels for " + samples.shape()[0] + " samples in " + samples.file()
          + (samples.where().isEmpty() ? "" : " " + samples.where().replaceAll(": $", "")));
    }
    return Npy.readLabels(in, h, rows);
  }

  /** Labels from a separate file: .npy, .npz (key, 'y', 'labels' or the first array) or IDX. */
  private static long[] labels(Path file, String key, Npy.Header samples, int rows) throws IOException {
    Kind kind = kind(file);
    switch (kind) {
      case NPY -> {
        try (DataInputStream in = stream(file)) {
          return labels(in, file, "", samples, rows);
        }
      }
      case NPZ -> {
        try (Npz z = Npz.open(file)) {
          String k = z.labels(key);
          try (DataInputStream in = z.stream(k)) {
            return labels(in, file, "array '" + k + "': ", samples, rows);
          }
        }
      }
      default -> {
        long[] all = IdxDataset.readLabels(file, -1, samples.file());
        if (all.length != samples.rows()) {
          throw new DatasetException(file, "has " + all.length + " labels for " + samples.rows() + " samples in "
              + samples.file());
        }
        return java.util.Arrays.copyOf(all, rows);
      }
    }
  }

  private static DataInputStream stream(Path file) throws IOException {
    return new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16));
  }

  /** The arrays of a .npz file, by key (entry name less ".npy"), in file order. */
  private static final class Npz implements AutoCloseable {
    private final Path file;
    private final ZipFile zip;
    private final Map<String, ZipEntry> arrays = new LinkedHashMap<>();

    private Npz(Path file, ZipFile zip) {
      this.file = file;
      this.zip = zip;
    }

    static Npz open(Path file) throws IOException {
      ZipFile zip;
      try {
        zip = new ZipFile(file.toFile());
      } catch (ZipException e) {
        throw new DatasetException(file, "not a valid .npz (zip) file: " + e.getMessage(), e);
      }
      Npz z = new Npz(file, zip);
      zip.stream().filter(e -> !e.isDirectory() && e.getName().endsWith(".npy"))
          .forEach(e -> z.arrays.put(e.getName().substring(0, e.getName().length() - 4), e));
      if (z.arrays.isEmpty()) {
        zip.close();
        throw new DatasetException(file, "the .npz holds no .npy arrays");
      }
      return z;
    }

    List<String> keys() {
      return new ArrayList<>(arrays.keySet());
    }

    /**
     * For token data (no x/y or images/labels pair, and an int64/int32 array of rank 2 or more):
     * the input arrays, every array of rank 2 or more but the labels; else null.
     */
    List<String> tokenInputs(String labelsKey) throws IOException {
      if ((arrays.containsKey("x") && arrays.containsKey("y"))
          || (arrays.containsKey("images") && arrays.containsKey("labels"))) {
        return null;
      }
      List<String> inputs = new ArrayList<>();
      boolean integer = false;
      for (String key : arrays.keySet()) {
        Npy.Header h = header(key);
        if (h.shape().length >= 2 && !key.equals(labelsKey)) {
          inputs.add(key);
          integer |= Npy.isInteger(h);
        }
      }
      return integer ? inputs : null;
    }

    /** The labels of token data: the key given, else labels, y or label, else the only 1-D array, else null. */
    String tokenLabels(String labelsKey) throws IOException {
      if (labelsKey != null) {
        return require(labelsKey);
      }
      for (String k : List.of("labels", "y", "label")) {
        if (arrays.containsKey(k)) {
          return k;
        }
      }
      String only = null;
      for (String key : arrays.keySet()) {
        if (header(key).shape().length == 1) {
          if (only != null) {
            return null;
          }
          only = key;
        }
      }
      return only;
    }

    private Npy.Header header(String key) throws IOException {
      try (DataInputStream in = stream(key, false)) {
        return Npy.header(in, file, "array '" + key + "': ");
      }
    }

    /** Samples and labels keys: as given, x/y, images/labels, or the first two arrays. */
    String[] pair(String xKey, String yKey) throws DatasetException {
      if (xKey != null || yKey != null) {
        String x = xKey != null ? require(xKey) : samples(null);
        String y = yKey != null ? require(yKey) : null;
        return new String[] {x, y};
      }
      if (arrays.containsKey("x") && arrays.containsKey("y")) {
        return new String[] {"x", "y"};
      }
      if (arrays.containsKey("images") && arrays.containsKey("labels")) {
        return new String[] {"images", "labels"};
      }
      List<String> keys = keys();
      return new String[] {keys.get(0), keys.size() > 1 ? keys.get(1) : null};
    }

    String samples(String key) throws DatasetException {
      if (key != null) {
        return require(key);
      }
      return arrays.containsKey("x") ? "x" : arrays.containsKey("images") ? "images" : keys().get(0);
    }

    String labels(String key) throws DatasetException {
      if (key != null) {
        return require(key);
      }
      return arrays.containsKey("y") ? "y" : arrays.containsKey("labels") ? "labels" : keys().get(0);
    }

    private String require(String key) throws DatasetException {
      if (!arrays.containsKey(key)) {
        throw new DatasetException(file, "no array '" + key + "' in the .npz; it has " + keys());
      }
      return key;
    }

    /**
     * The array's bytes; corrupt compressed data becomes a {@link DatasetException} naming the array.
     * Closing the stream reads the entry to its end and checks it against the CRC-32 and size the
     * zip records for it (ZipFile checks neither: a stored entry's bytes come back as they are).
     */
    DataInputStream stream(String key) throws IOException {
      return stream(key, true);
    }

    /** {@link #stream(String)}; {@code verify} false for a look at the header only (no CRC-32: the rest is not read). */
    private DataInputStream stream(String key, boolean verify) throws IOException {
      ZipEntry entry = arrays.get(key);
      InputStream raw;
      try {
        raw = zip.getInputStream(entry);
      } catch (ZipException e) {
        throw corrupt(key, e);
      }
      CRC32 crc = new CRC32();
      long[] count = {0};
      InputStream checked = !verify ? raw : new FilterInputStream(new CheckedInputStream(raw, crc)) {
        @Override
        public int read() throws IOException {
          int b = super.read();
          count[0] += b < 0 ? 0 : 1;
          return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          int n = super.read(b, off, len);
          count[0] += Math.max(n, 0);
          return n;
        }

        @Override
        public long skip(long n) throws IOException {
          // read, not skipped: every byte goes through the CRC-32
          byte[] buffer = new byte[(int) Math.min(8192, Math.max(n, 0))];
          long done = 0;
          while (done < n) {
            int got = read(buffer, 0, (int) Math.min(buffer.length, n - done));
            if (got < 0) {
              break;
            }
            done += got;
          }
          return done;
        }

        @Override
        public void close() throws IOException {
          try {
            byte[] rest = new byte[8192];
            while (read(rest, 0, rest.length) >= 0) {
              // to the end of the entry, through the CRC-32
            }
            if (entry.getSize() >= 0 && count[0] != entry.getSize()) {
              throw new DatasetException(file, "array '" + key + "' has " + count[0] + " bytes, the .npz records "
                  + entry.getSize() + ": the file is corrupt");
            }
            if (entry.getCrc() >= 0 && crc.getValue() != entry.getCrc()) {
              throw new DatasetException(file, "array '" + key + "': its bytes have CRC-32 "
                  + String.format("%08x", crc.getValue()) + ", the .npz records " + String.format("%08x",
                  entry.getCrc()) + ": the file is corrupt");
            }
          } finally {
            super.close();
          }
        }
      };
      InputStream guarded = new FilterInputStream(checked) {
        @Override
        public int read() throws IOException {
          try {
            return super.read();
          } catch (ZipException e) {
            throw corrupt(key, e);
          }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          try {
            return super.read(b, off, len);
          } catch (ZipException e) {
            throw corrupt(key, e);
          }
        }

        @Override
        public long skip(long n) throws IOException {
          try {
            return super.skip(n);
          } catch (ZipException e) {
            throw corrupt(key, e);
          }
        }

        @Override
        public void close() throws IOException {
          try {
            super.close(); // reads the rest through the CRC-32 check
          } catch (ZipException e) {
            throw corrupt(key, e);
          }
        }
      };
      return new DataInputStream(new BufferedInputStream(guarded, 1 << 16));
    }

    private DatasetException corrupt(String key, ZipException e) {
      return new DatasetException(file, "array '" + key + "': corrupt zip data: " + e.getMessage(), e);
    }

    @Override
    public void close() throws IOException {
      zip.close();
    }
  }
}
