package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The library speaks API option keys ({@code target.flops}), never a command line's flags: no
 * string literal in the main sources of any library module (every module of the reactor but the
 * adapters and the benchmarks) holds a {@code --word} token, in a sentence, in parentheses or as
 * a prefix a flag is built from. The CLI renders keys as flags through {@link OptionNames}.
 */
class LibraryNamesNoFlagsTest {
  /** Modules that may name flags: the adapters and the benchmarks' own command lines. */
  private static final Set<String> ADAPTERS = Set.of("cli", "maven-plugin", "bench");

  /** {@code --word} not inside a longer token, or a literal that ends in {@code --} (a flag prefix). */
  private static final Pattern FLAG = Pattern.compile("(?<![\\w-])--[A-Za-z]|(?<![\\w-])--$");

  @Test
  void noLibraryStringLiteralNamesAFlag() throws IOException {
    Path root = reactorRoot();
    List<String> modules = modules(root);
    assertTrue(modules.containsAll(List.of("onnx-graph", "surgery", "runtime", "training", "pipeline")), "" + modules);
    List<String> found = new ArrayList<>();
    int files = 0;
    for (String module : modules) {
      Path src = root.resolve(module).resolve("src/main/java");
      if (ADAPTERS.contains(module) || !Files.isDirectory(src)) {
        continue;
      }
      try (Stream<Path> s = Files.walk(src)) {
        for (Path file : s.filter(p -> p.toString().endsWith(".java")).toList()) {
          files++;
          for (Literal l : literals(Files.readString(file))) {
            if (FLAG.matcher(l.text()).find()) {
              found.add(root.relativize(file) + ":" + l.line() + ": \"" + l.text() + "\"");
            }
          }
        }
      }
    }
    assertTrue(files > 100, "scanned only " + files + " files under " + root);
    assertEquals(List.of(), found, "library strings that name CLI flags (use the option's key; the CLI translates"
        + " it in OptionNames)");
  }

  @Test
  void literalsAreFoundOutsideCommentsOnly() {
    String java = """
        /** Javadoc: "--javadoc" is not a literal. */
        class A {
          // "--comment" neither
          String a = "see (--flops)"; /* "--block" */ char q = '"'; String b = "esc \\" --escaped";
          String c = \"\"\"
              text block --block-flag
              \"\"\";
          String d = "a -- b" + "x--y" + "--";
        }
        """;
    List<String> flagged = literals(java).stream().filter(l -> FLAG.matcher(l.text()).find())
        .map(l -> l.line() + ":" + l.text().strip()).toList();
    assertEquals(List.of("4:see (--flops)", "4:esc \\\" --escaped", "5:text block --block-flag", "8:--"), flagged);
  }

  /** A string literal (or text block) and the line it starts on. */
  record Literal(int line, String text) {}

  /** The string literals and text blocks of a Java source, comments and char literals skipped. */
  static List<Literal> literals(String src) {
    List<Literal> out = new ArrayList<>();
    int line = 1;
    int i = 0;
    while (i < src.length()) {
      char c = src.charAt(i);
      if (c == '\n') {
        line++;
        i++;
      } else if (src.startsWith("//", i)) {
        i = src.indexOf('\n', i) < 0 ? src.length() : src.indexOf('\n', i);
      } else if (src.startsWith("/*", i)) {
        int end = src.indexOf("*/", i + 2);
        end = end < 0 ? src.length() : end + 2;
        line += count(src, i, end);
        i = end;
      } else if (src.startsWith("\"\"\"", i)) {
        int end = src.indexOf("\"\"\"", i + 3);
        end = end < 0 ? src.length() : end;
        out.add(new Literal(line, src.substring(i + 3, end)));
        line += count(src, i, end);
        i = Math.min(src.length(), end + 3);
      } else if (c == '"' || c == '\'') {
        int j = i + 1;
        while (j < src.length() && src.charAt(j) != c && src.charAt(j) != '\n') {
          j += src.charAt(j) == '\\' ? 2 : 1;
        }
        if (c == '"') {
          out.add(new Literal(line, src.substring(i + 1, Math.min(j, src.length()))));
        }
        i = j + 1;
      } else {
        i++;
      }
    }
    return out;
  }

  private static int count(String s, int from, int to) {
    int n = 0;
    for (int k = from; k < to; k++) {
      n += s.charAt(k) == '\n' ? 1 : 0;
    }
    return n;
  }

  /** The reactor's folder: the parent of this module's. */
  static Path reactorRoot() {
    Path module = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
    Path root = module.getParent();
    assertTrue(Files.isRegularFile(root.resolve("pom.xml")), "no reactor pom.xml above " + module);
    return root;
  }

  /** The {@code <module>}s of the reactor's pom.xml, in order. */
  static List<String> modules(Path root) throws IOException {
    Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(Files.readString(root.resolve("pom.xml")));
    List<String> modules = new ArrayList<>();
    while (m.find()) {
      modules.add(m.group(1).strip());
    }
    return modules;
  }
}
