package dev.onnxprune.graph;

import dev.onnxprune.errors.InvalidOptionException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The files a job reads and the files it writes, checked before it starts: an output must not be
 * a file the job reads, nor another output, nor something other than a regular file. Each file is
 * named by the option that gives it (a key in the API's terms: {@code "model"}, {@code "output"},
 * {@code "report"}, ...), so that the error can say which two options collide.
 *
 * <pre>{@code
 * new OutputPaths().inputModel("model", in).modelOutput("output", out).output("report", report).check();
 * }</pre>
 *
 * <p>Files are compared by their real paths ({@link AtomicFiles#realPath}): {@code a/../m.onnx},
 * a link to {@code m.onnx} and {@code m.onnx} are one file, also when it does not exist yet. A model counts
 * with the external data files it refers to: an output that is the data of the input model would
 * destroy the input as surely as one that is the model. A model output counts with the data files
 * of the model it replaces that the writer removes after writing ({@link OnnxModels#write}).
 *
 * <p>One overlap is allowed: a model output may be the input model itself (an in-place rewrite).
 * The model is read before the output is written, and the output replaces it atomically.
 */
public final class OutputPaths {
  /** A file named by an option, with the external data files that go with it. */
  private record Named(String key, Path given, Path real, boolean model, List<Path> data, boolean folder) {}

  private final List<Named> inputs = new ArrayList<>();
  private final List<Named> outputs = new ArrayList<>();

  /** The model a job reads; a model output may be this very file (rewritten in place). Null is ignored. */
  public OutputPaths inputModel(String key, Path file) {
    if (file != null) {
      inputs.add(named(key, file, true, ProtoReader.externalDataFiles(file)));
    }
    return this;
  }

  /** A file (or folder) a job reads; no output may be it. Null is ignored. */
  public OutputPaths input(String key, Path file) {
    if (file != null) {
      inputs.add(named(key, file, false, List.of()));
    }
    return this;
  }

  /**
   * A model a job writes with {@link OnnxModels#write}, data files named as by
   * {@link WriteOptions#defaults()}. Null is ignored.
   */
  public OutputPaths modelOutput(String key, Path file) {
    if (file != null) {
      List<Path> replaced = ProtoWriter.removableDataFiles(file.toAbsolutePath(), WriteOptions.defaults());
      outputs.add(named(key, file, true, replaced));
    }
    return this;
  }

  /** Any other file a job writes (a report). Null is ignored. */
  public OutputPaths output(String key, Path file) {
    if (file != null) {
      outputs.add(named(key, file, false, List.of()));
    }
    return this;
  }

  /**
   * One output that is {@code files}: a file alone when {@code files} holds {@code root}, else a
   * folder {@code root} that the job writes them into (a report folder). Each file is checked like
   * {@link #output}; a folder must not be a file another option names (it may exist as a folder).
   * Null {@code root} is ignored.
   */
  public OutputPaths outputs(String key, Path root, java.util.Collection<Path> files) {
    if (root == null) {
      return this;
    }
    if (!files.contains(root)) {
      outputs.add(new Named(key, root, AtomicFiles.realPath(root), false, List.of(), true));
    }
    files.forEach(f -> output(key, f));
    return this;
  }

  private static Named named(String key, Path file, boolean model, List<Path> data) {
    List<Path> realData = data.stream().map(AtomicFiles::realPath).toList();
    return new Named(key, file, AtomicFiles.realPath(file), model, realData, false);
  }

  /**
   * Checks every input, then every output against the inputs and the outputs given before it.
   *
   * @throws InvalidOptionException an input that exists and is neither a regular file nor (except a
   *     model) a folder: reading a FIFO waits for a writer forever, a device never ends; an output
   *     that exists and is not a regular file (a directory, a device, a FIFO)
   * @throws SameFileException an output that is an input, an input's external data file, or another
   *     output; the message names both options and both paths
   */
  public void check() {
    for (Named in : inputs) {
      String kind = kind(in);
      if (kind != null && !(kind.equals("a directory") && !in.model())) {
        throw new InvalidOptionException(in.key(), in.given().toString(),
            "must be a regular file" + (in.model() ? "" : " or a folder") + ", not " + kind);
      }
    }
    for (int i = 0; i < outputs.size(); i++) {
      Named out = outputs.get(i);
      String kind = out.folder() ? (java.nio.file.Files.isRegularFile(out.real()) ? "a regular file" : null)
          : kind(out);
      if (kind != null && out.folder()) {
        throw new InvalidOptionException(out.key(), out.given().toString(), "must be a folder or a new one, not "
            + kind);
      }
      if (kind != null) {
        throw new InvalidOptionException(out.key(), out.given().toString(),
            "must be a regular file or a new one, not " + kind);
      }
      for (Named in : inputs) {
        if (!(out.model() && in.model() && out.real().equals(in.real()))) {
          refuseOverlap(out, in);
        }
      }
      for (Named earlier : outputs.subList(0, i)) {
        refuseOverlap(out, earlier);
      }
    }
  }

  /** What the file is when it exists and is not a regular file ({@link AtomicFiles#notRegular}), else null. */
  private static String kind(Named file) {
    try {
      return AtomicFiles.notRegular(file.real());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Throws when {@code a} (an output) and {@code b} share a file. */
  private static void refuseOverlap(Named a, Named b) {
    if (a.real().equals(b.real())) {
      throw new SameFileException(a, "must not be the same file as", b);
    }
    if (b.data().contains(a.real())) {
      throw new SameFileException(a, "must not be the external data file of", b);
    }
    for (Path d : a.data()) {
      if (d.equals(b.real())) {
        throw new SameFileException(a, "must not be a model that keeps its external data in", b);
      }
      if (b.data().contains(d)) {
        throw new SameFileException(a, "must not share its external data file " + d.getFileName() + " with", b);
      }
    }
  }

  /**
   * An output names a file that an input or another output names too (itself or as external data).
   * {@link #key()} is the output refused, {@link #otherKey()} the option it collides with; an
   * adapter names both in its own words with {@link #messageFor(String, String)}.
   */
  public static final class SameFileException extends InvalidOptionException {
    private final String relation;
    private final String otherKey;
    private final Path otherPath;

    private SameFileException(Named refused, String relation, Named other) {
      super(refused.key(), refused.given().toString(), relation + " " + other.key() + " (" + other.given() + ")");
      this.relation = relation;
      this.otherKey = other.key();
      this.otherPath = other.given();
    }

    /** The key of the option the refused output collides with. */
    public String otherKey() {
      return otherKey;
    }

    /** The path that option gives. */
    public Path otherPath() {
      return otherPath;
    }

    /** The message with both options named as an adapter names them. */
    public String messageFor(String name, String otherName) {
      return name + " " + relation + " " + otherName + " (" + otherPath + "): " + value();
    }

    @Override
    public String messageFor(java.util.function.UnaryOperator<String> names) {
      return messageFor(names.apply(key()), names.apply(otherKey));
    }
  }
}
