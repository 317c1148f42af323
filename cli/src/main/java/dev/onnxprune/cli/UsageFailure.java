package dev.onnxprune.cli;

import java.util.function.Supplier;

/**
 * A value given on the command line is not acceptable (out of range, unknown name): the
 * command fails with exit code {@value ExitCodes#USAGE}, one line naming the option and one
 * pointing at the command's {@code --help}, as picocli's own usage errors do.
 * The library's {@link IllegalArgumentException}s from configuration (Target, Criteria,
 * Device, builders) become this through {@link #check}; the one mapping lives here.
 */
final class UsageFailure extends Exception {
  UsageFailure(String message) {
    super(message);
  }

  /**
   * Runs {@code make}, which configures something from {@code option}'s value; its
   * {@link IllegalArgumentException} becomes a UsageFailure whose message names the option
   * ({@link Messages#invalidOption}). {@code option} is null when the library's messages
   * already name the options (the builders', which check several at once).
   */
  static <T> T check(String option, Supplier<T> make) throws UsageFailure {
    try {
      return make.get();
    } catch (dev.onnxprune.errors.InvalidOptionException e) {
      throw new UsageFailure(OptionNames.translate(e));
    } catch (IllegalArgumentException e) {
      throw new UsageFailure(Messages.invalidOption(option, String.valueOf(e.getMessage())));
    }
  }
}
