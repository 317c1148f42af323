package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class OptionNamesTest {
  @Test
  void everyFlagTheTableNamesExists() {
    Set<String> names = new HashSet<>();
    for (CommandLine c : Main.commandLine().getSubcommands().values()) {
      c.getCommandSpec().options().forEach(o -> names.addAll(java.util.List.of(o.names())));
    }
    for (String flags : OptionNames.flags()) {
      Matcher m = Pattern.compile("--?[a-zA-Z][\\w-]*").matcher(flags);
      boolean any = false;
      while (m.find()) {
        assertTrue(names.contains(m.group()), "OptionNames names " + m.group() + ", which no command has");
        any = true;
      }
      assertTrue(any || flags.equals("MODEL"), flags);
    }
  }

  @Test
  void keysInLibraryTextBecomeFlags() {
    assertEquals("raise --method-steps, raise --theta (larger moves) or lower --phi (faster steps)",
        OptionNames.render("raise method.maxSteps, raise aofp.theta (larger moves) or lower aofp.phi (faster steps)"));
    assertEquals("the model keeps its target", OptionNames.render("the model keeps its target"));
  }
}
