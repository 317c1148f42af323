package dev.onnxprune.runtime;

import static dev.onnxprune.runtime.NpyFiles.f4;
import static dev.onnxprune.runtime.NpyFiles.i4;
import static dev.onnxprune.runtime.NpyFiles.i8;
import static dev.onnxprune.runtime.NpyFiles.npy;
import static dev.onnxprune.runtime.NpyFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetsTest {
  private static final Normalization FMNIST = new Normalization(new float[] {0.2860f}, new float[] {0.3530f});

  @TempDir
  Path tmp;

  /** 3 samples of [2, 1, 2]: values 0..11. */
  private static final float[] X = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

  private Path images() throws IOException {
    return write(tmp.resolve("x.npy"), npy("<f4", false, new long[] {3, 2, 1, 2}, f4(X)));
  }

  private Path labels() throws IOException {
    return write(tmp.resolve("y.npy"), npy("<i8", false, new long[] {3}, i8(2, 0, 1)));
  }

  @Test
  void npyFloatSamplesAreTakenAsTheyAre() throws Exception {
    Dataset d = Datasets.open(images(), labels(), DatasetOptions.defaults());

    assertEquals(3, d.size());
    assertArrayEquals(new long[] {2, 1, 2}, d.sampleShape());
    assertEquals(3, d.numClasses());
    Batch b = all(d);
    assertArrayEquals(X, b.inputs());
    assertArrayEquals(new long[] {2, 0, 1}, b.labels());
  }

  @Test
  void npyFloatSamplesAreNormalisedPerChannelWhenAsked() throws Exception {
    float[] unit = new float[X.length];
    for (int i = 0; i < unit.length; i++) {
      unit[i] = X[i] / 16f;
    }
    Path x = write(tmp.resolve("unit.npy"), npy("<f4", false, new long[] {3, 2, 1, 2}, f4(unit)));
    Normalization n = new Normalization(new float[] {0.5f, 0.25f}, new float[] {0.5f, 0.25f});
    Batch b = all(Datasets.open(x, labels(), DatasetOptions.defaults().withNormalization(n)));

    float[] want = new float[unit.length];
    for (int i = 0; i < unit.length; i++) {
      int c = (i / 2) % 2;
      want[i] = c == 0 ? (unit[i] - 0.5f) / 0.5f : (unit[i] - 0.25f) / 0.25f;
    }
    assertArrayEquals(want, b.inputs(), 1e-6f);
  }

  @Test
  void aNormalizationOfFloatDataOutsideUnitRangeIsRefusedAsNormalisedTwice() throws Exception {
    // values 0..11 are no pixels in [0, 1]: such data was normalised already
    DatasetException e = assertThrows(DatasetException.class,
        () -> Datasets.open(images(), labels(), DatasetOptions.defaults().withNormalization(FMNIST)));
    assertTrue(e.getMessage().startsWith(tmp.resolve("x.npy") + ": the float samples range over [0.000, 11.00],"
        + " outside [0, 1]: they look normalised already"), e.getMessage());
    assertEquals(3, Datasets.open(images(), labels(), DatasetOptions.defaults()).size(), "without one it is read");
  }

  @Test
  void npyUint8IsScaledToUnitThenNormalisedAndThreeAxesGetOneChannel() throws Exception {
    Path x = write(tmp.resolve("x.npy"), npy("|u1", false, new long[] {2, 1, 2}, new byte[] {0, (byte) 255, 51, 102}));
    Path y = write(tmp.resolve("y.npy"), npy("<i4", false, new long[] {2}, i4(1, 0)));

    Dataset raw = Datasets.open(x, y, DatasetOptions.defaults());
    Dataset norm = Datasets.open(x, y, DatasetOptions.defaults().withNormalization(
        new Normalization(new float[] {0.5f}, new float[] {0.5f})));

    assertArrayEquals(new long[] {1, 1, 2}, raw.sampleShape());
    assertArrayEquals(new float[] {0, 1, 0.2f, 0.4f}, all(raw).inputs(), 1e-6f);
    assertArrayEquals(new float[] {-1, 1, -0.6f, -0.2f}, all(norm).inputs(), 1e-6f);
    assertArrayEquals(new long[] {1, 0}, all(raw).labels());
  }

  @Test
  void limitReadsTheFirstSamplesAndASeedShufflesFirst() throws Exception {
    Batch first2 = all(Datasets.open(images(), labels(), DatasetOptions.defaults().withLimit(2)));
    assertArrayEquals(Arrays.copyOf(X, 8), first2.inputs());

    Batch a = all(Datasets.open(images(), labels(), DatasetOptions.defaults().withSeed(7L)));
    Batch b = all(Datasets.open(images(), labels(), DatasetOptions.defaults().withSeed(7L)));
    assertArrayEquals(a.inputs(), b.inputs(), "same seed, same order");
    assertArrayEquals(a.labels(), b.labels());
    List<Long> labels = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      // each sample keeps its label: sample k starts with 4k, label of k is {2, 0, 1}[k]
      int k = (int) a.inputs()[4 * i] / 4;
      assertEquals(new long[] {2, 0, 1}[k], a.labels()[i]);
      labels.add(a.labels()[i]);
    }
    assertEquals(List.of(0L, 1L, 2L), labels.stream().sorted().toList());
    assertEquals(2, Datasets.open(images(), labels(), DatasetOptions.defaults().withSeed(7L).withLimit(2)).size());
  }

  @Test
  void idxOpensAsTheIdxReaderReadsItAndSeedsShuffleIt() throws Exception {
    Path xi = TestModels.file("fmnist-test-images-idx3-ubyte.gz");
    Path yi = TestModels.file("fmnist-test-labels-idx1-ubyte.gz");
    Dataset viaOpen = Datasets.open(xi, yi, DatasetOptions.defaults().withNormalization(FMNIST).withLimit(50));
    Dataset direct = IdxDataset.read(xi, yi, FMNIST, 50);

    assertArrayEquals(all(direct).inputs(), all(viaOpen).inputs());
    assertArrayEquals(all(direct).labels(), all(viaOpen).labels());
    Dataset shuffled = Datasets.open(xi, yi, DatasetOptions.defaults().withSeed(3L).withLimit(50));
    assertEquals(50, shuffled.size());
    assertTrue(!Arrays.equals(all(direct).labels(), all(shuffled).labels()));
  }

  @Test
  void npzFindsItsArraysByKeyOrConvention() throws Exception {
    byte[] x = npy("<f4", false, new long[] {3, 2, 1, 2}, f4(X));
    byte[] y = npy("<i8", false, new long[] {3}, i8(2, 0, 1));
    byte[] other = npy("<i8", false, new long[] {3}, i8(0, 0, 0));
    DatasetOptions o = DatasetOptions.defaults();

    Map<String, byte[]> xy = new LinkedHashMap<>();
    xy.put("other", other);
    xy.put("y", y);
    xy.put("x", x);
    Map<String, byte[]> named = new LinkedHashMap<>();
    named.put("labels", y);
    named.put("images", x);
    Map<String, byte[]> positional = new LinkedHashMap<>();
    positional.put("arr_0", x);
    positional.put("arr_1", y);

    for (Dataset d : List.of(
        Datasets.open(NpyFiles.npz(tmp.resolve("xy.npz"), xy, false), null, o),
        Datasets.open(NpyFiles.npz(tmp.resolve("named.npz"), named, true), null, o),
        Datasets.open(NpyFiles.npz(tmp.resolve("pos.npz"), positional, true), null, o),
        Datasets.open(tmp.resolve("xy.npz"), null, o.withKeys("x", "y")),
        Datasets.open(tmp.resolve("named.npz"), labels(), o))) {
      Batch b = all(d);
      assertArrayEquals(X, b.inputs());
      assertArrayEquals(new long[] {2, 0, 1}, b.labels());
    }
    Batch keyed = all(Datasets.open(tmp.resolve("xy.npz"), null, o.withKeys("x", "other")));
    assertArrayEquals(new long[] {0, 0, 0}, keyed.labels());

    DatasetException missing = assertThrows(DatasetException.class,
        () -> Datasets.open(tmp.resolve("xy.npz"), null, o.withKeys("images", null)));
    assertEquals(tmp.resolve("xy.npz") + ": no array 'images' in the .npz; it has [other, y, x]", missing.getMessage());
  }

  @Test
  void npzOfTokenArraysFeedsEachArrayByItsKeyAsInt64() throws Exception {
    Map<String, byte[]> arrays = new LinkedHashMap<>();
    arrays.put("input_ids", npy("<i8", false, new long[] {3, 4}, i8(5, 6, 7, 0, 8, 9, 0, 0, 1, 2, 3, 4)));
    arrays.put("attention_mask", npy("|b1", false, new long[] {3, 4},
        new byte[] {1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1}));
    arrays.put("labels", npy("<i4", false, new long[] {3}, i4(2, 0, 1)));
    Path npz = NpyFiles.npz(tmp.resolve("tokens.npz"), arrays, true);

    Dataset d = Datasets.open(npz, null, DatasetOptions.defaults());
    assertEquals(3, d.size());
    assertArrayEquals(new long[] {4}, d.sampleShape());
    assertEquals(3, d.numClasses());
    Batch b = all(d);
    assertEquals(List.of("input_ids", "attention_mask"), List.copyOf(b.features().keySet()));
    assertEquals("input_ids INT64[3, 4], attention_mask INT64[3, 4]", b.describe());
    assertArrayEquals(new long[] {5, 6, 7, 0, 8, 9, 0, 0, 1, 2, 3, 4}, b.features().get("input_ids").longs());
    assertArrayEquals(new long[] {1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1}, b.features().get("attention_mask").longs());
    assertArrayEquals(new long[] {2, 0, 1}, b.labels());
    IllegalStateException notImages = assertThrows(IllegalStateException.class, b::inputs);
    assertEquals("this needs one float input (images); the data holds input_ids INT64[3, 4], attention_mask"
        + " INT64[3, 4]", notImages.getMessage());

    Iterator<Batch> two = Datasets.open(npz, null, DatasetOptions.defaults().withLimit(2)).batches(1);
    two.next();
    assertArrayEquals(new long[] {8, 9, 0, 0}, two.next().features().get("input_ids").longs());
    Batch shuffled = all(Datasets.open(npz, null, DatasetOptions.defaults().withSeed(7L)));
    for (int i = 0; i < 3; i++) {
      // each sample keeps its mask and label: the label is fixed by the first token
      long first = shuffled.features().get("input_ids").longs()[4 * i];
      assertEquals(first == 5 ? 2 : first == 8 ? 0 : 1, shuffled.labels()[i]);
    }
    DatasetException normalised = assertThrows(DatasetException.class, () -> Datasets.open(npz, null,
        DatasetOptions.defaults().withNormalization(FMNIST)));
    assertEquals(npz + ": array 'input_ids': int64/int32 arrays are model inputs as they are (token ids, masks);"
        + " a normalization does not apply to them", normalised.getMessage());
  }

  @Test
  void npyOfInt32TokenIdsFeedsTheDataInput() throws Exception {
    Path x = write(tmp.resolve("ids.npy"), npy("<i4", false, new long[] {2, 3}, i4(1, 2, 3, 4, 5, 6)));
    Path y = write(tmp.resolve("y.npy"), npy("<i8", false, new long[] {2}, i8(1, 0)));
    Batch b = all(Datasets.open(x, y, DatasetOptions.defaults()));
    assertEquals(List.of(Batch.DATA), List.copyOf(b.features().keySet()));
    assertArrayEquals(new long[] {1, 2, 3, 4, 5, 6}, b.features().get(Batch.DATA).longs());
    assertArrayEquals(new long[] {2, 3}, b.shape());
    assertArrayEquals(new long[] {1, 0}, b.labels());
  }

  @Test
  void badNpyFilesAreNamedWithWhatIsWrong() throws Exception {
    Path y = labels();
    assertError("x.npy: the array is in Fortran order; save a C-order copy (np.save(path, np.ascontiguousarray(x)))",
        npy("<f4", true, new long[] {3, 2, 1, 2}, f4(X)), y);
    assertError("x.npy: the array is big-endian ('>f4'); save it little-endian (x.astype('<f4'))",
        npy(">f4", false, new long[] {3, 2, 1, 2}, f4(X)), y);
    assertError("x.npy: samples must be float32 or uint8, not '<f8' (convert with x.astype(np.float32))",
        npy("<f8", false, new long[] {3, 2, 1, 2}, new byte[96]), y);
    assertError("x.npy: truncated: the header says shape (3, 2, 1, 2) '<f4', and the data ends before that",
        drop(8, npy("<f4", false, new long[] {3, 2, 1, 2}, f4(X))), y);
    assertError("x.npy: more data than the header's shape (3, 2, 1, 2) '<f4' holds",
        npy("<f4", false, new long[] {3, 2, 1, 2}, f4(Arrays.copyOf(X, 13))), y);
    assertError("x.npy: truncated .npy header", Arrays.copyOf(npy("<f4", false, new long[] {3}, f4(1, 2, 3)), 20), y);
    assertError("x.npy: samples need a batch axis and at least one more: shape (12,)",
        npy("<f4", false, new long[] {12}, f4(X)), y);
    assertError("x.npy: not a plain array (.npy header {'descr': [('a', '<f4')], 'fortran_order': False,"
        + " 'shape': (3,), }; structured and object arrays are not supported)",
        npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", f4(1, 2, 3)), y);
  }

  @Test
  void badLabelsAreNamedWithWhatIsWrong() throws Exception {
    Path x = images();
    assertLabelError("y.npy: has 2 labels for 3 samples in " + x, npy("<i8", false, new long[] {2}, i8(0, 1)), x);
    assertLabelError("y.npy: labels must be int64 or int32 (or uint8), not '<f4' (convert with y.astype(np.int64))",
        npy("<f4", false, new long[] {3}, f4(0, 1, 2)), x);
    assertLabelError("y.npy: labels must have shape (N,) or (N, 1), not (3, 2)",
        npy("<i8", false, new long[] {3, 2}, i8(0, 1, 2, 3, 4, 5)), x);
    assertLabelError("y.npy: label -1 at index 1 is negative", npy("<i8", false, new long[] {3}, i8(0, -1, 2)), x);
  }

  @Test
  void otherFilesAreRefusedByContent() throws Exception {
    Path text = write(tmp.resolve("notes.npy"), "hello".getBytes());
    Path empty = write(tmp.resolve("empty.npy"), new byte[0]);
    Path zip = write(tmp.resolve("broken.npz"), new byte[] {'P', 'K', 3, 4, 0, 0, 0});

    DatasetException e1 = assertThrows(DatasetException.class, () -> Datasets.open(text, null, DatasetOptions.defaults()));
    assertEquals(text + ": not a dataset file: expected IDX (gzipped or not), .npy, .npz, or a folder with one"
        + " subfolder of images per class", e1.getMessage());
    DatasetException e2 = assertThrows(DatasetException.class, () -> Datasets.open(empty, null, DatasetOptions.defaults()));
    assertEquals(empty + ": empty file", e2.getMessage());
    DatasetException e3 = assertThrows(DatasetException.class, () -> Datasets.open(zip, null, DatasetOptions.defaults()));
    assertTrue(e3.getMessage().startsWith(zip + ": not a valid .npz (zip) file: "), e3.getMessage());
    DatasetException e4 = assertThrows(DatasetException.class,
        () -> Datasets.open(tmp.resolve("nope.npy"), null, DatasetOptions.defaults()));
    assertEquals(tmp.resolve("nope.npy") + ": no such file or directory", e4.getMessage());
  }

  @Test
  void corruptCompressedNpzArrayIsNamed() throws Exception {
    float[] big = new float[4096];
    for (int i = 0; i < big.length; i++) {
      big[i] = i % 97;
    }
    Map<String, byte[]> arrays = new LinkedHashMap<>();
    arrays.put("x", npy("<f4", false, new long[] {16, 256}, f4(big)));
    arrays.put("y", npy("<i8", false, new long[] {16}, i8(new long[16])));
    Path npz = NpyFiles.npz(tmp.resolve("c.npz"), arrays, true);
    byte[] bytes = Files.readAllBytes(npz);
    for (int i = 60; i < 90; i++) {
      bytes[i] ^= 0x5a; // inside the deflated data of x.npy
    }
    Files.write(npz, bytes);

    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(npz, null, DatasetOptions.defaults()));
    assertTrue(e.getMessage().startsWith(npz + ": array 'x': "), e.getMessage());
  }

  @Test
  void corruptIdxFilesAreNamed() throws Exception {
    byte[] gz = Files.readAllBytes(TestModels.file("fmnist-test-images-idx3-ubyte.gz"));
    Path truncated = write(tmp.resolve("t-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
    Path labels = TestModels.file("fmnist-test-labels-idx1-ubyte.gz");

    DatasetException e = assertThrows(DatasetException.class,
        () -> Datasets.open(truncated, labels, DatasetOptions.defaults()));
    assertTrue(e.getMessage().startsWith(truncated + ": truncated: 2000 images of 28x28 need 1568000 bytes"),
        e.getMessage());

    Path fewLabels = write(tmp.resolve("l-idx1-ubyte"), new byte[] {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3});
    DatasetException few = assertThrows(DatasetException.class,
        () -> Datasets.open(TestModels.file("fmnist-test-images-idx3-ubyte.gz"), fewLabels, DatasetOptions.defaults()));
    assertEquals(fewLabels + ": has 3 labels for the 2000 images in " + TestModels.file("fmnist-test-images-idx3-ubyte.gz")
        + "; a label file belongs to the image file with as many images", few.getMessage());

    // the training labels (1000 here) given with the test images (2000): refused, also with a limit
    Path calibLabels = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz");
    Path testImages = TestModels.file("fmnist-test-images-idx3-ubyte.gz");
    Path calibImages = TestModels.file("fmnist-calib-images-idx3-ubyte.gz");
    Path testLabels = TestModels.file("fmnist-test-labels-idx1-ubyte.gz");
    DatasetException more = assertThrows(DatasetException.class,
        () -> Datasets.open(calibImages, testLabels, DatasetOptions.defaults().withLimit(10)));
    assertTrue(more.getMessage().startsWith(testLabels + ": has 2000 labels for the 1000 images in "), more.getMessage());
    assertThrows(DatasetException.class, () -> Datasets.open(testImages, calibLabels, DatasetOptions.defaults()));
  }

  private void assertError(String expected, byte[] imageFile, Path labels) throws IOException {
    Path x = write(tmp.resolve("x.npy"), imageFile);
    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(x, labels, DatasetOptions.defaults()));
    assertEquals(tmp.resolve(expected).toString(), e.getMessage());
  }

  private void assertLabelError(String expected, byte[] labelFile, Path images) throws IOException {
    Path y = write(tmp.resolve("y.npy"), labelFile);
    DatasetException e = assertThrows(DatasetException.class, () -> Datasets.open(images, y, DatasetOptions.defaults()));
    assertEquals(tmp.resolve(expected).toString(), e.getMessage());
  }

  private static byte[] drop(int n, byte[] b) {
    return Arrays.copyOf(b, b.length - n);
  }

  /** Every sample in one batch. */
  static Batch all(Dataset d) {
    Iterator<Batch> it = d.batches(Math.max(1, d.size()));
    return it.next();
  }
}
