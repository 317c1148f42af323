/**
 * ONNX Runtime sessions (CUDA when present, CPU otherwise), datasets and evaluation.
 * Populated by the runtime issue; this module exists now so the reactor has its final shape.
 */
package dev.onnxprune.runtime;
