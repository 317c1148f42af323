package dev.onnxprune.surgery;

import dev.onnxprune.graph.pass.GraphPass;
import dev.onnxprune.graph.pass.PassResult;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * Folds inference-mode BatchNormalization into the Conv, ConvTranspose or Gemm that feeds it:
 * with {@code s = gamma / sqrt(var + eps)}, the producer's weights are scaled by {@code s} per
 * output channel and its bias becomes {@code (b - mean) * s + beta}. Arithmetic is in double,
 * so outputs equal the unfolded model's within float rounding.
 *
 * <p>A BatchNormalization is left alone, with the reason returned, when its input has
 * no such producer, the producer's output has other users or is a graph output, a parameter is
 * not constant, or its training-mode outputs are used.
 */
public final class BatchNormFolding implements GraphPass {
  /** What the pass did. */
  public record Result(int folded, List<String> skipped) implements PassResult {
    @Override
    public boolean changed() {
      return folded > 0;
    }

    @Override
    public String summary() {
      return "folded " + folded + " BatchNormalization node(s)" + (skipped.isEmpty() ? ""
          : ", " + skipped.size() + " left");
    }
  }

  private final String docString;

  /** Folds every BatchNormalization it can. */
  public BatchNormFolding() {
    this(null);
  }

  private BatchNormFolding(String docString) {
    this.docString = docString;
  }

  /**
   * Folds only the BatchNormalizations whose doc string is {@code docString} (those a tool inserted
   * and wants gone again); the others are neither folded nor listed as skipped.
   */
  public static BatchNormFolding marked(String docString) {
    return new BatchNormFolding(java.util.Objects.requireNonNull(docString, "docString"));
  }

  @Override
  public String name() {
    return "bn-folding";
  }

  /** Folds every BatchNormalization it can (or every marked one) in the main graph of {@code model}. */
  @Override
  public Result run(Model model) {
    Graph g = model.graph();
    int folded = 0;
    List<String> skipped = new ArrayList<>();
    for (Node bn : new ArrayList<>(g.nodes())) {
      if (!bn.is("BatchNormalization") || docString != null && !docString.equals(bn.docString())) {
        continue;
      }
      String why = fold(g, bn);
      if (why == null) {
        folded++;
      } else {
        skipped.add(bn.describe() + " left as is: " + why);
      }
    }
    if (folded > 0) {
      g.removeDeadCode();
    }
    return new Result(folded, skipped);
  }

  /** Folds one BatchNormalization; returns why not, or null when folded. */
  private static String fold(Graph g, Node bn) {
    Value x = bn.input(0);
    Node p = x.producer();
    if (p == null || p.graph() != g || !(p.is("Conv") || p.is("ConvTranspose") || p.is("Gemm"))) {
      return "its input is not produced by a Conv, ConvTranspose or Gemm";
    }
    if (x.uses().size() != 1 || x.isGraphOutput()) {
      return "the output of " + p.describe() + " has other users";
    }
    for (int o = 1; o < bn.outputCount(); o++) {
      if (bn.output(o) != null && (!bn.output(o).uses().isEmpty() || bn.output(o).isGraphOutput())) {
        return "its training-mode outputs are used";
      }
    }
    if (bn.attrLong("training_mode", 0) != 0) {
      return "it runs in training mode";
    }
    Tensor[] params = new Tensor[4];
    for (int i = 0; i < 4; i++) {
      params[i] = Analyzer.constant(bn.input(i + 1));
      if (params[i] == null) {
        return "parameter " + (i + 1) + " is not a constant";
      }
    }
    Tensor w = Analyzer.constant(p.input(1));
    if (w == null) {
      return "the weight of " + p.describe() + " is not a constant";
    }
    Tensor bias = p.input(2) == null ? null : Analyzer.constant(p.input(2));
    if (p.input(2) != null && bias == null) {
      return "the bias of " + p.describe() + " is not a constant";
    }
    double eps = bn.attrFloat("epsilon", 1e-5f);
    double[] gamma = params[0].toDoubleArray();
    double[] beta = params[1].toDoubleArray();
    double[] mean = params[2].toDoubleArray();
    double[] var = params[3].toDoubleArray();
    int c = gamma.length;
    double[] scale = new double[c];
    for (int i = 0; i < c; i++) {
      scale[i] = gamma[i] / Math.sqrt(var[i] + eps);
    }
    long[] wd = w.dims();
    int outAxis;
    int groups = 1;
    if (p.is("Conv")) {
      outAxis = 0;
    } else if (p.is("ConvTranspose")) {
      outAxis = 1;
      groups = (int) p.attrLong("group", 1);
    } else {
      if (p.attrLong("transA", 0) != 0 || w.rank() != 2) {
        return "only Gemm with transA=0 is folded";
      }
      outAxis = p.attrLong("transB", 0) != 0 ? 0 : 1;
      if (bias != null && !(bias.rank() == 1 || (bias.rank() == 2 && bias.dim(0) == 1))) {
        return "the Gemm bias is not per feature";
      }
      if (p.attrFloat("beta", 1f) != 1f) {
        return "the Gemm has beta != 1";
      }
    }
    if (wd[outAxis] * groups != c || (bias != null && bias.elementCount() != c)) {
      return "channel counts differ between " + p.describe() + " and the BatchNormalization";
    }
    double[] wv = w.toDoubleArray();
    long outer = 1;
    for (int d = 0; d < outAxis; d++) {
      outer *= wd[d];
    }
    long inner = 1;
    for (int d = outAxis + 1; d < wd.length; d++) {
      inner *= wd[d];
    }
    long per = wd[outAxis];
    float[] nw = new float[wv.length];
    for (long o = 0; o < outer; o++) {
      // ConvTranspose with groups: weight [Cin, Cout/g, ...]; Cin is split into g blocks.
      long group = groups == 1 ? 0 : o / (wd[0] / groups);
      for (long k = 0; k < per; k++) {
        double s = scale[(int) (group * per + k)];
        for (long r = 0; r < inner; r++) {
          int idx = (int) ((o * per + k) * inner + r);
          nw[idx] = (float) (wv[idx] * s);
        }
      }
    }
    double[] b = bias == null ? new double[c] : bias.toDoubleArray();
    float[] nb = new float[c];
    for (int i = 0; i < c; i++) {
      nb[i] = (float) ((b[i] - mean[i]) * scale[i] + beta[i]);
    }
    Value newW = g.addInitializer(g.uniqueName(p.input(1).name()), Tensor.ofFloats(wd, nw));
    Value newB = g.addInitializer(g.uniqueName(p.input(2) == null ? p.output(0).name() + "_bias" : p.input(2).name()),
        Tensor.ofFloats(new long[] {c}, nb));
    p.replaceInput(1, newW);
    if (p.input(2) == null) {
      while (p.inputCount() < 2) {
        p.addInput(null);
      }
      if (p.inputCount() == 2) {
        p.addInput(newB);
      } else {
        p.replaceInput(2, newB);
      }
    } else {
      p.replaceInput(2, newB);
    }
    Value y = bn.output(0);
    String yName = y.name();
    y.replaceAllUsesWith(x);
    for (int i = 0; i < g.outputs().size(); i++) {
      if (g.outputs().get(i) == y) {
        g.setOutput(i, x);
      }
    }
    x.setType(y.type() != null ? y.type() : x.type());
    g.removeNode(bn);
    x.rename(yName);
    return null;
  }
}
