package dev.onnxprune.graph;

import dev.onnxprune.errors.InvalidOptionException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writing a file whole or not at all: write a temporary file beside the target, then rename it
 * over the target. Unlike {@link Files#createTempFile}, which creates files readable by their
 * owner only, the temporary file gets the default permissions (those the umask allows), so the
 * file written ends up with the permissions any other new file in that folder would have.
 *
 * <p>The target is where its path really leads: a symbolic link is written through (the link
 * stays a link), and a target that exists but is not a regular file (a directory, a device such as
 * {@code /dev/null}, a FIFO, a socket) is refused, never replaced.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /**
   * The file to write when asked to write {@code file}: its real path, through symbolic links
   * (also a link whose target does not exist yet) and linked folders.
   *
   * @param key the option that names {@code file}, in the API's terms, for the error
   * @throws InvalidOptionException when {@code file} exists and is not a regular file
   */
  public static Path target(Path file, String key) throws IOException {
    Path real = realPath(file);
    String kind = notRegular(real);
    if (kind != null) {
      throw new InvalidOptionException(key, file.toString(), "must be a regular file or a new one, not " + kind);
    }
    return real;
  }

  /**
   * The path {@code file} really has, or would have once created: absolute, with every symbolic
   * link resolved (its own, also one whose target does not exist yet, and its folders'), and
   * {@code .} and {@code ..} taken as the file system takes them. Two paths name one file when
   * their real paths are equal.
   */
  public static Path realPath(Path file) {
    return realPath(file.toAbsolutePath(), 0);
  }

  private static Path realPath(Path p, int links) {
    try {
      return p.toRealPath();
    } catch (IOException e) {
      // it does not exist (yet): resolve what does, then add the rest
    }
    Path parent = p.getParent();
    if (parent == null) {
      return p;
    }
    String name = p.getFileName().toString();
    if (name.equals(".")) {
      return realPath(parent, links);
    }
    if (name.equals("..")) {
      Path up = realPath(parent, links).getParent();
      return up != null ? up : p.getRoot();
    }
    if (links < 40 && Files.isSymbolicLink(p)) {
      try {
        return realPath(parent.resolve(Files.readSymbolicLink(p)), links + 1);
      } catch (IOException e) {
        // unreadable link: taken as it is named
      }
    }
    return realPath(parent, links).resolve(name);
  }

  /**
   * What {@code real} (a path without links) is when it exists and is not a regular file, in words
   * ("a directory", "a character device", "a FIFO (named pipe)"); null when it is a regular file or
   * does not exist.
   */
  static String notRegular(Path real) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(real, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
    if (a.isRegularFile()) {
      return null;
    }
    if (a.isDirectory()) {
      return "a directory";
    }
    if (a.isSymbolicLink()) {
      return "a symbolic link that leads nowhere (a loop)";
    }
    try {
      int mode = (Integer) Files.getAttribute(real, "unix:mode", LinkOption.NOFOLLOW_LINKS);
      switch (mode & 0170000) {
        case 0020000:
          return "a character device";
        case 0060000:
          return "a block device";
        case 0010000:
          return "a FIFO (named pipe)";
        case 0140000:
          return "a socket";
        default:
          break;
      }
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      // no unix view (Windows): the generic words below
    }
    return "a device, pipe or socket (not a regular file)";
  }

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
   * Writes {@code bytes} to {@code file} atomically ({@link #target}, a temporary file forced to the
   * disk, then a rename).
   *
   * @param key the option that names {@code file}, in the API's terms, for errors
   */
  public static void write(Path file, String key, byte[] bytes) throws IOException {
    Path target = target(file.toAbsolutePath(), key);
    Path dir = target.getParent();
    String name = target.getFileName().toString();
    Path tmp = createTemp(dir, "." + name + ".");
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
          ch.write(b);
        }
        ch.force(false);
      }
      move(tmp, target);
      tmp = null;
      syncDirectory(dir);
    } finally {
      if (tmp != null) {
        Files.deleteIfExists(tmp);
      }
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
