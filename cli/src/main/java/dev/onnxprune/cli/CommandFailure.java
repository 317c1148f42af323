package dev.onnxprune.cli;

/** A command could not do its work for a reason the user can act on; the message says which. */
final class CommandFailure extends Exception {
  CommandFailure(String message) {
    super(message);
  }
}
