package dev.onnxprune.cli;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.onnxprune.cli.TextTable.Align;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OutputPaths;
import dev.onnxprune.prune.SparseGpt;
import dev.onnxprune.surgery.MagnitudeMasking;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune mask MODEL -o OUT (--sparsity S [--global] | --nm N:M) [--wanda | --method sparsegpt]
 * [--images ...] [--json]}: unstructured magnitude masking through {@link MagnitudeMasking}, Wanda's
 * through {@link dev.onnxprune.criteria.WandaMasking}, or SparseGPT's through {@link SparseGpt}; the
 * graph keeps its shapes, the zeros are in the weights.
 */
@Command(name = "mask",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
        "Zeroes the weights of smallest magnitude in the Conv, ConvTranspose, Gemm and MatMul weights (unstructured"
            + " sparsity; shapes do not change) and prints, per weight, how many of its elements are zero.",
        "--sparsity S zeroes that fraction of every weight (or, with --global, of all weights under one magnitude"
            + " threshold). --nm N:M keeps the N largest of every M consecutive weights along the input axis (2:4 is"
            + " what sparse tensor cores run); weights whose input axis is not a multiple of M stay dense, with a"
            + " note.",
        "--method sparsegpt (Frantar & Alistarh 2023) chooses the mask and updates the weights that stay so that"
            + " each layer reproduces its output on --calib-limit unlabelled --images (no training); each layer's note"
            + " gives its output error against magnitude masking's."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json):%n",
    footer = {
        "  format             \"" + MaskCommand.FORMAT + "\"",
        "  input, output, mode (\"per-layer S\", \"global S\" or \"N:M\")",
        "  layers[]           {weight, node, elements, zeros, sparsity, note}",
        "  elements, zeros, sparsity   totals over the masked weights"})
public final class MaskCommand implements Callable<Integer> {
  /** Version tag of the --json layout. */
  static final String FORMAT = "onnx-prune.mask/1";

  private static final Pattern NM = Pattern.compile("(\\d{1,9}):(\\d{1,9})");

  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to mask.")
  Path model;

  @Mixin
  ModelOutputOptions output;

  @ArgGroup(exclusive = true, multiplicity = "1", heading = "How much (exactly one of):%n")
  Mode mode;

  /** Magnitude sparsity, or N:M; picocli allows exactly one. */
  static final class Mode {
    @ArgGroup(exclusive = false, multiplicity = "1")
    Magnitude magnitude;

    @Option(names = "--nm", required = true, paramLabel = "N:M",
        description = "Keep the N largest of every M consecutive input weights, e.g. 2:4.")
    String nm;
  }

  /** --sparsity with its optional --global. */
  static final class Magnitude {
    @Option(names = "--sparsity", required = true, paramLabel = "S",
        description = "Fraction of weights to zero, in (0, 1).")
    double sparsity;

    @Option(names = "--global", description = "One magnitude threshold over all weights (layers differ).")
    boolean global;
  }

  @Option(names = "--wanda",
      description = "Score each weight by Wanda's |weight| x the norm of its input feature over the calibration data"
          + " (--images; Sun et al. 2023) instead of its magnitude, compared within each output row (a Conv's"
          + " inputs as im2col columns). Gemm, MatMul and Conv weights; not with --global.")
  boolean wanda;

  @Option(names = "--json", description = "Print the per-layer table and totals as one JSON document.")
  boolean json;

  @Option(names = "--method", paramLabel = "NAME",
      description = "magnitude (default; with --wanda, Wanda's scores) or sparsegpt (OBS weight updates from each"
          + " layer's input on --images; Conv with group 1, Gemm and MatMul, other weights stay dense).")
  String method = "magnitude";

  @ArgGroup(validate = false, heading = "%nCalibration data (--wanda, --method sparsegpt; no labels needed):%n",
      order = 1)
  DataOptions data = new DataOptions();

  @ArgGroup(validate = false, heading = "%nRuntime (--wanda, --method sparsegpt):%n", order = 3)
  RuntimeOptions runtime = new RuntimeOptions();

  @Option(names = "--calib-limit", paramLabel = "N", order = 2,
      description = "The first N samples of --images only (0: all; default: all for --wanda, 1024 for --method"
          + " sparsegpt).")
  Integer calibLimit;

  /** What --json prints. */
  @JsonPropertyOrder({"format", "input", "output", "mode", "layers", "elements", "zeros", "sparsity"})
  record Report(String format, String input, String output, String mode, List<Layer> layers, long elements,
      long zeros, double sparsity) {}

  /** One masked weight. */
  @JsonPropertyOrder({"weight", "node", "elements", "zeros", "sparsity", "note"})
  record Layer(String weight, String node, long elements, long zeros, double sparsity, String note) {}

  @Override
  public Integer call() {
    if ("sparsegpt".equalsIgnoreCase(method)) {
      return common.run(this::sparseGpt);
    }
    if (!"magnitude".equalsIgnoreCase(method)) {
      return common.run(() -> {
        throw new UsageFailure("--method must be magnitude or sparsegpt: '" + method + "'");
      });
    }
    return common.run(() -> {
      MagnitudeMasking pass = configure();
      if (wanda && mode.nm == null && mode.magnitude.global) {
        throw new UsageFailure("--wanda compares weights within each output row; it takes no --global");
      }
      new OutputPaths().inputModel("model", model).modelOutput("output", output.file).check();
      Model m = OnnxModels.read(model);
      ModelChecker.requireValid(m); // a pass needs a valid graph
      MagnitudeMasking.Result r;
      if (wanda) {
        var calib = data.open("--wanda", null, calibLimit == null ? 0 : calibLimit);
        var o = new dev.onnxprune.criteria.DataCriteria.Options();
        var masked = mode.nm == null
            ? dev.onnxprune.criteria.WandaMasking.unstructured(m, calib, runtime.sessions(), o, mode.magnitude.sparsity)
            : dev.onnxprune.criteria.WandaMasking.nm(m, calib, runtime.sessions(), o, nmPart(1), nmPart(2));
        m = masked.model();
        r = masked.result();
      } else {
        r = (MagnitudeMasking.Result) dev.onnxprune.graph.pass.PassManager.run(m, pass);
      }
      ModelFiles.write(m, output.file, output.externalData);

      List<Layer> layers = new ArrayList<>();
      for (MagnitudeMasking.Layer l : r.layers()) {
        layers.add(new Layer(l.weight(), l.node(), l.elements(), l.zeros(), l.sparsity(), l.note()));
      }
      Report report = new Report(FORMAT, model.toString(), output.file.toString(), modeText(), layers, r.elements(),
          r.zeros(), r.sparsity());
      if (json) {
        Json.print(common.out(), report);
      } else {
        print(report, common.out());
      }
      return ExitCodes.OK;
    });
  }

  /** --method sparsegpt: the same report, each layer's note its output error against magnitude masking's. */
  private int sparseGpt() throws Exception {
    SparseGpt sg;
    if (mode.nm == null) {
      if (mode.magnitude.global) {
        throw new UsageFailure("--global applies to --method magnitude only");
      }
      sg = UsageFailure.check("--sparsity", () -> SparseGpt.unstructured(mode.magnitude.sparsity));
    } else {
      Matcher nm = NM.matcher(mode.nm.strip());
      if (!nm.matches()) {
        throw new UsageFailure(Messages.badNm(mode.nm));
      }
      sg = UsageFailure.check("--nm", () -> SparseGpt.nm(Integer.parseInt(nm.group(1)), Integer.parseInt(nm.group(2))));
    }
    if (wanda) {
      throw new UsageFailure("--wanda scores magnitudes; it cannot go with --method sparsegpt");
    }
    int samples = calibLimit == null ? 1024 : calibLimit;
    if (samples < 0) {
      throw new UsageFailure("--calib-limit must be >= 0: " + samples);
    }
    new OutputPaths().inputModel("model", model).modelOutput("output", output.file).check();
    Model m = OnnxModels.read(model);
    ModelChecker.requireValid(m);
    dev.onnxprune.runtime.Dataset calib = data.open("--method sparsegpt", null, samples);
    SparseGpt.Result r = sg.run(m, calib, 64, samples, runtime.sessions(), null);
    ModelFiles.write(r.model(), output.file, output.externalData);
    List<Layer> layers = new ArrayList<>();
    for (SparseGpt.Layer l : r.layers()) {
      String note = l.note().isEmpty() ? String.format(Locale.ROOT, "output error %.4f (magnitude %.4f)", l.error(),
          l.magnitudeError()) : l.note();
      layers.add(new Layer(l.weight(), l.node(), l.elements(), l.zeros(), l.elements() == 0 ? 0
          : (double) l.zeros() / l.elements(), note));
    }
    Report report = new Report(FORMAT, model.toString(), output.file.toString(), "sparsegpt " + modeText(), layers,
        r.elements(), r.zeros(), r.sparsity());
    if (json) {
      Json.print(common.out(), report);
    } else {
      print(report, common.out());
      common.out().printf(Locale.ROOT, "sparsegpt on %d samples in %.1f s%n", r.samples(), r.seconds());
    }
    return ExitCodes.OK;
  }

  private MagnitudeMasking configure() throws UsageFailure {
    if (mode.nm == null) {
      return UsageFailure.check("--sparsity",
          () -> MagnitudeMasking.magnitude(mode.magnitude.sparsity, mode.magnitude.global));
    }
    Matcher nm = NM.matcher(mode.nm.strip());
    if (!nm.matches()) {
      throw new UsageFailure(Messages.badNm(mode.nm));
    }
    int n = Integer.parseInt(nm.group(1));
    int m = Integer.parseInt(nm.group(2));
    return UsageFailure.check("--nm", () -> MagnitudeMasking.nm(n, m));
  }

  private int nmPart(int i) {
    Matcher nm = NM.matcher(mode.nm.strip());
    nm.matches(); // checked by configure()
    return Integer.parseInt(nm.group(i));
  }

  private String modeText() {
    String by = wanda ? "wanda " : "";
    if (mode.nm != null) {
      return by + mode.nm.strip();
    }
    return by + (mode.magnitude.global ? "global " : "per-layer ") + mode.magnitude.sparsity;
  }

  private static void print(Report r, PrintWriter out) {
    TextTable t = new TextTable("  ", Align.LEFT, Align.LEFT, Align.RIGHT, Align.RIGHT, Align.RIGHT, Align.LEFT)
        .row("weight", "node", "elements", "zeros", "sparsity", "note");
    for (Layer l : r.layers()) {
      t.row(l.weight(), l.node(), Units.grouped(l.elements()), Units.grouped(l.zeros()), percent(l.sparsity()),
          l.note());
    }
    out.println("masked weights (" + r.mode() + ")");
    t.print(out);
    out.println();
    out.println("total sparsity " + percent(r.sparsity()) + ": " + Units.grouped(r.zeros()) + " of "
        + Units.grouped(r.elements()) + " weights are zero");
    long dense = r.layers().stream().filter(l -> l.note().startsWith("dense")).count();
    if (dense > 0) {
      out.println(dense + " weight(s) left dense (see their notes)");
    }
    out.println("wrote " + r.output());
  }

  private static String percent(double fraction) {
    return String.format(Locale.ROOT, "%.1f%%", 100 * fraction);
  }
}
