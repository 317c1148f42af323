package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.testmodels.TestModels;
import java.io.File;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@code ```java} block of the README, as it stands there, compiles against the library and
 * runs. A block is a program: its {@code import} lines, then statements, which become the body of
 * a {@code main} (which may throw). It runs in its own JVM, in a folder that holds the files the
 * README's examples name: {@code model.onnx} (the bundled ResNet-20) and Fashion-MNIST data as
 * {@code train-images-idx3-ubyte.gz}, {@code train-labels-idx1-ubyte.gz} (the 1,000 bundled
 * calibration images), {@code t10k-images-idx3-ubyte.gz} and {@code t10k-labels-idx1-ubyte.gz}
 * (the 2,000 bundled test images).
 */
class ReadmeSnippetsTest {
  private static final Pattern BLOCK = Pattern.compile("(?m)^```java\\n(.*?)^```", Pattern.DOTALL);

  /** The files a snippet's folder holds, by the name the README uses. */
  private static final Map<String, Path> FILES = Map.of(
      "model.onnx", TestModels.model("resnet20.onnx"),
      "train-images-idx3-ubyte.gz", TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
      "train-labels-idx1-ubyte.gz", TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"),
      "t10k-images-idx3-ubyte.gz", TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
      "t10k-labels-idx1-ubyte.gz", TestModels.file("fmnist-test-labels-idx1-ubyte.gz"));

  @TempDir
  static Path tmp;

  private static List<String> snippets;

  @BeforeAll
  static void compile() throws IOException {
    String readme = Files.readString(LibraryNamesNoFlagsTest.reactorRoot().resolve("README.md"));
    snippets = new ArrayList<>();
    Matcher m = BLOCK.matcher(readme);
    while (m.find()) {
      snippets.add(m.group(1));
    }
    assertTrue(snippets.size() >= 3, "the README's Java API has " + snippets.size() + " java blocks");
    Path src = Files.createDirectories(tmp.resolve("src"));
    List<String> options = List.of("-d", Files.createDirectories(tmp.resolve("classes")).toString(), "-classpath",
        System.getProperty("java.class.path"), "-encoding", "UTF-8");
    List<Path> sources = new ArrayList<>();
    for (int i = 0; i < snippets.size(); i++) {
      sources.add(Files.writeString(src.resolve(className(i) + ".java"), program(className(i), snippets.get(i))));
    }
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    StringWriter messages = new StringWriter();
    boolean compiled = javac.getTask(messages, null, null, options, null,
        javac.getStandardFileManager(null, null, StandardCharsets.UTF_8).getJavaFileObjectsFromPaths(sources)).call();
    assertTrue(compiled, "a README java block does not compile:\n" + messages);
  }

  @TestFactory
  List<DynamicTest> everyJavaBlockRuns() {
    List<DynamicTest> tests = new ArrayList<>();
    for (int i = 0; i < snippets.size(); i++) {
      int n = i;
      String first = snippets.get(i).lines().filter(l -> !l.isBlank() && !l.startsWith("import ")).findFirst()
          .orElse("");
      tests.add(DynamicTest.dynamicTest("block " + (n + 1) + ": " + first, () -> run(n)));
    }
    return tests;
  }

  private static void run(int i) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("run" + i));
    for (Map.Entry<String, Path> f : FILES.entrySet()) {
      Files.copy(f.getValue(), dir.resolve(f.getKey()));
    }
    Path log = tmp.resolve("run" + i + ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-Xmx2g", "-cp", tmp.resolve("classes") + File.pathSeparator
        + System.getProperty("java.class.path"), className(i)).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
    boolean done = p.waitFor(10, TimeUnit.MINUTES);
    if (!done) {
      p.destroyForcibly();
    }
    String output = Files.readString(log);
    System.out.println("README java block " + (i + 1) + ":\n" + output);
    assertTrue(done, "README java block " + (i + 1) + " ran past 10 minutes:\n" + output);
    assertEquals(0, p.exitValue(), "README java block " + (i + 1) + " failed:\n" + snippets.get(i) + "\n" + output);
  }

  private static String className(int i) {
    return "ReadmeSnippet" + (i + 1);
  }

  /** The block as a class: its imports first, its statements as main's body. */
  static String program(String name, String block) {
    StringBuilder imports = new StringBuilder();
    StringBuilder body = new StringBuilder();
    for (String line : block.split("\n", -1)) {
      if (line.startsWith("import ") && body.toString().isBlank()) {
        imports.append(line).append('\n');
      } else {
        body.append("    ").append(line).append('\n');
      }
    }
    return imports + "\npublic class " + name + " {\n  public static void main(String[] args) throws Exception {\n"
        + body + "  }\n}\n";
  }
}
