package dev.onnxprune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.DatasetOptions;
import dev.onnxprune.runtime.Datasets;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.testmodels.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real Spark standalone cluster on this machine, on loopback with ephemeral ports: a master and
 * two workers started from Spark's jars (their own main classes), a scoring job submitted with
 * spark-submit's main class from this module's jar, its scores compared with in-process ones, and
 * the cluster stopped (every process it started, executors included), whatever happens.
 */
class StandaloneClusterIT {
  private static final Pattern MASTER_URL = Pattern.compile("Starting Spark master at (spark://[^\\s]+)");

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void taylorScoresFromTwoWorkersEqualInProcess() throws Exception {
    Path target = Path.of(System.getProperty("onnxprune.spark.jar")).getParent();
    Path jar = Path.of(System.getProperty("onnxprune.spark.jar"));
    String classpath = Files.readString(Path.of(System.getProperty("onnxprune.spark.classpath"))).trim();
    List<String> javaOptions = List.of(System.getProperty("onnxprune.spark.javaOptions").trim().split("\\s+"));
    Path home = sparkHome(target.resolve("it-spark-home"), classpath);
    Path work = Files.createTempDirectory(target, "it-cluster-");
    List<Process> started = new ArrayList<>();
    try {
      Process master = start(started, home, work.resolve("master.log"), classpath, javaOptions,
          "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0");
      String url = await(work.resolve("master.log"), MASTER_URL, master, 90);
      for (int i = 1; i <= 2; i++) {
        start(started, home, work.resolve("worker" + i + ".log"), classpath, javaOptions,
            "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
            "--cores", "1", "--memory", "1g", "--work-dir", work.resolve("worker" + i).toString(), url);
      }
      await(work.resolve("master.log"), Pattern.compile("(?s)Registering worker.*Registering worker"), master, 90);

      Path images = TestModels.file("fmnist-calib-images-idx3-ubyte.gz");
      Path labels = TestModels.file("fmnist-calib-labels-idx1-ubyte.gz");
      Path model = TestModels.model("resnet20.onnx");
      List<String> submit = new ArrayList<>(List.of("org.apache.spark.deploy.SparkSubmit", "--master", url,
          "--deploy-mode", "client", "--class", "dev.onnxprune.cli.Main", "--conf", "spark.driver.host=127.0.0.1",
          "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.ui.enabled=false",
          "--conf", "spark.executor.memory=1g", jar.toString(),
          "score", model.toString(), "--criterion", "taylor", "--images", images.toString(), "--labels",
          labels.toString(), "--mean", "0.286", "--std", "0.353", "--calib-limit", "48", "--calib-batch", "8",
          "--device", "cpu", "--threads", "1", "--json", "--spark-master", url));
      Path out = work.resolve("scores.json");
      Process job = start(started, home, work.resolve("submit.log"), classpath, javaOptions, submit.toArray(String[]::new));
      job.getOutputStream().close();
      // stdout is the JSON; the log went to submit.log
      assertTrue(job.waitFor(180, TimeUnit.SECONDS), "the job ends in time; log:\n" + tail(work.resolve("submit.log")));
      assertEquals(0, job.exitValue(), tail(work.resolve("submit.log")));
      JsonNode doc = new ObjectMapper().readTree(Files.readString(work.resolve("submit.log.out")));
      for (int i = 1; i <= 2; i++) {
        assertTrue(ranATask(work.resolve("worker" + i)), "worker " + i + "'s executor ran a shard");
      }

      Dataset data = Datasets.open(images, labels, DatasetOptions.defaults().withNormalization(
          new Normalization(new float[] {0.286f}, new float[] {0.353f})));
      double[][] local = DataCriteria.taylor(data, new Sessions(Device.CPU, 0, 1), new DataCriteria.Options()
          .batchSize(8).limit(48)).score(ChannelAnalysis.analyze(OnnxModels.read(model)));
      int compared = 0;
      for (JsonNode g : doc.get("groups")) {
        double[] expected = local[g.get("id").asInt()];
        if (expected == null) {
          assertTrue(g.get("scores").isNull());
          continue;
        }
        double scale = 0;
        for (double v : expected) {
          scale = Math.max(scale, Math.abs(v));
        }
        for (int u = 0; u < expected.length; u++) {
          assertEquals(expected[u], g.get("scores").get(u).asDouble(), 1e-9 * scale + 1e-12, "group " + g.get("id"));
          compared++;
        }
      }
      assertTrue(compared > 100, "scores compared: " + compared);
      assertEquals(48, doc.get("stats").get("sampleForwards").asLong());
    } finally {
      stop(started);
    }
  }

  /** Whether an executor under a worker's work folder logged a task it ran. */
  private static boolean ranATask(Path workerDir) throws IOException {
    try (var files = Files.walk(workerDir)) {
      for (Path f : files.filter(f -> f.getFileName().toString().equals("stderr")).toList()) {
        if (Files.readString(f).contains("Running task")) {
          return true;
        }
      }
    }
    return false;
  }

  /** A Spark home whose jars/ holds Spark's jars (links): the workers build executor commands from it. */
  private static Path sparkHome(Path home, String classpath) throws IOException {
    Path jars = home.resolve("jars");
    Files.createDirectories(jars);
    for (String entry : classpath.split(java.io.File.pathSeparator)) {
      Path source = Path.of(entry);
      Path link = jars.resolve(source.getFileName());
      if (entry.endsWith(".jar") && !Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        Files.createSymbolicLink(link, source);
      }
    }
    return home;
  }

  /** Starts a JVM running {@code args} on Spark's class path; stderr to {@code log}, stdout to {@code log.out}. */
  private static Process start(List<Process> started, Path home, Path log, String classpath, List<String> options,
      String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(options);
    cmd.add("-Xmx1g");
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(log.toFile())
        .redirectOutput(log.resolveSibling(log.getFileName() + ".out").toFile());
    pb.environment().put("SPARK_HOME", home.toString());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.environment().put("SPARK_SCALA_VERSION", "2.13");
    Process p = pb.start();
    started.add(p);
    return p;
  }

  /** Waits for {@code pattern} in {@code log}; returns its first group, or the match. */
  private static String await(Path log, Pattern pattern, Process p, int seconds) throws Exception {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    while (System.nanoTime() < end) {
      String text = Files.exists(log) ? Files.readString(log) : "";
      Matcher m = pattern.matcher(text);
      if (m.find()) {
        return m.groupCount() > 0 ? m.group(1) : m.group();
      }
      if (!p.isAlive()) {
        throw new AssertionError("the process ended (" + p.exitValue() + "); log:\n" + tail(log));
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no '" + pattern + "' in " + seconds + " s; log:\n" + tail(log));
  }

  private static String tail(Path log) throws IOException {
    if (!Files.exists(log)) {
      return "(none)";
    }
    String s = Files.readString(log);
    return s.length() > 6000 ? s.substring(s.length() - 6000) : s;
  }

  /** Stops every process started, the executors the workers started first, then the rest; in reverse order. */
  private static void stop(List<Process> started) throws InterruptedException {
    for (int i = started.size() - 1; i >= 0; i--) {
      Process p = started.get(i);
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
