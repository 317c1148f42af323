/**
 * The typed errors of onnx-prune's API: {@link dev.onnxprune.errors.OnnxPruneException} and its
 * subclasses. Their messages name options by the API's keys; adapters (the command line, the Maven
 * plugin) translate the keys in one table each.
 */
package dev.onnxprune.errors;
