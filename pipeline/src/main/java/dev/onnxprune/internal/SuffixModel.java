package dev.onnxprune.internal;

import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.cost.CostModel;
import dev.onnxprune.graph.shape.ShapeInference;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The part of a masked model that an ablation of one group can change: the nodes from the first
 * reader of the group's mask input on (in graph order, which is topological). The values computed
 * from the samples that earlier nodes produce and later nodes read become inputs ({@code cut}: name in the full model
 * -> input name here), so a run of the full model without ablation provides them once and every
 * ablation of the group runs only this suffix.
 *
 * @param model the suffix model
 * @param cut full-model value name -> suffix input name
 * @param flopsShare the suffix's FLOPs as a fraction of the full model's
 */
public record SuffixModel(Model model, Map<String, String> cut, double flopsShare) {

  /**
   * The suffix of {@code maskedBytes} (a model with mask inputs) after the first reader of
   * {@code maskInput}, or null when it cannot be cut there (a graph output is produced before,
   * or a cut value's type is unknown or not FLOAT). {@code dataInputs} are the inputs the samples
   * feed (images; token ids and attention masks).
   */
  public static SuffixModel of(byte[] maskedBytes, String maskInput, java.util.Collection<String> dataInputs) {
    Model m;
    try {
      m = OnnxModels.read(maskedBytes, null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ShapeInference.infer(m);
    Graph g = m.graph();
    Value mask = g.value(maskInput);
    if (mask == null || mask.uses().isEmpty()) {
      return null;
    }
    Map<Node, Integer> index = new IdentityHashMap<>();
    List<Node> nodes = g.nodes();
    for (int i = 0; i < nodes.size(); i++) {
      index.put(nodes.get(i), i);
    }
    int first = mask.consumers().stream().mapToInt(index::get).min().orElseThrow();
    // Only values computed from the samples are cut (they have the batch axis); constants behind
    // Identity nodes and mask expansions stay computed in the suffix.
    java.util.Set<Value> perSample = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (String in : dataInputs) {
      perSample.add(g.value(in));
    }
    for (Node n : nodes) {
      if (n.inputs().stream().anyMatch(perSample::contains)) {
        n.outputs().stream().filter(java.util.Objects::nonNull).forEach(perSample::add);
      }
    }
    List<Value> cut = new ArrayList<>();
    for (int i = 0; i < first; i++) {
      for (Value out : nodes.get(i).outputs()) {
        if (out == null) {
          continue;
        }
        if (out.isGraphOutput()) {
          return null;
        }
        if (perSample.contains(out) && out.consumers().stream().anyMatch(c -> index.getOrDefault(c, -1) >= first)) {
          if (out.tensorType() == null || out.tensorType().elemType() != dev.onnxprune.graph.DataType.FLOAT) {
            return null; // the base run hands cut values over as floats
          }
          if (out.uses().stream().anyMatch(u -> u.index() > 0 && (u.node().is("LSTM") || u.node().is("GRU")
              || u.node().is("RNN")))) {
            return null; // a recurrent state [directions, batch, hidden]: its batch is not axis 0, no packing
          }
          cut.add(out);
        }
      }
    }
    double fullFlops = CostModel.analyze(m).totalFlops();
    Map<String, String> names = new LinkedHashMap<>();
    for (Value v : cut) {
      Value in = g.addInput(g.uniqueName(v.name() + "_cut"), v.type());
      v.replaceAllUsesWith(in);
      names.put(v.name(), in.name());
    }
    g.removeDeadCode();
    for (Value in : new ArrayList<>(g.runtimeInputs())) {
      if (in.uses().isEmpty() && !in.isGraphOutput()) {
        g.removeInput(in);
      }
    }
    double share = fullFlops > 0 ? CostModel.analyze(m).totalFlops() / fullFlops : 1;
    return new SuffixModel(m, names, share);
  }
}
