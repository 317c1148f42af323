package dev.onnxprune.prune;

import dev.onnxprune.graph.Model;
import dev.onnxprune.surgery.PrunePlan;

/**
 * The outcome of {@link Pruner#prune}: the pruned model (the model passed in, changed in
 * place), the plan that was applied, and the report.
 */
public record PruneResult(Model model, PrunePlan plan, PruneReport report) {}
