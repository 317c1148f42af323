package dev.onnxprune.prune;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.internal.HeldData;
import dev.onnxprune.internal.Ort;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.InputBinding;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.PrunePlan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleConsumer;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.LinearSolverFactory_DDRM;
import org.ejml.interfaces.linsol.LinearSolverDense;

/**
 * Least-squares refit of the layers after channel pruning (He et al. 2017, "Channel Pruning for
 * Accelerating Very Deep Neural Networks", sec. 3.1, the second step of eq. 1 with beta fixed):
 * each weighted layer's kept weights are re-solved so that, fed the pruned model's own input, it
 * reproduces the original layer's output on calibration data.
 *
 * <ol>
 *   <li>Layers: every Conv with {@code group = 1}, Gemm ({@code transA = 0, alpha = beta = 1}) and
 *       MatMul with a 2-D constant weight, used by that layer alone, whose input is not a graph
 *       input (its input is then exact and its kept filters already reproduce their outputs), in
 *       graph order, so a layer is solved on the input of the layers refitted before it (He et al.
 *       reconstruct sequentially with the accumulated error).
 *   <li>Statistics (ONNX Runtime): the pruned layer's input patches {@code P [rows, D]} ({@code D =
 *       C' * prod(kernel)}; a grouped Conv by one-hot kernels unfolds them) and the original layer's
 *       output less its bias on the kept output channels {@code Y [rows, O']}; summed over the
 *       calibration batches: {@code G = P^T P}, {@code B = P^T Y} and {@code |Y|^2}.
 *   <li>Solve {@code (G + lambda I) W^T = B} by Cholesky (EJML), {@code lambda = ridge * trace(G) / D}
 *       (dead channels make G singular); a pseudo-inverse when G is not positive definite.
 *   <li>The relative reconstruction error {@code |Y - P W^T|^2 / |Y|^2} follows from the same sums
 *       for the pruned weights and the refit; a refit that does not lower it is not kept.
 * </ol>
 * The bias stays as it is. A layer with {@code D} above {@link #MAX_DIM} is left as it is (its
 * matrix would not fit a fixed memory budget).
 */
public final class LeastSquaresRefit {
  /** The largest unfolded input width {@code D} refitted ({@code D^2} doubles of memory). */
  public static final int MAX_DIM = 4608;
  /** Relative ridge on G's diagonal (a fraction of its mean diagonal). */
  static final double RIDGE = 1e-6;

  /**
   * One layer's refit.
   *
   * @param node the layer's node name
   * @param op its op
   * @param inputs unfolded input width D (input channels times kernel size)
   * @param outputs kept output channels
   * @param before relative reconstruction error of the pruned weights
   * @param after relative reconstruction error of the weights kept (the refit's, or the pruned
   *     weights' when the refit was not better)
   * @param refitted whether the refit's weights were kept
   * @param skipped why the layer was left out, or null
   */
  public record Layer(String node, String op, int inputs, int outputs, double before, double after, boolean refitted,
      String skipped) {}

  /**
   * The refit model and what happened to each layer.
   *
   * @param model the refit model (a new model)
   * @param layers each candidate layer, in graph order
   * @param samples calibration samples used
   * @param seconds wall time
   */
  public record Result(Model model, List<Layer> layers, int samples, double seconds) {
    /** Layers whose weights were replaced. */
    public long refitted() {
      return layers.stream().filter(Layer::refitted).count();
    }

    /** Mean relative error over the layers solved, before ({@code [0]}) and after ({@code [1]}). */
    public double[] meanError() {
      double[] m = new double[2];
      int n = 0;
      for (Layer l : layers) {
        if (l.skipped() == null) {
          m[0] += l.before();
          m[1] += l.after();
          n++;
        }
      }
      if (n > 0) {
        m[0] /= n;
        m[1] /= n;
      }
      return m;
    }
  }

  private LeastSquaresRefit() {}

  /**
   * Refits {@code pruned}'s layers against {@code original}'s outputs.
   *
   * @param original the model before pruning (not changed)
   * @param pruned the pruned model (not changed)
   * @param plan the plan that pruned it; its analysis is of a model identical to {@code original}
   * @param data calibration samples (labels not needed)
   * @param batchSize batch size of the runs
   * @param samples how many samples of {@code data} (0: all)
   * @param sessions where ONNX Runtime runs
   * @param progress hears the fraction of layers done (may be null)
   */
  public static Result run(Model original, Model pruned, PrunePlan plan, Dataset data, int batchSize, int samples,
      Sessions sessions, DoubleConsumer progress) {
    long t0 = System.nanoTime();
    Model orig = original.copy();
    Map<String, boolean[]> removedRows = removedRows(orig, plan);
    Model out = pruned.copy();
    HeldData held = HeldData.of(data, batchSize, samples);
    if (held.size() == 0) {
      throw new IllegalArgumentException("the calibration data has no samples");
    }
    Map<String, Node> origNodes = new HashMap<>();
    for (Node n : orig.graph().nodes()) {
      if (n.name() != null && !n.name().isEmpty()) {
        origNodes.put(n.name(), n);
      }
    }
    List<String> candidates = new ArrayList<>();
    for (Node n : out.graph().nodes()) {
      if ((n.is("Conv") || n.is("Gemm") || n.is("MatMul")) && n.name() != null && origNodes.containsKey(n.name())) {
        candidates.add(n.name());
      }
    }
    List<Layer> layers = new ArrayList<>();
    int done = 0;
    for (String name : candidates) {
      Node n = find(out, name);
      Node o = origNodes.get(name);
      Spec s = Spec.of(n, o, removedRows.get(name));
      if (s.skip != null) {
        if (!s.silent) {
          layers.add(new Layer(name, n.opType(), s.d, s.kept.length, 0, 0, false, s.skip));
        }
      } else {
        layers.add(refit(s, orig, out, held, sessions));
      }
      if (progress != null) {
        progress.accept(++done / (double) candidates.size());
      }
    }
    return new Result(out, List.copyOf(layers), held.size(), (System.nanoTime() - t0) / 1e9);
  }

  /** The output rows of each producer node that the plan removes (absent: none). */
  private static Map<String, boolean[]> removedRows(Model orig, PrunePlan plan) {
    ChannelAnalysis a = ChannelAnalysis.analyze(orig);
    PrunePlan p = plan.rebind(a);
    Map<String, boolean[]> out = new HashMap<>();
    for (Map.Entry<Integer, int[]> e : p.removals().entrySet()) {
      ChannelGroup g = a.groups().get(e.getKey());
      Set<Integer> units = new java.util.HashSet<>();
      for (int u : e.getValue()) {
        units.add(u);
      }
      for (ChannelAnalysis.ParameterSlice ps : a.producerWeights(g)) {
        boolean[] rows = out.computeIfAbsent(ps.node().name(), k -> new boolean[ps.units().length]);
        for (int r = 0; r < ps.units().length && r < rows.length; r++) {
          rows[r] |= ps.units()[r] >= 0 && units.contains(ps.units()[r]);
        }
      }
    }
    return out;
  }

  static Node find(Model m, String name) {
    for (Node n : m.graph().nodes()) {
      if (name.equals(n.name())) {
        return n;
      }
    }
    throw new IllegalStateException("node '" + name + "' is gone");
  }

  /** What one layer is: its shapes and kept output rows, or why it is left out. */
  static final class Spec {
    String node;
    String op;
    String skip;
    boolean silent;
    int d;
    int outputs; // O' (pruned)
    int[] kept = new int[0]; // original rows kept, in order
    int kernel = 1;
    int spatial; // Conv's spatial rank
    int origOut; // O (original)
    int channels; // C' (pruned input channels, or features)
    boolean weightOutFirst; // weight is [O, ...] (Conv, Gemm transB=1) rather than [D, O]
    float[] bias; // original bias (Conv B, Gemm C over O), or null

    static Spec of(Node n, Node o, boolean[] removed) {
      return of(n, o, removed, false);
    }

    /** {@code inputMayBeGraphInput}: for masking, where the first layer's weights change too. */
    static Spec of(Node n, Node o, boolean[] removed, boolean inputMayBeGraphInput) {
      Spec s = new Spec();
      s.node = n.name();
      s.op = n.opType();
      Value w = n.input(1);
      Value ow = o.input(1);
      Tensor wt = w == null ? null : w.initializer();
      Tensor owt = ow == null ? null : ow.constantValue();
      if (wt == null || owt == null || wt.dataType() != DataType.FLOAT || owt.dataType() != DataType.FLOAT) {
        return s.quiet("no constant float weight");
      }
      if (w.uses().size() != 1) {
        return s.quiet("its weight is shared");
      }
      if (n.input(0).constantValue() != null) {
        return s.quiet("its input is a constant");
      }
      if (n.input(0).isGraphInput() && !inputMayBeGraphInput) {
        return s.quiet("its input is a graph input");
      }
      long[] d = wt.dims();
      long[] od = owt.dims();
      int origOut;
      switch (s.op) {
        case "Conv" -> {
          if (n.attrLong("group", 1) != 1 || d.length < 3 || od.length != d.length) {
            return s.quiet("grouped convolution");
          }
          s.weightOutFirst = true;
          s.outputs = (int) d[0];
          s.channels = (int) d[1];
          for (int i = 2; i < d.length; i++) {
            s.kernel *= (int) d[i];
          }
          origOut = (int) od[0];
          s.spatial = d.length - 2;
          if (n.inputCount() > 2 && o.input(2) != null && o.input(2).constantValue() != null) {
            s.bias = o.input(2).constantValue().toFloatArray();
          }
        }
        case "Gemm" -> {
          if (n.attrLong("transA", 0) != 0 || n.attrFloat("alpha", 1f) != 1f || n.attrFloat("beta", 1f) != 1f
              || d.length != 2) {
            return s.quiet("Gemm with transA, alpha or beta");
          }
          s.weightOutFirst = n.attrLong("transB", 0) != 0;
          s.outputs = (int) d[s.weightOutFirst ? 0 : 1];
          s.channels = (int) d[s.weightOutFirst ? 1 : 0];
          origOut = (int) od[s.weightOutFirst ? 0 : 1];
          if (n.inputCount() > 2 && o.input(2) != null) {
            Tensor c = o.input(2).constantValue();
            if (c == null || c.elementCount() != origOut) {
              return s.quiet("Gemm with a C other than a bias");
            }
            s.bias = c.toFloatArray();
          }
        }
        default -> { // MatMul
          if (d.length != 2 || od.length != 2) {
            return s.quiet("MatMul without a 2-D constant weight");
          }
          s.outputs = (int) d[1];
          s.channels = (int) d[0];
          origOut = (int) od[1];
        }
      }
      s.d = s.channels * s.kernel;
      s.origOut = origOut;
      List<Integer> rows = new ArrayList<>();
      for (int r = 0; r < origOut; r++) {
        if (removed == null || r >= removed.length || !removed[r]) {
          rows.add(r);
        }
      }
      s.kept = rows.stream().mapToInt(Integer::intValue).toArray();
      if (s.kept.length != s.outputs) {
        return s.loud("its kept outputs (" + s.outputs + ") do not match the plan's (" + s.kept.length + ")");
      }
      if (s.d > MAX_DIM) {
        return s.loud("input width " + s.d + " is above " + MAX_DIM);
      }
      return s;
    }

    private Spec quiet(String why) {
      skip = why;
      silent = true;
      return this;
    }

    private Spec loud(String why) {
      skip = why;
      return this;
    }
  }

  /** Solves one layer and, when it is better, writes its weight into {@code out}. */
  private static Layer refit(Spec s, Model orig, Model out, HeldData held, Sessions sessions) {
    // the original truncated at the layer's output: Y [rows, O'] less the bias
    Model ym = orig.copy();
    Graph yg = ym.graph();
    Node on = find(ym, s.node);
    String yName = targetRows(yg, on, s);
    truncate(yg, List.of(yName));
    // the pruned model truncated at the layer's input, with Y fed: G, B
    Model pm = out.copy();
    InputBinding inputs = InputBinding.of(pm);
    Graph pg = pm.graph();
    Node pn = find(pm, s.node);
    Value y = pg.addInput(pg.uniqueName("refit/y"), new ValueType.TensorType(DataType.FLOAT,
        Shape.of(Dim.unknown(), Dim.of(s.outputs))));
    String[] gb = stats(pg, pn, s, y);
    truncate(pg, List.of(gb));

    double[] g = new double[s.d * s.d];
    double[] bm = new double[s.d * s.outputs];
    double yy = 0;
    try (OrtSession ys = sessions.open(ym); OrtSession ps = sessions.open(pm)) {
      InputBinding yin = InputBinding.of(ym);
      for (Batch b : held.batches()) {
        Ort.Tensor t = Ort.run(ys, Map.of(), yin.feeds(b), Set.of(yName)).get(yName);
        for (float v : t.data()) {
          yy += (double) v * v;
        }
        var r = Ort.run(ps, Map.of(y.name(), t), inputs.feeds(b), new LinkedHashSet<>(List.of(gb)));
        add(g, r.get(gb[0]).data());
        add(bm, r.get(gb[1]).data());
      }
    } catch (OrtException e) {
      throw Ort.failure("refitting " + s.node, e);
    }
    DMatrixRMaj gm = DMatrixRMaj.wrap(s.d, s.d, g);
    DMatrixRMaj b = DMatrixRMaj.wrap(s.d, s.outputs, bm);
    Node target = find(out, s.node);
    Value wv = target.input(1);
    DMatrixRMaj w0 = weightsT(wv.initializer().toFloatArray(), s);
    double before = error(gm, b, yy, w0);
    DMatrixRMaj w1 = solve(gm, b);
    double after = w1 == null ? Double.POSITIVE_INFINITY : error(gm, b, yy, w1);
    boolean better = after < before;
    if (better) {
      wv.setInitializer(Tensor.ofFloats(wv.initializer().dims(), weights(w1, s)));
    }
    double scale = yy > 0 ? yy : 1;
    return new Layer(s.node, s.op, s.d, s.outputs, before / scale, (better ? after : before) / scale, better, null);
  }

  /** Adds to {@code g} the nodes of {@code Y [rows, O']}: the layer's output less its bias, kept rows. */
  private static String targetRows(Graph g, Node n, Spec s) {
    Value y = n.output(0);
    if (s.bias != null) {
      long[] shape = new long[s.op.equals("Conv") ? s.spatial + 2 : 1];
      java.util.Arrays.fill(shape, 1);
      shape[s.op.equals("Conv") ? 1 : 0] = s.bias.length;
      y = op(g, "refit/unbiased", "Sub", List.of(y, g.addInitializer(g.uniqueName("refit/bias"),
          Tensor.ofFloats(shape, s.bias))));
    }
    Value idx = g.addInitializer(g.uniqueName("refit/kept"), Tensor.ofLongs(new long[] {s.kept.length},
        java.util.Arrays.stream(s.kept).asLongStream().toArray()));
    if (s.op.equals("Conv")) {
      Value k = op(g, "refit/kept_y", "Gather", List.of(y, idx), Attribute.of("axis", 1L));
      return rows(g, k, s.outputs).name();
    }
    // [..., O] -> [-1, O] -> kept columns
    Value flat = op(g, "refit/y2d", "Reshape", List.of(y, g.addInitializer(g.uniqueName("refit/shape"),
        Tensor.vector(-1, s.origOut))));
    return op(g, "refit/kept_y", "Gather", List.of(flat, idx), Attribute.of("axis", 1L)).name();
  }

  /**
   * Adds {@code G = P^T P} and {@code B = P^T y} for the layer's input; returns their names
   * ({@code G} alone when {@code y} is null).
   */
  static String[] stats(Graph g, Node n, Spec s, Value y) {
    Value x = n.input(0);
    Value p;
    if (s.op.equals("Conv")) {
      long[] kd = n.input(1).initializer().dims();
      long[] ed = kd.clone();
      ed[0] = s.d;
      ed[1] = 1;
      float[] e = new float[s.d * s.kernel];
      for (int c = 0; c < s.channels; c++) {
        for (int k = 0; k < s.kernel; k++) {
          int row = c * s.kernel + k;
          e[row * s.kernel + k] = 1;
        }
      }
      List<Attribute> attrs = new ArrayList<>();
      attrs.add(Attribute.of("group", (long) s.channels));
      for (String a : List.of("strides", "pads", "dilations", "auto_pad", "kernel_shape")) {
        if (n.attribute(a) != null) {
          attrs.add(n.attribute(a));
        }
      }
      Value unfolded = op(g, "refit/patches", "Conv", List.of(x, g.addInitializer(g.uniqueName("refit/onehot"),
          Tensor.ofFloats(ed, e))), attrs.toArray(new Attribute[0]));
      p = rows(g, unfolded, s.d);
    } else {
      p = op(g, "refit/p", "Reshape", List.of(x, g.addInitializer(g.uniqueName("refit/shape"),
          Tensor.vector(-1, s.d))));
    }
    Value pt = op(g, "refit/pT", "Transpose", List.of(p), Attribute.of("perm", new long[] {1, 0}));
    String gram = op(g, "refit/G", "MatMul", List.of(pt, p)).name();
    return y == null ? new String[] {gram} : new String[] {gram, op(g, "refit/B", "MatMul", List.of(pt, y)).name()};
  }

  /** {@code [N, W, spatial...]} -> {@code [N * prod(spatial), W]}. */
  private static Value rows(Graph g, Value v, int width) {
    Value r = op(g, "refit/nwl", "Reshape", List.of(v, g.addInitializer(g.uniqueName("refit/shape"),
        Tensor.vector(0, width, -1))));
    Value t = op(g, "refit/nlw", "Transpose", List.of(r), Attribute.of("perm", new long[] {0, 2, 1}));
    return op(g, "refit/rows", "Reshape", List.of(t, g.addInitializer(g.uniqueName("refit/shape"),
        Tensor.vector(-1, width))));
  }

  static void truncate(Graph g, List<String> outputs) {
    while (!g.outputs().isEmpty()) {
      g.removeOutput(g.outputs().size() - 1);
    }
    for (String o : outputs) {
      g.addOutput(g.lookup(o));
    }
    g.removeDeadCode();
  }

  private static Value op(Graph g, String name, String type, List<Value> in, Attribute... attrs) {
    String out = g.uniqueName(name);
    return g.addNode(type, g.uniqueNodeName(out), in, List.of(out), attrs).output(0);
  }

  static void add(double[] acc, float[] v) {
    for (int i = 0; i < acc.length; i++) {
      acc[i] += v[i];
    }
  }

  /** The layer's weight as {@code W^T [D, O']}. */
  static DMatrixRMaj weightsT(float[] w, Spec s) {
    DMatrixRMaj m = new DMatrixRMaj(s.d, s.outputs);
    for (int o = 0; o < s.outputs; o++) {
      for (int i = 0; i < s.d; i++) {
        m.set(i, o, s.weightOutFirst ? w[o * s.d + i] : w[i * s.outputs + o]);
      }
    }
    return m;
  }

  /** {@code W^T [D, O']} back into the layer's weight layout. */
  static float[] weights(DMatrixRMaj wt, Spec s) {
    float[] w = new float[s.d * s.outputs];
    for (int o = 0; o < s.outputs; o++) {
      for (int i = 0; i < s.d; i++) {
        w[s.weightOutFirst ? o * s.d + i : i * s.outputs + o] = (float) wt.get(i, o);
      }
    }
    return w;
  }

  /** {@code |Y - P W^T|^2 = |Y|^2 - 2 tr(W B) + tr(W G W^T)} from the sums. */
  static double error(DMatrixRMaj g, DMatrixRMaj b, double yy, DMatrixRMaj wt) {
    DMatrixRMaj gw = new DMatrixRMaj(g.numRows, wt.numCols);
    CommonOps_DDRM.mult(g, wt, gw);
    double quad = 0;
    double cross = 0;
    for (int i = 0; i < wt.getNumElements(); i++) {
      quad += wt.data[i] * gw.data[i];
      cross += wt.data[i] * b.data[i];
    }
    return Math.max(0, yy - 2 * cross + quad);
  }

  /**
   * The least-squares weights {@code W^T = (G + lambda I)^-1 B} (Cholesky; a pseudo-inverse when
   * G is not positive definite), or null when neither solves.
   */
  static DMatrixRMaj solve(DMatrixRMaj g, DMatrixRMaj b) {
    int d = g.numRows;
    double trace = 0;
    for (int i = 0; i < d; i++) {
      trace += g.get(i, i);
    }
    DMatrixRMaj a = g.copy();
    double lambda = RIDGE * trace / d;
    for (int i = 0; i < d; i++) {
      a.add(i, i, lambda);
    }
    DMatrixRMaj x = new DMatrixRMaj(d, b.numCols);
    LinearSolverDense<DMatrixRMaj> chol = LinearSolverFactory_DDRM.chol(d);
    if (chol.setA(a.copy())) {
      chol.solve(b.copy(), x);
      if (finite(x)) {
        return x;
      }
    }
    LinearSolverDense<DMatrixRMaj> pinv = LinearSolverFactory_DDRM.pseudoInverse(true);
    if (pinv.setA(a)) {
      pinv.solve(b.copy(), x);
      if (finite(x)) {
        return x;
      }
    }
    return null;
  }

  private static boolean finite(DMatrixRMaj m) {
    for (int i = 0; i < m.getNumElements(); i++) {
      if (!Double.isFinite(m.data[i])) {
        return false;
      }
    }
    return true;
  }
}
