/**
 * The Maven plugin (goal {@code prune}): a thin adapter over the pruning API of the criteria
 * module. Populated once that API exists; this module exists now so the reactor has its final
 * shape.
 */
package dev.onnxprune.maven;
