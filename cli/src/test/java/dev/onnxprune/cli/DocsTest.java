package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The repository's documents (README.md, LICENSE, docs/, every module's README) point only at
 * what the repository holds: no web address, no folder above it, every relative link resolving.
 */
class DocsTest {
  private static final Pattern LINK = Pattern.compile("\\]\\(([^)\\s]+)\\)");

  @Test
  void documentsLinkOnlyInsideTheRepository() throws IOException {
    Path root = LibraryNamesNoFlagsTest.reactorRoot();
    List<String> found = new ArrayList<>();
    List<Path> docs = documents(root);
    assertTrue(docs.contains(root.resolve("README.md")) && docs.contains(root.resolve("docs/design.md")), "" + docs);
    for (Path doc : docs) {
      String text = Files.readString(doc);
      for (String bad : new String[] {"http://", "https://", "../shared", "/work/"}) {
        if (text.contains(bad)) {
          found.add(root.relativize(doc) + " names " + bad);
        }
      }
      Matcher m = LINK.matcher(text);
      while (m.find()) {
        Path target = doc.getParent().resolve(m.group(1).replaceFirst("#.*", "")).normalize();
        if (!target.startsWith(root) || !Files.exists(target)) {
          found.add(root.relativize(doc) + " links " + m.group(1) + ", which the repository does not hold");
        }
      }
    }
    assertEquals(List.of(), found);
  }

  @Test
  void licenseIsApacheTwoAndThePomSaysSo() throws IOException {
    Path root = LibraryNamesNoFlagsTest.reactorRoot();
    assertTrue(Files.readString(root.resolve("LICENSE")).contains("Apache License\n                           Version 2.0"));
    assertTrue(Files.readString(root.resolve("pom.xml")).contains("<name>Apache-2.0</name>"));
  }

  @Test
  void readmeGivesTheMavenCoordinates() throws IOException {
    Path root = LibraryNamesNoFlagsTest.reactorRoot();
    Matcher version = Pattern.compile("<artifactId>onnx-prune-parent</artifactId>\\s*<version>([^<]+)</version>")
        .matcher(Files.readString(root.resolve("pom.xml")));
    assertTrue(version.find());
    assertTrue(Files.readString(root.resolve("README.md")).contains("<groupId>dev.onnxprune</groupId>\n"
        + "  <artifactId>onnx-prune</artifactId>\n  <version>" + version.group(1) + "</version>"),
        "README lacks the library's coordinates, version " + version.group(1));
  }

  private static List<Path> documents(Path root) throws IOException {
    List<Path> docs = new ArrayList<>(List.of(root.resolve("README.md")));
    for (String module : LibraryNamesNoFlagsTest.modules(root)) {
      try (Stream<Path> s = Files.list(root.resolve(module))) {
        s.filter(p -> p.getFileName().toString().endsWith(".md")).forEach(docs::add);
      }
    }
    if (Files.isDirectory(root.resolve("docs"))) {
      try (Stream<Path> s = Files.walk(root.resolve("docs"))) {
        s.filter(p -> p.toString().endsWith(".md")).forEach(docs::add);
      }
    }
    return docs;
  }
}
