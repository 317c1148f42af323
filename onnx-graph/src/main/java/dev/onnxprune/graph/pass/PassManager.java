package dev.onnxprune.graph.pass;

import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs {@link GraphPass}es in order. When one fails, the error says which passes ran before it;
 * with {@link #VERIFY_PROPERTY} set to {@code true} (the build sets it for every test run) the
 * graph is checked by {@link GraphVerifier} after each pass, and a pass that leaves it broken fails
 * there, named, instead of somewhere later.
 */
public final class PassManager {
  /** System property that turns on the check after every pass ({@code onnxprune.verifyPasses}). */
  public static final String VERIFY_PROPERTY = "onnxprune.verifyPasses";

  private PassManager() {}

  /** Runs {@code pass} on {@code model}. */
  public static PassResult run(Model model, GraphPass pass) {
    return run(model, List.of(pass)).get(0);
  }

  /**
   * Runs {@code passes} on {@code model}, in order.
   *
   * @throws GraphException when a pass fails or (when verifying) leaves a broken graph, naming it
   *     and the passes that ran before it; the cause is the pass's own error. A typed
   *     {@link OnnxPruneException} (a refused input) passes through as it is.
   */
  public static List<PassResult> run(Model model, List<? extends GraphPass> passes) {
    boolean verify = Boolean.getBoolean(VERIFY_PROPERTY);
    List<PassResult> results = new ArrayList<>();
    List<String> ran = new ArrayList<>();
    for (GraphPass p : passes) {
      PassResult r;
      try {
        r = p.run(model);
      } catch (OnnxPruneException e) {
        throw e; // typed: its message is for the user as it is
      } catch (RuntimeException e) {
        if (ran.isEmpty()) {
          throw e;
        }
        throw new GraphException("pass " + p.name() + " failed after " + String.join(", ", ran) + ": "
            + e.getMessage(), e);
      }
      ran.add(p.name());
      if (verify) {
        try {
          GraphVerifier.verify(model);
        } catch (RuntimeException e) {
          throw new GraphException("pass " + p.name() + " left a broken graph (passes run: " + String.join(", ", ran)
              + "): " + e.getMessage(), e);
        }
      }
      results.add(r);
    }
    return results;
  }
}
