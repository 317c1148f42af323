package dev.onnxprune.graph;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;

/**
 * An external data file as a read model holds it: open for positional reads, never mapped.
 *
 * <p>A mapping's pages, once touched (scoring reads every weight), stay in the process's
 * resident memory for as long as any tensor of the model lives, next to ONNX Runtime's own copy
 * when the model is verified or timed: a 2.4 GB model stood at 2.4 GB of mapped pages plus ONNX
 * Runtime's 2.4 GB. Positional reads leave the data in the page cache (the kernel's, not this
 * process's) and put each tensor on the heap only while it is used.
 *
 * <p>The file stays open while tensors refer to it (the channel is closed when it becomes
 * unreachable), so a data file renamed or deleted after reading still gives the data that was
 * read, as a mapping did. {@link #unchangedOnDisk()} says whether the path still leads to the
 * same file, for handing ONNX Runtime the path instead of a copy.
 */
public final class ExternalDataFile {
  private final Path file;
  private final Path folder;
  private final String location;
  private final FileChannel channel;
  private final long size;
  private final Object fileKey;
  private final FileTime modified;

  private ExternalDataFile(Path file, Path folder, FileChannel channel, BasicFileAttributes attrs) {
    this.file = file;
    this.folder = folder;
    this.location = folder.relativize(file).toString().replace(java.io.File.separatorChar, '/');
    this.channel = channel;
    this.size = attrs.size();
    this.fileKey = attrs.fileKey();
    this.modified = attrs.lastModifiedTime();
  }

  /**
   * Opens {@code realFile} (a real path inside {@code realFolder}, the model's folder with links
   * followed) for reading.
   */
  static ExternalDataFile open(Path realFile, Path realFolder) throws IOException {
    FileChannel ch = FileChannel.open(realFile, StandardOpenOption.READ);
    try {
      return new ExternalDataFile(realFile, realFolder, ch, Files.readAttributes(realFile, BasicFileAttributes.class));
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /** The file's real path. */
  public Path file() {
    return file;
  }

  /** The real path of the folder the model was read from, which {@link #location()} is relative to. */
  public Path folder() {
    return folder;
  }

  /** The file's path relative to {@link #folder()}, with '/' separators, as an ONNX location. */
  public String location() {
    return location;
  }

  /** Its size when it was opened. */
  public long size() {
    return size;
  }

  /**
   * True when {@link #file()} still names the file this was opened on (same file key, size and
   * modification time): a reader opening that path gets the same bytes.
   */
  public boolean unchangedOnDisk() {
    try {
      BasicFileAttributes now = Files.readAttributes(file, BasicFileAttributes.class);
      return fileKey != null && Objects.equals(fileKey, now.fileKey()) && now.size() == size
          && now.lastModifiedTime().equals(modified) && channel.isOpen();
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Reads {@code dst.remaining()} bytes from {@code offset} into {@code dst}.
   *
   * @throws UncheckedIOException when the file cannot be read or ends early (it was truncated
   *     since the model was read); the message names the file
   */
  void read(long offset, ByteBuffer dst) {
    long at = offset;
    try {
      while (dst.hasRemaining()) {
        int n = channel.read(dst, at);
        if (n < 0) {
          throw new IOException(file + ": external data ends at byte " + at + ", " + dst.remaining()
              + " bytes short of what the model was read with (the file was truncated after reading)");
        }
        at += n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage().startsWith(file.toString()) ? e.getMessage()
          : file + ": cannot read external data at offset " + at + ": " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return file.toString();
  }
}
