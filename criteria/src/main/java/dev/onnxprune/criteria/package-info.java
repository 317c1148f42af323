/**
 * Importance criteria, channel allocation under a cost target and pruning pipelines.
 * Populated by the surgery and criteria issues; this module exists now so the reactor has its
 * final shape.
 */
package dev.onnxprune.criteria;
