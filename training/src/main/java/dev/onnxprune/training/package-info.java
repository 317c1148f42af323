/**
 * The exported training artifact: reverse-mode differentiation of an ONNX graph into a
 * training-step graph of standard ONNX ops, optimizers and the trainer. Populated by the
 * training-artifact issue; this module exists now so the reactor has its final shape.
 */
package dev.onnxprune.training;
