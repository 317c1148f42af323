package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {
  @TempDir
  Path tmp;

  /** A w x h image: gray level {@code v}, or colour (r, g, b) = (v, 2v, 3v) mod 256. */
  private Path image(String cls, String name, int w, int h, int v, boolean gray, String format) throws IOException {
    BufferedImage img = new BufferedImage(w, h, gray ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        if (gray) {
          img.getRaster().setSample(x, y, 0, v);
        } else {
          img.setRGB(x, y, (v % 256) << 16 | (2 * v % 256) << 8 | (3 * v % 256));
        }
      }
    }
    Path dir = Files.createDirectories(tmp.resolve("data").resolve(cls));
    Path file = dir.resolve(name);
    ImageIO.write(img, format, file.toFile());
    return file;
  }

  @Test
  void sortedSubfoldersAreTheClassesAndGrayPixelsAreExact() throws Exception {
    image("b-shirt", "1.png", 4, 4, 51, true, "png");
    image("a-boot", "2.png", 4, 4, 255, true, "png");
    image("a-boot", "1.png", 4, 4, 0, true, "png");
    Files.writeString(tmp.resolve("data/a-boot/README.txt"), "not an image");

    ImageFolderDataset d = (ImageFolderDataset) Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults());

    assertEquals(List.of("a-boot", "b-shirt"), d.classes());
    assertEquals(3, d.size());
    assertEquals(2, d.numClasses());
    assertArrayEquals(new long[] {1, 4, 4}, d.sampleShape());
    Batch b = d.batches(8).next();
    assertArrayEquals(new long[] {0, 0, 1}, b.labels());
    assertEquals(0f, b.inputs()[0]);
    assertEquals(1f, b.inputs()[16]);
    assertEquals(0.2f, b.inputs()[32], 1e-6f);
  }

  @Test
  void rgbGivesThreePlanesNormalisedPerChannel() throws Exception {
    image("c", "1.png", 2, 2, 51, false, "png");
    Normalization n = new Normalization(new float[] {0, 0.5f, 1}, new float[] {1, 0.5f, 0.25f});

    Dataset d = Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults().withNormalization(n));

    assertArrayEquals(new long[] {3, 2, 2}, d.sampleShape());
    float[] x = d.batches(1).next().inputs();
    assertEquals(0.2f, x[0], 1e-6f);
    assertEquals((0.4f - 0.5f) / 0.5f, x[4], 1e-6f);
    assertEquals((0.6f - 1f) / 0.25f, x[8], 1e-6f);
  }

  @Test
  void shorterSideIsResizedThenCentreCroppedAndChannelsCanBeForced() throws Exception {
    image("a", "wide.png", 40, 20, 128, true, "png");
    image("b", "tall.jpg", 10, 30, 90, false, "jpg");

    Dataset d = Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults().withSize(8, 10).withChannels(3));

    assertArrayEquals(new long[] {3, 8, 8}, d.sampleShape());
    Batch b = d.batches(2).next();
    assertArrayEquals(new long[] {2, 3, 8, 8}, b.shape());
    // a flat image stays flat through resize and crop; gray is copied to the three planes
    for (int i = 0; i < 3 * 64; i++) {
      assertEquals(128 / 255f, b.inputs()[i], 1e-5f);
    }
    Dataset gray = Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults().withSize(8, 0).withChannels(1));
    float luma = (0.299f * 90 + 0.587f * 180 + 0.114f * 14) / 255f; // 3 * 90 = 270 wraps to 14
    assertEquals(luma, gray.batches(2).next().inputs()[64 + 27], 0.03f, "JPEG is lossy");
  }

  @Test
  void resampleAveragesWhenShrinkingAndCropIsCentred() {
    // halving: a triangle filter twice as wide (as PIL's bilinear), weights 3/4, 3/4, 1/4 at the edges
    float[] row = {0, 0, 1, 1};
    assertArrayEquals(new float[] {1 / 7f, 6 / 7f}, ImageFolderDataset.resample(row, 1, 1, 4, 1, 2), 1e-6f);
    // doubling interpolates between neighbours
    assertArrayEquals(new float[] {0, 0.25f, 0.75f, 1}, ImageFolderDataset.resample(new float[] {0, 1}, 1, 1, 2, 1, 4),
        1e-6f);
    float[] img = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assertArrayEquals(new float[] {5, 6, 9, 10}, ImageFolderDataset.crop(img, 1, 4, 4, 2, 2));
  }

  @Test
  void badFoldersAndFilesAreNamed() throws Exception {
    Files.createDirectories(tmp.resolve("empty"));
    DatasetException none = assertThrows(DatasetException.class,
        () -> Datasets.open(tmp.resolve("empty"), null, DatasetOptions.defaults()));
    assertEquals(tmp.resolve("empty") + ": no class subfolders (an image folder has one subfolder of images per class)",
        none.getMessage());

    image("a", "1.png", 4, 4, 1, true, "png");
    image("a", "2.png", 5, 4, 1, true, "png");
    Path broken = tmp.resolve("data/a/3.png");
    Files.write(broken, new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
    DatasetException labels = assertThrows(DatasetException.class,
        () -> Datasets.open(tmp.resolve("data"), tmp.resolve("y.npy"), DatasetOptions.defaults()));
    assertTrue(labels.getMessage().endsWith("an image folder takes its labels from its class subfolders;"
        + " give no labels file"), labels.getMessage());

    Dataset d = Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults());
    UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> d.batches(1).forEachRemaining(b -> {}));
    assertTrue(e.getCause() instanceof DatasetException, e.toString());
    String msg = e.getCause().getMessage();
    assertTrue(msg.equals(tmp.resolve("data/a/2.png") + ": is 5x4, the first image 4x4; give a size to resize and crop"
        + " them all"), msg);

    Dataset sized = Datasets.open(tmp.resolve("data"), null, DatasetOptions.defaults().withSize(4, 0));
    UncheckedIOException bad = assertThrows(UncheckedIOException.class,
        () -> sized.batches(1).forEachRemaining(b -> {}));
    assertTrue(bad.getCause().getMessage().startsWith(broken + ": "), bad.getCause().getMessage());
  }
}
