package dev.onnxprune.cli;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.IntConsumer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune eval MODEL --images X [--labels Y] ...}: top-1, top-5 and mean cross-entropy
 * of a classifier over a labelled dataset, through {@link Datasets} and {@link Evaluator}.
 */
@Command(name = "eval",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
        "Runs a classifier over labelled data in ONNX Runtime and prints top-1 and top-5 accuracy, the mean"
            + " cross-entropy (softmax of the first output, unless the model already ends in Softmax or LogSoftmax)"
            + " and the throughput.",
        "Data (the format is told from the file's content): IDX images and labels (MNIST, Fashion-MNIST; gzipped or"
            + " not); a .npy of samples (float32 or uint8, N,C,H,W or N,H,W) with a .npy of labels (int64/int32);"
            + " a .npz holding both (keys from --npz-keys, else x,y, else images,labels, else its first two"
            + " arrays); or a folder with one subfolder of PNG/JPEG images per class (sorted names are class ids).",
        "8-bit pixels are scaled to [0, 1], then normalised by --mean/--std when given; float arrays are used as"
            + " they are unless --mean/--std are given."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json):%n",
    footer = {
        "  format             \"" + EvalCommand.FORMAT + "\"",
        "  model, images, labels, provider (\"CPU\" or \"CUDA\"), batch",
        "  samples, top1, top5 (fractions), loss (mean cross-entropy, nats)",
        "  seconds, imagesPerSecond (data reading and decoding included)"})
public final class EvalCommand implements Callable<Integer> {
  /** Version tag of the --json layout. */
  static final String FORMAT = "onnx-prune.eval/1";

  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx classifier to evaluate.")
  Path model;

  @Option(names = "--images", required = true, paramLabel = "PATH",
      description = "Samples: an IDX, .npy or .npz file, or a folder of class subfolders.")
  Path images;

  @Option(names = "--labels", paramLabel = "PATH",
      description = "Labels: an IDX, .npy or .npz file (not with a .npz that holds them or an image folder).")
  Path labels;

  @Option(names = "--mean", split = ",", paramLabel = "M",
      description = "Per-channel means subtracted after scaling to [0, 1], e.g. 0.2860 or 0.485,0.456,0.406.")
  float[] mean;

  @Option(names = "--std", split = ",", paramLabel = "S",
      description = "Per-channel standard deviations divided by, e.g. 0.3530 or 0.229,0.224,0.225.")
  float[] std;

  @Option(names = "--batch", paramLabel = "N", defaultValue = "256",
      description = "Samples per run (default ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--limit", paramLabel = "N", defaultValue = "0",
      description = "Evaluate at most N samples (default ${DEFAULT-VALUE}: all); with --seed, N shuffled ones.")
  int limit;

  @Option(names = "--seed", paramLabel = "S",
      description = "Shuffle the samples in the order this seed fixes (default: file order).")
  Long seed;

  @Option(names = "--size", paramLabel = "S", defaultValue = "0",
      description = "Image folders: centre-crop to S x S after resizing (default: the images' own size).")
  int size;

  @Option(names = "--resize", paramLabel = "R", defaultValue = "0",
      description = "Image folders: resize the shorter side to R before the crop (default: --size).")
  int resize;

  @Option(names = "--channels", paramLabel = "C", defaultValue = "0",
      description = "Image folders: 1 (grayscale) or 3 (RGB) (default: as the first image is).")
  int channels;

  @Option(names = "--npz-keys", split = ",", paramLabel = "X,Y",
      description = "The .npz arrays of the samples and the labels.")
  String[] npzKeys;

  @Mixin
  RuntimeOptions runtime;

  @Option(names = "--json", description = "Print the result as one JSON document.")
  boolean json;

  @Option(names = {"-q", "--quiet"}, description = "No progress bar (there is none when stderr is not a terminal).")
  boolean quiet;

  /** What --json prints. */
  @JsonPropertyOrder({"format", "model", "images", "labels", "provider", "batch", "samples", "top1", "top5", "loss",
      "seconds", "imagesPerSecond"})
  record Report(String format, String model, String images, String labels, String provider, int batch, int samples,
      double top1, double top5, double loss, double seconds, double imagesPerSecond) {}

  @Override
  public Integer call() {
    return common.run(() -> {
      DatasetOptions options = options();
      Sessions sessions = runtime.sessions();
      Dataset data = Datasets.open(images, labels, options);
      if (data.numClasses() == 0) {
        throw new CommandFailure(Messages.noLabels(images));
      }
      Evaluation e;
      String provider;
      try (Runner runner = Runner.open(sessions, model)) {
        provider = runner.provider();
        try (Progress progress = Progress.start(data.size(), batch, quiet)) {
          e = new Evaluator(runner).evaluate(data, batch, progress);
        } catch (IllegalArgumentException | DataMismatchException ex) {
          // the data does not fit the model: shapes, names, or labels outside its classes
          throw new CommandFailure(Messages.dataDoesNotFit(model, ex.getMessage()));
        }
      } catch (OrtException ex) {
        throw new CommandFailure(ex.getMessage());
      }
      Report r = new Report(FORMAT, model.toString(), images.toString(), labels == null ? null : labels.toString(),
          provider, batch, e.samples(), e.top1(), e.top5(), e.loss(), e.seconds(), e.imagesPerSecond());
      if (json) {
        common.out().println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(r));
      } else {
        print(r, data, common.out());
      }
      return ExitCodes.OK;
    });
  }

  private DatasetOptions options() throws UsageFailure {
    if (batch <= 0) {
      throw new UsageFailure("--batch must be > 0: " + batch);
    }
    Normalization norm = MeanStd.normalization(mean, std);
    if (npzKeys != null && npzKeys.length != 2) {
      throw new UsageFailure("--npz-keys needs two names, samples and labels, e.g. x,y: " + String.join(",", npzKeys));
    }
    if (resize < 0) {
      throw new UsageFailure("--resize must be >= 0: " + resize);
    }
    // each check names the option its value came from
    DatasetOptions limited = UsageFailure.check("--limit", () -> DatasetOptions.defaults().withLimit(limit));
    DatasetOptions sized = UsageFailure.check("--size", () -> limited.withSize(size, resize));
    DatasetOptions o = UsageFailure.check("--channels", () -> sized.withChannels(channels));
    return o.withNormalization(norm).withSeed(seed)
        .withKeys(npzKeys == null ? null : npzKeys[0], npzKeys == null ? null : npzKeys[1]);
  }

  private static void print(Report r, Dataset data, PrintWriter out) {
    TextTable t = new TextTable("", TextTable.Align.LEFT, TextTable.Align.LEFT)
        .row("model", r.model() + " (" + r.provider() + ")")
        .row("data", r.images() + ": " + Units.grouped(r.samples()) + " samples " + Arrays.toString(data.sampleShape())
            + ", " + data.numClasses() + " classes")
        .row("top-1", percent(r.top1()))
        .row("top-5", percent(r.top5()))
        .row("loss", String.format(Locale.ROOT, "%.4f", r.loss()))
        .row("time", String.format(Locale.ROOT, "%.2f s (%s images/s, batch %d)", r.seconds(),
            Units.grouped(Math.round(r.imagesPerSecond())), r.batch()));
    t.print(out);
  }

  private static String percent(double fraction) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * fraction);
  }

  /** A progress bar on stderr when it is a terminal, more than one batch is to run, and not --quiet. */
  private static final class Progress implements IntConsumer, AutoCloseable {
    private final ProgressBar bar;

    private Progress(ProgressBar bar) {
      this.bar = bar;
    }

    static Progress start(int samples, int batch, boolean quiet) {
      // System.console() is null unless the JVM runs on a terminal (and so in tests and pipes)
      if (quiet || System.console() == null || samples <= batch) {
        return new Progress(null);
      }
      return new Progress(new ProgressBarBuilder().setTaskName("eval").setInitialMax(samples)
          .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(200).setUnit(" img", 1)
          .showSpeed().clearDisplayOnFinish().build());
    }

    @Override
    public void accept(int done) {
      if (bar != null) {
        bar.stepTo(done);
      }
    }

    @Override
    public void close() {
      if (bar != null) {
        bar.close();
      }
    }
  }
}
