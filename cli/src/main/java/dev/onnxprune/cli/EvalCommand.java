package dev.onnxprune.cli;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.exec.ExecutionBackend;
import dev.onnxprune.exec.Passes;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
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
import picocli.CommandLine.ArgGroup;
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
    customSynopsis = "onnx-prune eval MODEL --images PATH [--labels PATH] [OPTIONS]",
    parameterListHeading = "%nInput and output:%n",
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


  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx classifier to evaluate.")
  Path model;

  @Option(names = "--json", description = "Print the result as one JSON document (fields below).")
  boolean json;

  @Mixin
  QuietOption quiet;

  @Mixin
  SparkOptions spark = new SparkOptions();

  @Mixin
  CommonOptions common;

  @ArgGroup(validate = false, heading = "%nData:%n", order = 1)
  EvalData data = new EvalData();

  /** The labelled data and how it is read; an option section, defaults as field initialisers. */
  static final class EvalData {
    @ArgGroup(validate = false)
    DataOptions files = new DataOptions();

    @Option(names = "--limit", paramLabel = "N", order = 10,
        description = "Evaluate at most N samples (default ${DEFAULT-VALUE}: all); with --seed, N shuffled ones.")
    int limit = 0;

    @Option(names = "--seed", paramLabel = "S", order = 11,
        description = "Shuffle the samples in the order this seed fixes (default: file order).")
    Long seed;

    @Option(names = "--batch", paramLabel = "N", order = 12,
        description = "Samples per run (default ${DEFAULT-VALUE}).")
    int batch = 256;
  }

  @ArgGroup(validate = false, heading = "%nRuntime:%n", order = 2)
  RuntimeOptions runtime = new RuntimeOptions();

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
      Path images = this.data.files.images;
      Dataset data = Datasets.open(images, this.data.files.labels, options);
      if (data.numClasses() == 0) {
        throw new CommandFailure(Messages.noLabels(images));
      }
      int batch = this.data.batch;
      Evaluation e;
      String provider;
      if (spark.master != null) {
        try (ExecutionBackend backend = spark.backend()) {
          Model m = OnnxModels.read(model);
          e = Passes.evaluate(backend, sessions, m, data, batch);
          provider = backend.describe();
        } catch (IllegalArgumentException | DataMismatchException ex) {
          throw new CommandFailure(Messages.dataDoesNotFit(model, ex.getMessage()));
        }
      } else try (Runner runner = Runner.open(sessions, model)) {
        provider = runner.provider();
        try (Progress progress = Progress.start(data.size(), batch, quiet.on)) {
          e = new Evaluator(runner).evaluate(data, batch, progress);
        } catch (IllegalArgumentException | DataMismatchException ex) {
          // the data does not fit the model: shapes, names, or labels outside its classes
          throw new CommandFailure(Messages.dataDoesNotFit(model, ex.getMessage()));
        }
      } catch (OrtException ex) {
        throw new CommandFailure(ex.getMessage());
      }
      Path labels = this.data.files.labels;
      Report r = new Report(FORMAT, model.toString(), images.toString(), labels == null ? null : labels.toString(),
          provider, batch, e.samples(), e.top1(), e.top5(), e.loss(), e.seconds(), e.imagesPerSecond());
      if (json) {
        Json.print(common.out(), r);
      } else {
        print(r, data, common.out());
      }
      return ExitCodes.OK;
    });
  }

  private DatasetOptions options() throws UsageFailure {
    EvalData d = data;
    if (d.batch <= 0) {
      throw new UsageFailure("--batch must be > 0: " + d.batch);
    }
    DatasetOptions read = d.files.options("eval");
    return UsageFailure.check("--limit", () -> read.withLimit(d.limit)).withSeed(d.seed);
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
