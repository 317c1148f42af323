/**
 * Channel surgery: channel-dependency groups, prune plans and their application, BN folding,
 * mask insertion and unstructured masking. Populated by the surgery issue; this module exists
 * now so the reactor has its final shape.
 */
package dev.onnxprune.surgery;
