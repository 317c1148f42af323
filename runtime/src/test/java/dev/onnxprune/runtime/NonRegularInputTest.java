package dev.onnxprune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.onnxprune.testmodels.TestModels;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16, point 10: data read from a FIFO waited for a writer forever (and a device would never
 * end). Datasets refuse a file that is not a regular one before opening it.
 */
class NonRegularInputTest {
  @TempDir
  Path dir;

  private Path fifo(String name) throws Exception {
    Path f = dir.resolve(name);
    Assumptions.assumeTrue(new ProcessBuilder("mkfifo", f.toString()).start().waitFor() == 0, "mkfifo");
    return f;
  }

  @Test
  void aFifoIsRefusedAsImagesOrLabelsWithoutWaiting() throws Exception {
    Path fifo = fifo("images.gz");
    Path labels = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz");
    Path images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz");
    String why = " is a FIFO (named pipe), not a regular file; data must be a file (or, for images, a folder of class"
        + " subfolders)";
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      DatasetException e = assertThrows(DatasetException.class,
          () -> Datasets.open(fifo, labels, DatasetOptions.defaults()));
      assertEquals(fifo + ":" + why, e.getMessage());
      e = assertThrows(DatasetException.class, () -> Datasets.open(images, fifo, DatasetOptions.defaults()));
      assertEquals(fifo + ":" + why, e.getMessage());
      e = assertThrows(DatasetException.class, () -> IdxDataset.read(fifo, null, null, 0));
      assertEquals(fifo + ":" + why, e.getMessage());
    });
  }
}
