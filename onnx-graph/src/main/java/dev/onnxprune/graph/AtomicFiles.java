package dev.onnxprune.graph;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writing a file whole or not at all: write a temporary file beside the target, then rename it
 * over the target. Unlike {@link Files#createTempFile}, which creates files readable by their
 * owner only, the temporary file gets the default permissions (those the umask allows), so the
 * file written ends up with the permissions any other new file in that folder would have.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Creates a new empty file {@code dir/prefix<random>.tmp} with the default permissions. */
  public static Path createTemp(Path dir, String prefix) throws IOException {
    for (int attempt = 0; ; attempt++) {
      Path p = dir.resolve(prefix + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
      try {
        return Files.createFile(p);
      } catch (FileAlreadyExistsException e) {
        if (attempt > 100) {
          throw e;
        }
      }
    }
  }

  /** Renames {@code from} over {@code to}, atomically where the file system can. */
  public static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /**
   * Forces {@code dir}'s entries (the renames into it) to the disk, where the platform can; a crash
   * of the machine after a write then finds the renamed files. A kill of the process needs no
   * forcing: a rename is in the file system once it returns.
   */
  static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | RuntimeException e) {
      // a platform that cannot open a folder (Windows): the renames stay atomic, only not forced
    }
  }
}
