package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import dev.onnxprune.graph.ValueType.TensorType;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Static shape and element-type inference for the ops CNN classifiers and their exporters use.
 *
 * <p>Every graph of the model (subgraphs before the node that holds them) is walked in node
 * order, which ONNX requires to be topological. For each node of the default domain that has a
 * rule (Conv, ConvTranspose, the pools, BatchNormalization and the other normalizations, Gemm,
 * MatMul, Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Pad, Resize,
 * Expand, Tile, elementwise and broadcasting ops, activations, Softmax, the Reduce family, Shape,
 * Size, Gather, Constant, ConstantOfShape, Range, Cast, Clip, Dropout, Identity, If, ...), the rule
 * follows the ONNX operator spec of the node's opset (11-21; attribute-or-input forms are chosen
 * by version, e.g. Split/Squeeze/Unsqueeze/ReduceSum axes became inputs at 13, the other
 * reductions at 18).
 *
 * <p><b>Writing types.</b> Each inferred output type is merged with the type the value already
 * has (from the file's value_info or graph outputs) dim by dim: a known size beats a symbolic or
 * unknown one, a file's symbolic name is kept over an inferred one, an inferred dim fills an
 * unknown one. When the merge differs from the value's type it is set with {@link
 * Value#setType}; otherwise the value is left untouched, so a model whose declared types are
 * already complete writes back byte-identical. A different rank, element type or known size is a
 * {@link ShapeReport.Mismatch}, and the inferred type is written (it is what the ops compute). A
 * node without a rule, or whose rule fails (e.g. an input shape is unknown), keeps whatever types
 * the file gave its outputs; if those are incomplete it is reported in {@link
 * ShapeReport#unknown()} with the reason.
 *
 * <p><b>Symbolic dims.</b> A symbolic dim (the batch {@code "N"}) propagates unchanged where an op
 * copies it. Arithmetic on it follows {@link SymbolicDims}: products become derived names
 * ({@code Flatten} of {@code [N, 3, 4]} with axis 0 gives {@code [1, "N*12"]}), exact quotients
 * cancel ({@code Reshape} of that to {@code [-1, 12]} gives {@code [N, 12]}), other results (sums
 * with constants, a window sliding over a symbolic size) are unknown dims.
 *
 * <p><b>Shape data.</b> The data of small integer tensors is propagated: initializers, Constant,
 * ConstantOfShape, Shape (symbolic dims included), Size, Gather, Unsqueeze, Squeeze, Concat,
 * Slice, Reshape, Flatten, Cast, Identity, and Add/Sub/Mul/Div/Max/Min/Equal/Where on them, so
 * the target of a Reshape fed by a {@code Shape -> Gather -> Unsqueeze -> Concat} chain is known.
 * {@link ShapeReport#constantOf} gives the fully known ones.
 */
public final class ShapeInference {
  private ShapeInference() {}

  /** {@link #infer(Model, boolean)} without recording value_info (round trips stay byte-identical). */
  public static ShapeReport infer(Model model) {
    return infer(model, false);
  }

  /**
   * Infers the types of every node output of every graph of {@code model} and writes them to the
   * values (see the class comment for the merge with declared types).
   *
   * @param recordValueInfo also record every value that got an inferred type in its graph's
   *     value_info (via {@link Graph#recordValueInfo}), so the types are written to the file
   * @return what stayed unknown, what conflicts with the file, and the known shape constants
   */
  public static ShapeReport infer(Model model, boolean recordValueInfo) {
    Run run = new Run(model, recordValueInfo);
    run.graph(model.graph());
    return new ShapeReport(run.unknown, run.mismatches, run.data.fullyKnown(), run.inferred);
  }

  /** State of one inference over a model. */
  private static final class Run {
    final Model model;
    final boolean record;
    final ConstantData data = new ConstantData();
    final List<ShapeReport.Unknown> unknown = new ArrayList<>();
    final List<ShapeReport.Mismatch> mismatches = new ArrayList<>();
    int inferred;

    Run(Model model, boolean record) {
      this.model = model;
      this.record = record;
    }

    void graph(Graph g) {
      for (Value init : g.initializers()) {
        data.of(init); // registers small integer initializers as known data
      }
      for (Node n : g.nodes()) {
        for (Graph sub : n.subgraphs()) {
          graph(sub);
        }
        node(g, n);
      }
    }

    void node(Graph g, Node n) {
      OpRule rule = n.domain().isEmpty() || n.domain().equals("ai.onnx") ? OpRules.get(n.opType()) : null;
      InferenceContext ctx = new InferenceContext(n, model.opsetVersion(n.domain()), data);
      String failure = null;
      if (rule == null) {
        failure = "no shape rule for " + (n.domain().isEmpty() ? "" : n.domain() + ":") + n.opType();
      } else {
        try {
          rule.apply(ctx);
        } catch (InferenceFailure e) {
          failure = e.getMessage();
        } catch (RuntimeException e) {
          // A malformed node (wrong attribute type, out-of-range index) is reported, not thrown.
          failure = e.getClass().getSimpleName() + ": " + e.getMessage();
        }
      }
      String incomplete = null;
      for (int i = 0; i < n.outputCount(); i++) {
        Value v = n.output(i);
        if (v == null) {
          continue;
        }
        TensorType inf = failure == null ? ctx.output(i) : null;
        if (inf != null) {
          inferred++;
          apply(v, inf);
          List<Dim> d = ctx.outputData(i);
          if (d != null) {
            data.put(v, d);
          }
          if (record && !v.isGraphOutput()) {
            g.recordValueInfo(v);
          }
        }
        if (incomplete == null && !isComplete(v.type())) {
          incomplete = "output '" + v.name() + "' is " + (v.type() == null ? "untyped" : v.type());
        }
      }
      if (incomplete != null) {
        unknown.add(new ShapeReport.Unknown(n, failure != null ? failure : incomplete));
      }
    }

    /** Merges {@code inf} into {@code v}'s type; records a mismatch on conflict. */
    void apply(Value v, TensorType inf) {
      ValueType declared = v.type();
      if (declared == null) {
        v.setType(inf);
        return;
      }
      if (!(declared instanceof TensorType file)) {
        mismatches.add(new ShapeReport.Mismatch(v, null, inf.shape()));
        v.setType(inf);
        return;
      }
      TensorType merged = merge(file, inf);
      if (merged == null) {
        mismatches.add(new ShapeReport.Mismatch(v, file.shape(), inf.shape()));
        v.setType(inf);
      } else if (!merged.equals(file)) {
        v.setType(merged);
      }
    }
  }

  /** The file's type refined by the inferred one, or null when they conflict. */
  static TensorType merge(TensorType file, TensorType inf) {
    DataType elem = file.elemType();
    if (elem == null || elem == DataType.UNDEFINED) {
      elem = inf.elemType();
    } else if (inf.elemType() != null && inf.elemType() != DataType.UNDEFINED && inf.elemType() != elem) {
      return null;
    }
    Shape fs = file.shape();
    Shape is = inf.shape();
    Shape shape;
    if (fs == null) {
      shape = is;
    } else if (is == null) {
      shape = fs;
    } else if (fs.rank() != is.rank()) {
      return null;
    } else {
      List<Dim> dims = new ArrayList<>(fs.rank());
      boolean changed = false;
      for (int i = 0; i < fs.rank(); i++) {
        Dim f = fs.dim(i);
        Dim d = is.dim(i);
        if (f.isKnown()) {
          if (d.isKnown() && d.get() != f.get()) {
            return null;
          }
          dims.add(f);
        } else if (d.isKnown() || (!f.isSymbolic() && d.isSymbolic())) {
          dims.add(new Dim(d.value(), d.param(), f.denotation()));
          changed = true;
        } else {
          dims.add(f);
        }
      }
      shape = changed ? Shape.of(dims) : fs;
    }
    if (elem == file.elemType() && Objects.equals(shape, fs)) {
      return file;
    }
    return new TensorType(elem, shape, file.denotation());
  }

  /** True for a non-tensor type, or a tensor type whose rank is known and every dim known or symbolic. */
  static boolean isComplete(ValueType t) {
    if (t instanceof ValueType.OtherType) {
      return true;
    }
    if (!(t instanceof TensorType tt) || tt.shape() == null) {
      return false;
    }
    for (Dim d : tt.shape().dims()) {
      if (!d.isKnown() && !d.isSymbolic()) {
        return false;
      }
    }
    return true;
  }
}
