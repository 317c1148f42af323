package dev.onnxprune.runtime;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * A folder with one subfolder per class: the subfolder names, sorted, are the classes (class id
 * = position), and the PNG and JPEG files in each (sorted by name; other files are skipped) are
 * its samples. Images are decoded on demand, batch by batch, through {@code javax.imageio}.
 *
 * <p>Each image becomes {@code [C, S, S]}: C is 1 for grayscale and 3 for colour (or as forced
 * by the options; colour to gray uses the luma weights 0.299, 0.587, 0.114, alpha is dropped);
 * its shorter side is resized to {@code resize} (default: {@code size}) with an antialiasing
 * triangle filter, then the centre {@code size x size} is cropped. Without a size every image
 * must have the size of the first. Pixels are scaled to [0, 1], then normalised.
 */
public final class ImageFolderDataset implements Dataset {
  private DatasetSource source;
  private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg");

  private final Path root;
  private final List<String> classes;
  private final List<Path> files;
  private final long[] labels;
  private final int channels;
  private final int height;
  private final int width;
  private final int resize;
  private final Normalization norm;

  private ImageFolderDataset(Path root, List<String> classes, List<Path> files, long[] labels, int channels,
      int height, int width, int resize, Normalization norm) {
    this.root = root;
    this.classes = classes;
    this.files = files;
    this.labels = labels;
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.resize = resize;
    this.norm = norm;
  }

  /**
   * Lists the folder and decodes the first image (for the sample shape).
   *
   * @throws DatasetException when the folder has no class subfolders or no images, the first
   *     image cannot be decoded, or the normalisation does not fit the channel count
   */
  public static ImageFolderDataset open(Path root, DatasetOptions o) throws IOException {
    List<String> classes;
    try (Stream<Path> s = Files.list(root)) {
      classes = s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("."))
          .sorted().toList();
    }
    if (classes.isEmpty()) {
      throw new DatasetException(root, "no class subfolders (an image folder has one subfolder of images per class)");
    }
    List<Path> files = new ArrayList<>();
    List<Long> labels = new ArrayList<>();
    for (int c = 0; c < classes.size(); c++) {
      List<Path> images;
      try (Stream<Path> s = Files.list(root.resolve(classes.get(c)))) {
        images = s.filter(Files::isRegularFile).filter(ImageFolderDataset::isImage).sorted().toList();
      }
      for (Path p : images) {
        files.add(p);
        labels.add((long) c);
      }
    }
    if (files.isEmpty()) {
      throw new DatasetException(root, "no PNG or JPEG files in its " + classes.size() + " class subfolders");
    }
    List<Integer> order = new ArrayList<>(IntStream.range(0, files.size()).boxed().toList());
    if (o.seed() != null) {
      Collections.shuffle(order, new Random(o.seed()));
    }
    int n = o.limit() > 0 ? Math.min(o.limit(), files.size()) : files.size();
    List<Path> chosen = new ArrayList<>(n);
    long[] y = new long[n];
    for (int i = 0; i < n; i++) {
      chosen.add(files.get(order.get(i)));
      y[i] = labels.get(order.get(i));
    }

    Path first = chosen.get(0);
    BufferedImage img = decode(first);
    int channels = o.channels() != 0 ? o.channels() : isGray(img) ? 1 : 3;
    int h = o.size() > 0 ? o.size() : img.getHeight();
    int w = o.size() > 0 ? o.size() : img.getWidth();
    Normalization norm = o.normalizationOrNone();
    try {
      norm.apply(new float[channels], channels, 1);
    } catch (dev.onnxprune.errors.DataMismatchException e) {
      throw new DatasetException(root, e.getMessage());
    }
    int resize = o.size() == 0 ? 0 : o.resize() > 0 ? o.resize() : o.size();
    return new ImageFolderDataset(root, classes, List.copyOf(chosen), y, channels, h, w, resize, norm);
  }

  private static boolean isImage(Path p) {
    String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
    return !name.startsWith(".") && EXTENSIONS.stream().anyMatch(name::endsWith);
  }

  /** Records the files this dataset was opened from ({@link Datasets#open}). */
  ImageFolderDataset from(DatasetSource s) {
    this.source = s;
    return this;
  }

  @Override
  public DatasetSource source() {
    return source;
  }

  /** The class names, in class-id order. */
  public List<String> classes() {
    return classes;
  }

  /** The image files, in sample order. */
  public List<Path> files() {
    return files;
  }

  @Override
  public int size() {
    return files.size();
  }

  @Override
  public long[] sampleShape() {
    return new long[] {channels, height, width};
  }

  @Override
  public int numClasses() {
    return classes.size();
  }

  /**
   * Batches decoded in parallel. A file that cannot be decoded, or (without a size) has another
   * size than the first, throws an {@link UncheckedIOException} around a {@link DatasetException}.
   */
  @Override
  public Iterator<Batch> batches(int batchSize) {
    if (batchSize <= 0) {
      throw new IllegalArgumentException("batch size must be > 0: " + batchSize);
    }
    int per = channels * height * width;
    return new Iterator<>() {
      private int next;

      @Override
      public boolean hasNext() {
        return next < files.size();
      }

      @Override
      public Batch next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        int from = next;
        int n = Math.min(batchSize, files.size() - from);
        float[] x = new float[n * per];
        IntStream.range(0, n).parallel().forEach(i -> {
          try {
            float[] s = sample(files.get(from + i));
            System.arraycopy(s, 0, x, i * per, per);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
        next += n;
        return new Batch(x, new long[] {n, channels, height, width},
            java.util.Arrays.copyOfRange(labels, from, from + n));
      }
    };
  }

  /** One image as {@code [C, H, W]}, scaled, resized, cropped and normalised. */
  float[] sample(Path file) throws IOException {
    BufferedImage img = decode(file);
    int h = img.getHeight();
    int w = img.getWidth();
    float[] px = pixels(img, channels);
    if (resize > 0) {
      int nh;
      int nw;
      if (h <= w) {
        nh = resize;
        nw = (int) ((long) resize * w / h);
      } else {
        nw = resize;
        nh = (int) ((long) resize * h / w);
      }
      if (nh != h || nw != w) {
        px = resample(px, channels, h, w, nh, nw);
        h = nh;
        w = nw;
      }
      px = crop(px, channels, h, w, height, width);
    } else if (h != height || w != width) {
      throw new DatasetException(file, "is " + w + "x" + h + ", the first image " + width + "x" + height
          + "; give a size to resize and crop them all");
    }
    norm.apply(px, channels, height * width);
    return px;
  }

  private static BufferedImage decode(Path file) throws IOException {
    BufferedImage img;
    try {
      img = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) {
      throw new DatasetException(file, "cannot decode the image: " + e.getMessage(), e);
    }
    if (img == null) {
      throw new DatasetException(file, "not a PNG or JPEG image that javax.imageio can decode");
    }
    return img;
  }

  private static boolean isGray(BufferedImage img) {
    return img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
  }

  /** Planar {@code [C, H, W]} values in [0, 1]. Gray samples are read from the raster (no colour conversion). */
  private static float[] pixels(BufferedImage img, int channels) {
    int h = img.getHeight();
    int w = img.getWidth();
    int plane = h * w;
    float[] out = new float[channels * plane];
    if (isGray(img)) {
      Raster r = img.getRaster();
      float max = (1 << r.getSampleModel().getSampleSize(0)) - 1;
      int[] row = new int[w];
      for (int y = 0; y < h; y++) {
        r.getSamples(0, y, w, 1, 0, row);
        for (int x = 0; x < w; x++) {
          float v = row[x] / max;
          for (int c = 0; c < channels; c++) {
            out[c * plane + y * w + x] = v;
          }
        }
      }
      return out;
    }
    int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
    for (int i = 0; i < plane; i++) {
      float r = (argb[i] >> 16 & 0xff) / 255f;
      float g = (argb[i] >> 8 & 0xff) / 255f;
      float b = (argb[i] & 0xff) / 255f;
      if (channels == 3) {
        out[i] = r;
        out[plane + i] = g;
        out[2 * plane + i] = b;
      } else {
        out[i] = 0.299f * r + 0.587f * g + 0.114f * b;
      }
    }
    return out;
  }

  /** Separable resampling with a triangle filter widened by the scale when shrinking (antialiasing). */
  static float[] resample(float[] src, int channels, int h, int w, int nh, int nw) {
    float[] tmp = new float[channels * h * nw];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < h; y++) {
        resample1d(src, c * h * w + y * w, 1, w, tmp, c * h * nw + y * nw, 1, nw);
      }
    }
    float[] out = new float[channels * nh * nw];
    for (int c = 0; c < channels; c++) {
      for (int x = 0; x < nw; x++) {
        resample1d(tmp, c * h * nw + x, nw, h, out, c * nh * nw + x, nw, nh);
      }
    }
    return out;
  }

  private static void resample1d(float[] src, int sOff, int sStride, int n, float[] dst, int dOff, int dStride,
      int m) {
    double scale = (double) n / m;
    double support = Math.max(1.0, scale);
    for (int i = 0; i < m; i++) {
      double center = (i + 0.5) * scale;
      int lo = Math.max(0, (int) Math.floor(center - support));
      int hi = Math.min(n, (int) Math.ceil(center + support));
      double sum = 0;
      double wsum = 0;
      for (int j = lo; j < hi; j++) {
        double wt = 1 - Math.abs((j + 0.5 - center) / support);
        if (wt > 0) {
          sum += wt * src[sOff + j * sStride];
          wsum += wt;
        }
      }
      dst[dOff + i * dStride] = (float) (wsum > 0 ? sum / wsum : src[sOff + Math.min(n - 1, (int) center) * sStride]);
    }
  }

  /** The centre {@code ch x cw} of a {@code [C, h, w]} image (offsets rounded as torchvision's CenterCrop). */
  static float[] crop(float[] src, int channels, int h, int w, int ch, int cw) {
    int top = (int) Math.round((h - ch) / 2.0);
    int left = (int) Math.round((w - cw) / 2.0);
    float[] out = new float[channels * ch * cw];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < ch; y++) {
        System.arraycopy(src, c * h * w + (top + y) * w + left, out, c * ch * cw + y * cw, cw);
      }
    }
    return out;
  }

  @Override
  public String toString() {
    return root + " (" + files.size() + " images, " + classes.size() + " classes)";
  }
}
