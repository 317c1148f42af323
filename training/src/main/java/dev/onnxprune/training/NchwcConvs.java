package dev.onnxprune.training;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxprune.graph.Attribute;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.OpsetId;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.shape.ShapeInference;
import dev.onnxprune.runtime.Sessions;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the 2-D Conv nodes of a training step on ONNX Runtime's blocked CPU convolution (the
 * {@code com.microsoft.nchwc} domain), which ONNX Runtime's own optimizer applies only to Convs
 * whose weight is a constant initializer. In a training step the weights are graph inputs, so
 * every Conv (forward, and the stride-1 input gradients) would otherwise run the plain im2col +
 * GEMM kernel, about 2.7x slower on resnet20's shapes.
 *
 * <p>For each eligible Conv {@code y = Conv(x, w, b)}:
 * <ol>
 *   <li>the weight is reordered in the graph (Reshape, Transpose, Reshape; weights are small) to
 *       the blocked layout that ONNX Runtime's rewrite writes at load time: {@code OIHWBiBo}
 *       ({@code w[ob*B+bo, ib*B+bi, k]} at {@code [ob, ib, k, bi, bo]}) when the input is
 *       reordered, {@code OIHWBo} ({@code [ob, i, k, bo]}) for an input of fewer than B channels,
 *       read as NCHW, and for depthwise convolutions;
 *   <li>x goes through {@code ReorderInput} (once per value) unless read as NCHW;
 *   <li>{@code nchwc.Conv} with the same attributes, then {@code ReorderOutput} back to NCHW.
 * </ol>
 * Eligible: 4-D input with a known channel count, static weight shape, output channels a
 * multiple of the block size B, and either group 1 with input channels a multiple of B or fewer
 * than B, or group &gt; 1 with every group's input and output channels a multiple of B, or
 * depthwise. Other Convs are left as they are. The arithmetic is the same sums in another order.
 *
 * <p>B is ONNX Runtime's (8 with AVX2, 16 with AVX-512), found by running {@code ReorderInput}
 * once ({@link #blockSize}); the rewrite is for a session on the CPU, never for an artifact file.
 */
public final class NchwcConvs {
  public static final String DOMAIN = "com.microsoft.nchwc";

  private static volatile Integer block;

  private NchwcConvs() {}

  /** False when the system property {@code onnxprune.nchwc} is {@code false} (to compare). */
  static boolean enabled() {
    return !"false".equals(System.getProperty("onnxprune.nchwc"));
  }

  /**
   * ONNX Runtime's NCHWc block size on this machine, or 0 when its CPU build has no NCHWc kernels
   * (the probe model fails to load or run).
   */
  static int blockSize() {
    Integer b = block;
    if (b == null) {
      b = probe();
      block = b;
    }
    return b;
  }

  private static int probe() {
    Graph g = new Graph("nchwc_probe");
    Value x = g.addInput("x", new ValueType.TensorType(DataType.FLOAT, Shape.of(1, 4, 1, 1)));
    Node n = g.insertNode(0, "ReorderInput", DOMAIN, "reorder", List.of(x), List.of("y"));
    g.addOutput(n.output(0));
    Model m = new Model(g);
    m.opsets().add(new OpsetId("", 17));
    m.opsets().add(new OpsetId(DOMAIN, 1));
    m.setIrVersion(8L);
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession s = Sessions.environment().createSession(OnnxModels.toBytes(m), o);
        var t = ai.onnxruntime.OnnxTensor.createTensor(Sessions.environment(), new float[][][][] {{{{1}}, {{2}},
            {{3}}, {{4}}}});
        OrtSession.Result r = s.run(Map.of("x", t))) {
      long c = ((TensorInfo) r.get(0).getInfo()).getShape()[1];
      return c >= 4 && c <= 64 ? (int) c : 0;
    } catch (OrtException | RuntimeException e) {
      return 0;
    }
  }

  /**
   * Rewrites the eligible Convs of {@code model} in place for this machine's ONNX Runtime (nothing
   * when it has no NCHWc kernels); returns how many. {@link TrainingSession} applies it to the
   * training step of a CPU session; the model then runs only in ONNX Runtime on this CPU kind.
   */
  public static int apply(Model model) {
    return rewrite(model, blockSize());
  }

  /**
   * Rewrites the eligible Convs of {@code model} in place for block size {@code b}, and the weight
   * gradients' channels-last input copies that ONNX Runtime's blocked layout already holds
   * ({@link #blockedPatches}); returns how many Convs. Shapes are inferred first when the model
   * lacks them.
   */
  static int rewrite(Model model, int b) {
    if (b <= 0) {
      return 0;
    }
    ShapeInference.infer(model);
    Graph g = model.graph();
    Map<Value, Value> reorderedInputs = new IdentityHashMap<>();
    int done = 0;
    for (Node n : new ArrayList<>(g.nodes())) {
      if (!n.is("Conv") || n.outputCount() != 1) {
        continue;
      }
      long[] xd = dims(n.input(0));
      long[] wd = dims(n.input(1));
      if (xd == null || wd == null || xd.length != 4 || wd.length != 4 || xd[1] < 0 || !allKnown(wd)) {
        continue;
      }
      long group = n.attrLong("group", 1);
      long o = wd[0];
      long i = wd[1];
      if (o % b != 0) {
        continue;
      }
      boolean readNchw;
      boolean bo;
      if (group == 1 && i < b) {
        readNchw = true;
        bo = true;
      } else if (group == 1 && i % b == 0) {
        readNchw = false;
        bo = false;
      } else if (group > 1 && i == 1 && o == group) {
        readNchw = false;
        bo = true;
      } else if (group > 1 && i % b == 0 && (o / group) % b == 0) {
        readNchw = false;
        bo = false;
      } else {
        continue;
      }
      if (n.inputCount() > 2 && n.input(2) != null && n.input(2).shape() == null) {
        continue;
      }
      int at = g.indexOf(n);
      String base = n.name() == null || n.name().isEmpty() ? "conv" : n.name();
      long k = wd[2] * wd[3];
      Value w = n.input(1);
      Value wr;
      if (bo) {
        // [O, I, kh, kw] -> [O/B, B, I*K] -> [O/B, I*K, B]
        wr = reshape(g, at++, base, w, o / b, b, i * k);
        wr = transpose(g, at++, base, wr, 0, 2, 1);
      } else {
        // [O, I, kh, kw] -> [O/B, B(bo), I/B, B(bi), K] -> [O/B, I/B, K, B(bi), B(bo)]
        wr = reshape(g, at++, base, w, o / b, b, i / b, b, k);
        wr = transpose(g, at++, base, wr, 0, 2, 4, 3, 1);
      }
      wr = reshape(g, at++, base, wr, wd);
      Value x = n.input(0);
      if (!readNchw) {
        Value xr = reorderedInputs.get(x);
        if (xr == null) {
          xr = g.insertNode(at++, "ReorderInput", DOMAIN, g.uniqueNodeName(base + "_reorder_in"), List.of(x),
              List.of(g.uniqueName(x.name() + "_nchwc"))).output(0);
          reorderedInputs.put(x, xr);
        }
        x = xr;
      }
      List<Value> ins = new ArrayList<>(List.of(x, wr));
      if (n.inputCount() > 2 && n.input(2) != null) {
        ins.add(n.input(2));
      }
      List<Attribute> attrs = new ArrayList<>();
      for (Attribute a : n.attributes()) {
        attrs.add(a);
      }
      Value y = n.output(0);
      Node conv = g.insertNode(at++, "Conv", DOMAIN, g.uniqueNodeName(base + "_nchwc"), ins,
          List.of(g.uniqueName(y.name() + "_nchwc")), attrs.toArray(new Attribute[0]));
      Node back = g.insertNode(at, "ReorderOutput", DOMAIN, g.uniqueNodeName(base + "_reorder_out"),
          List.of(conv.output(0)), List.of(g.uniqueName(y.name() + "_nchw")), Attribute.of("channels", o));
      Value out = back.output(0);
      out.setType(y.type());
      y.replaceAllUsesWith(out);
      boolean graphOutput = false;
      for (int j = 0; j < g.outputs().size(); j++) {
        if (g.outputs().get(j) == y) {
          g.setOutput(j, out);
          graphOutput = true;
        }
      }
      String name = y.name();
      g.removeNode(n);
      if (graphOutput) {
        out.rename(name);
      }
      done++;
    }
    int patches = blockedPatches(g, b, reorderedInputs);
    if (done + patches > 0 && model.opsets().stream().noneMatch(s -> s.domain().equals(DOMAIN))) {
      model.opsets().add(new OpsetId(DOMAIN, 1));
    }
    return done;
  }

  /**
   * The weight gradient's channels-last copy of a Conv input ({@link ConvGrads#weightGrad}: {@code
   * Transpose(Reshape(x, [-1, 1, B, H, W]), [0, 1, 3, 4, 2])}) is, for an input of exactly B channels,
   * the same values in the same order as ONNX Runtime's blocked {@code ReorderInput(x)}, which the
   * forward Conv usually has made already: the Transpose becomes a Reshape of that (a view, no
   * copy). Returns how many were rewritten.
   */
  static int blockedPatches(Graph g, int b, Map<Value, Value> reorderedInputs) {
    int done = 0;
    for (Node t : new ArrayList<>(g.nodes())) {
      if (!t.is("Transpose") || !java.util.Arrays.equals(t.attrLongs("perm"), new long[] {0, 1, 3, 4, 2})) {
        continue;
      }
      Node rs = t.input(0).producer();
      if (rs == null || !rs.is("Reshape") || rs.inputCount() < 2 || !rs.input(1).isInitializer()) {
        continue;
      }
      Value x = rs.input(0);
      long[] xd = dims(x);
      long[] to = rs.input(1).initializer().toLongArray();
      if (xd == null || xd.length != 4 || xd[1] != b || xd[2] < 0 || xd[3] < 0 || to.length != 5 || to[1] != 1
          || to[2] != b || to[3] != xd[2] || to[4] != xd[3]) {
        continue;
      }
      int at = g.indexOf(t);
      Value xr = reorderedInputs.get(x);
      if (xr == null) {
        Node producer = x.producer();
        int after = producer == null ? 0 : g.indexOf(producer) + 1;
        xr = g.insertNode(after, "ReorderInput", DOMAIN, g.uniqueNodeName(t.name() + "_reorder_in"), List.of(x),
            List.of(g.uniqueName(x.name() + "_nchwc"))).output(0);
        reorderedInputs.put(x, xr);
        at = g.indexOf(t);
      }
      Value view = reshape(g, at, t.name(), xr, -1, 1, xd[2], xd[3], b);
      view.setType(t.output(0).type());
      t.output(0).replaceAllUsesWith(view);
      g.removeNode(t);
      if (rs.output(0).consumers().isEmpty() && !g.outputs().contains(rs.output(0))) {
        g.removeNode(rs);
      }
      done++;
    }
    return done;
  }

  private static Value reshape(Graph g, int at, String base, Value v, long... shape) {
    Value s = g.addInitializer(g.uniqueName(base + "_wshape"), Tensor.vector(shape));
    return g.insertNode(at, "Reshape", "", g.uniqueNodeName(base + "_wreshape"), List.of(v, s),
        List.of(g.uniqueName(base + "_w"))).output(0);
  }

  private static Value transpose(Graph g, int at, String base, Value v, long... perm) {
    return g.insertNode(at, "Transpose", "", g.uniqueNodeName(base + "_wtranspose"), List.of(v),
        List.of(g.uniqueName(base + "_w")), Attribute.of("perm", perm)).output(0);
  }

  private static long[] dims(Value v) {
    Shape s = v.shape();
    if (s == null) {
      return null;
    }
    long[] d = new long[s.rank()];
    for (int i = 0; i < d.length; i++) {
      d[i] = s.dim(i).isKnown() ? s.dim(i).get() : -1;
    }
    return d;
  }

  private static boolean allKnown(long[] d) {
    for (long x : d) {
      if (x < 0) {
        return false;
      }
    }
    return true;
  }
}
