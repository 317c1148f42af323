package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.ArgGroupSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;

/**
 * Options in sections (picocli arg groups) keep their defaults whatever else is given: picocli
 * creates a new instance of a section when one of its options is given, and applies
 * {@code defaultValue} only to some instances, so the CLI gives defaults as field initialisers.
 * For every option of every section, each other option of that section is given alone, and the
 * option must still hold its default.
 */
class OptionDefaultsTest {
  /** What each command needs to parse at all. */
  private static final Map<String, List<String>> REQUIRED = Map.of(
      "inspect", List.of("m.onnx"),
      "convert", List.of("m.onnx", "-o", "o.onnx"),
      "prune", List.of("m.onnx", "-o", "o.onnx", "--flops", "0.5"),
      "score", List.of("m.onnx", "--criterion", "l1"),
      "mask", List.of("m.onnx", "-o", "o.onnx", "--sparsity", "0.5"),
      "eval", List.of("m.onnx"),
      "finetune", List.of("m.onnx", "-o", "o.onnx"),
      "sensitivity", List.of("m.onnx"),
      "export-training", List.of("m.onnx", "-o", "dir"),
      "demo", List.of());

  @Test
  void everyCommandIsCovered() {
    for (String c : Main.commandLine().getSubcommands().keySet()) {
      assertTrue(c.equals("help") || REQUIRED.containsKey(c), c);
    }
  }

  @Test
  void sectionOptionsKeepTheirDefaultsWhenAnotherOptionOfTheSectionIsGiven() throws Exception {
    int checked = 0;
    for (Map.Entry<String, List<String>> command : REQUIRED.entrySet()) {
      ParseResult baseline = parse(command.getKey(), command.getValue());
      CommandSpec spec = baseline.commandSpec();
      assertDefaults(spec, values(spec.userObject()), command.getValue());
      for (ArgGroupSpec section : spec.argGroups()) {
        if (section.validate()) {
          continue; // an exclusive choice (the target, mask's mode): no defaults
        }
        for (OptionSpec given : section.allOptionsNested()) {
          List<String> args = new ArrayList<>(command.getValue());
          args.addAll(sample(given));
          checked += assertDefaults(spec, values(parse(command.getKey(), args).commandSpec().userObject()), args);
        }
      }
    }
    assertTrue(checked > 500, "checked " + checked);
  }

  /** Every option not in {@code args} has the default its help shows; returns how many were checked. */
  private static int assertDefaults(CommandSpec spec, Map<String, Object> values, List<String> args) {
    int checked = 0;
    for (OptionSpec o : spec.options()) {
      Object expected = o.defaultValue() != null ? o.defaultValue() : o.initialValue();
      if (expected == null || !values.containsKey(o.longestName())
          || Arrays.stream(o.names()).anyMatch(args::contains)) {
        continue;
      }
      assertEquals(text(expected), text(values.get(o.longestName())), spec.name() + " " + String.join(" ", args)
          + ": " + o.longestName() + " lost its default");
      checked++;
    }
    return checked;
  }

  /**
   * The value of every option field reachable from {@code command} through its sections and
   * mixins, by the option's longest name: what the command will read, not picocli's view of it.
   */
  static Map<String, Object> values(Object command) throws IllegalAccessException {
    Map<String, Object> values = new HashMap<>();
    for (Field f : command.getClass().getDeclaredFields()) {
      f.setAccessible(true);
      Object v = f.get(command);
      Option option = f.getAnnotation(Option.class);
      if (option != null) {
        values.put(Arrays.stream(option.names()).max(Comparator.comparingInt(String::length)).orElseThrow(), v);
      } else if (v != null && (f.isAnnotationPresent(ArgGroup.class) || f.isAnnotationPresent(Mixin.class))) {
        values.putAll(values(v));
      }
    }
    return values;
  }

  @Test
  void defaultsAreTheDocumentedOnes() {
    PruneCommand prune = (PruneCommand) parse("prune", List.of("m.onnx", "-o", "o.onnx", "--flops", "0.5", "--lr",
        "0.5", "--momentum", "0.8")).commandSpec().userObject();
    assertEquals(0.5, prune.recovery.lr);
    assertEquals(0.8, prune.recovery.step.momentum);
    assertEquals(64, prune.recovery.batch);
    assertEquals("sgd", prune.recovery.step.optimizer);
    assertEquals(5e-4, prune.recovery.step.weightDecay);
    assertEquals("cosine", prune.recovery.schedule);
    assertEquals(0.1, prune.recovery.lrDecay);
    assertEquals(4, prune.recovery.cropPadding);
    assertEquals(4096, prune.recovery.bnSamples);
    assertTrue(prune.recovery.augment);
    assertEquals(0, prune.recovery.epochs(0));
    assertEquals("auto", prune.allocation.round);
    assertEquals("auto", prune.checks.speedCheck);
    assertEquals(1, prune.allocation.minChannels);
    assertEquals(1.0, prune.allocation.maxGroupRatio);
    assertEquals(32, prune.allocation.latencyBatch);
    assertEquals(64, prune.criterion.calibration.batch);
    assertEquals(0.1, prune.criterion.calibration.rescoreStep);
    assertEquals("auto", prune.runtime.device);
    assertEquals(0, prune.data.seed);

    EvalCommand eval = (EvalCommand) parse("eval", List.of("m.onnx", "--images", "x")).commandSpec().userObject();
    assertEquals(256, eval.data.batch);
    assertEquals(Path.of("x"), eval.data.files.images);
  }

  @Test
  void augmentIsOnUnlessNegated() {
    for (String[] c : new String[][] {{"--no-augment", "false"}, {"--augment", "true"}, {"--lr=0.1", "true"}}) {
      FinetuneCommand f = (FinetuneCommand) parse("finetune", List.of("m.onnx", "-o", "o.onnx", c[0])).commandSpec()
          .userObject();
      assertEquals(Boolean.parseBoolean(c[1]), f.recovery.augment, c[0]);
    }
  }

  private static ParseResult parse(String command, List<String> args) {
    List<String> all = new ArrayList<>(List.of(command));
    all.addAll(args);
    ParseResult r = Main.commandLine().parseArgs(all.toArray(new String[0])).subcommand();
    assertNotNull(r);
    return r;
  }

  /** The option with a value its type parses. */
  private static List<String> sample(OptionSpec o) {
    if (o.arity().max() == 0) {
      return List.of(o.longestName());
    }
    Class<?> t = o.type();
    String value;
    if (t == int.class || t == Integer.class || t == long.class || t == Long.class || t == long[].class) {
      value = "3";
    } else if (t == double.class || t == Double.class || t == float[].class || t == double[].class) {
      value = "0.25";
    } else if (t == String[].class) {
      value = "a,b";
    } else {
      assertFalse(t.isPrimitive(), o.longestName() + ": " + t);
      value = "x";
    }
    return List.of(o.longestName(), value);
  }

  /** {@code value} as text; numbers (also a defaultValue's "5e-4") in one notation. */
  private static String text(Object value) {
    if (value instanceof Object[] a) {
      return Arrays.toString(a);
    }
    String s = Objects.toString(value);
    try {
      return Double.toString(Double.parseDouble(s));
    } catch (NumberFormatException notANumber) {
      return s;
    }
  }
}
