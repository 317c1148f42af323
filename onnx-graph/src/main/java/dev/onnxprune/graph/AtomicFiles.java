package dev.onnxprune.graph;

import dev.onnxprune.errors.InvalidOptionException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writing a file whole or not at all: write a temporary file beside the target, then rename it
 * over the target. Unlike {@link Files#createTempFile}, which creates files readable by their
 * owner only, the temporary file gets the default permissions (those the umask allows), so the
 * file written ends up with the permissions any other new file in that folder would have.
 *
 * <p>The target is where its path really leads: a symbolic link is written through (the link
 * stays a link), and a target that exists but is not a regular file (a directory, a device such as
 * {@code /dev/null}, a FIFO, a socket) is refused, never replaced.
 *
 * <p>A temporary file is named {@code .<target name>.<pid>.<random>.tmp}: a writer killed before
 * its rename leaves it behind, and the next write of the same target removes it
 * ({@link #removeStaleTemps}).
 */
public final class AtomicFiles {
  /** A temporary file untouched for this long, whose writer is not running here, is left over from a killed one. */
  static final Duration STALE_AFTER = Duration.ofMinutes(10);

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
  public static String notRegular(Path real) throws IOException {
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

  /** Creates a new empty file {@code dir/.<name>.<pid>.<random>.tmp} with the default permissions. */
  public static Path createTemp(Path dir, String name) throws IOException {
    String prefix = "." + name + "." + ProcessHandle.current().pid() + ".";
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

  /**
   * Removes the temporary files that killed writers of {@code dir/name} left: regular files named
   * exactly as {@link #createTemp} names them for {@code name} ({@code .<name>.<pid>.<random>.tmp},
   * or {@code .<name>.<random>.tmp} as versions before the pid made them), not modified for
   * {@link #STALE_AFTER}, whose process (the pid in the name) is not running on this machine.
   * Returns how many it removed; one it cannot remove is left.
   *
   * <p>Why a concurrent writer's file is never removed under it: a live writer writes its temporary
   * file without pause until it is complete, and renames it right after (a model's temporary file is
   * created only once its external data is written), so its file is never 10 minutes old while it
   * works; and its pid names a running process. The age alone guards writers this machine cannot
   * see (another host on a shared folder, another pid namespace), the pid alone a writer stopped
   * for longer (suspended, {@code SIGSTOP}). Were both wrong, the writer's rename would fail and
   * its write report the error: its target keeps the previous file, never half of each. A pid
   * reused by a later process only delays the removal until that process ends.
   */
  public static int removeStaleTemps(Path dir, String name) {
    Pattern ours = Pattern.compile("\\." + Pattern.quote(name) + "\\.(?:([0-9]{1,19})\\.)?[0-9a-z]{1,13}\\.tmp");
    Instant staleBefore = Instant.now().minus(STALE_AFTER);
    int removed = 0;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path p : entries) {
        Matcher m = ours.matcher(p.getFileName().toString());
        if (!m.matches() || m.group(1) != null && running(Long.parseLong(m.group(1)))) {
          continue;
        }
        try {
          BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
          if (a.isRegularFile() && a.lastModifiedTime().toInstant().isBefore(staleBefore)) {
            Files.deleteIfExists(p);
            removed++;
          }
        } catch (IOException e) {
          // gone meanwhile, or not ours to remove (permissions): left
        }
      }
    } catch (IOException | RuntimeException e) {
      // an unlistable folder: the write itself will say what is wrong
    }
    return removed;
  }

  private static boolean running(long pid) {
    try {
      return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    } catch (RuntimeException e) {
      return true; // cannot tell: keep the file
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
   * disk, then a rename), removing stale temporary files of earlier killed writes first.
   *
   * @param key the option that names {@code file}, in the API's terms, for errors
   */
  public static void write(Path file, String key, byte[] bytes) throws IOException {
    Path target = target(file.toAbsolutePath(), key);
    Path dir = target.getParent();
    String name = target.getFileName().toString();
    removeStaleTemps(dir, name);
    Path tmp = createTemp(dir, name);
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
    } catch (IOException e) {
      throw cannotWrite(target, e);
    } finally {
      if (tmp != null) {
        Files.deleteIfExists(tmp);
      }
    }
  }

  /**
   * {@code e} naming the file it failed to write: the operating system's "No space left on device"
   * or "File too large" names none. An exception that names its file already is returned as it is.
   */
  static IOException cannotWrite(Path file, IOException e) {
    if (e instanceof java.nio.file.FileSystemException f && f.getFile() != null) {
      return e;
    }
    String why = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
    return new IOException(file + ": cannot write it: " + why, e);
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
