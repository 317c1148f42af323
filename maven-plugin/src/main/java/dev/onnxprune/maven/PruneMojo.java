package dev.onnxprune.maven;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.OnnxPruneException;
import dev.onnxprune.prune.PipelineResult;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedMap;
import org.apache.maven.plugin.Mojo;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugin.MojoFailureException;
import org.apache.maven.plugin.logging.Log;
import org.apache.maven.plugin.logging.SystemStreamLog;
import org.apache.maven.plugins.annotations.LifecyclePhase;
import org.apache.maven.plugins.annotations.Parameter;

/**
 * Prunes one model ({@code <model>} and the elements beside it) or several ({@code <models>}, each
 * {@code <model>} with its own elements, the plugin-level ones as its defaults) into
 * {@code <outputDirectory>}.
 *
 * <p>Bound to {@code process-resources}: after the project's resources are copied to
 * {@code target/classes}, so the pruned model lands there and is packaged into the jar like a
 * resource, and before {@code test}, so that tests can load it from the class path.
 *
 * <p>Up to date by content: a model whose input files, configuration and plugin version match the
 * record beside its unchanged output ({@code OUTPUT.onnx-prune.json}) is skipped with one line;
 * otherwise the log says what changed. A configuration error fails the build naming the POM
 * element; so does work that fails: the target cannot be reached, verification failed, or top-1
 * fell by more than {@code <maxAccuracyDrop>}.
 */
// An adapter over the library's PruningPipeline (PipelineConfig); BuildStamp decides what is up to
// date, PomNames words the errors, MavenLog writes the run to the log.
@org.apache.maven.plugins.annotations.Mojo(name = "prune", defaultPhase = LifecyclePhase.PROCESS_RESOURCES,
    threadSafe = true)
public final class PruneMojo extends ModelSettings implements Mojo {
  /** Skip the goal (also {@code -Donnx-prune.skip}). */
  @Parameter(property = "onnx-prune.skip", defaultValue = "false")
  boolean skip;

  /** The folder {@code <output>} is relative to; the classes folder, so that the jar packages the models. */
  @Parameter(defaultValue = "${project.build.outputDirectory}", required = true)
  File outputDirectory;

  /**
   * Several models, each a {@code <model>} with the same elements as the plugin's configuration
   * ({@code <model>} for its file, {@code <output>}, {@code <flops>}, ...); what one does not set
   * it takes from the plugin's level. Excludes a plugin-level {@code <model>}.
   */
  @Parameter
  List<ModelSettings> models;

  @Parameter(defaultValue = "${project.basedir}", readonly = true, required = true)
  File basedir;

  @Parameter(defaultValue = "${plugin.version}", readonly = true, required = true)
  String pluginVersion;

  private Log log;

  @Override
  public void execute() throws MojoExecutionException, MojoFailureException {
    if (skip) {
      getLog().info("onnx-prune: skipped (onnx-prune.skip)");
      return;
    }
    if (models != null && !models.isEmpty() && model != null) {
      fail(null, new InvalidOptionException("models", models.size() + " models", "excludes a plugin-level <model>:"
          + " put that model in <models> too"));
    }
    List<ModelSettings> jobs = new ArrayList<>();
    Map<Path, String> outputs = new HashMap<>();
    for (ModelSettings m : models == null || models.isEmpty() ? List.<ModelSettings>of(this) : models) {
      ModelSettings s = m.resolve(this);
      try {
        PipelineConfig.check(s); // a bad value of any model is said before any work
        checkAccuracyGate(s);
        String other = outputs.putIfAbsent(output(s), s.model.getPath());
        if (other != null) {
          throw new InvalidOptionException("output", s.output, "is the output of " + other + " too: give each model"
              + " its own <output>");
        }
      } catch (InvalidOptionException e) {
        fail(name(s), e);
      }
      jobs.add(s);
    }
    for (ModelSettings s : jobs) {
      prune(s);
    }
  }

  /** Prunes one model unless it is up to date. */
  private void prune(ModelSettings s) throws MojoExecutionException, MojoFailureException {
    Path output = output(s);
    Path report = s.report == null ? null : s.report.toPath();
    try {
      SortedMap<String, String> config = s.normalised(basedir.toPath().toAbsolutePath());
      BuildStamp now = BuildStamp.of(pluginVersion, PipelineConfig.inputs(s), config);
      String why = now.staleness(BuildStamp.read(BuildStamp.fileFor(output)), output, report);
      if (why == null) {
        getLog().info("onnx-prune: " + name(s) + ": up to date, skipped (" + relative(output) + ", sha256 "
            + now.sha256().substring(0, 12) + ")");
        return;
      }
      getLog().info("onnx-prune: " + name(s) + " -> " + relative(output) + " (" + why + ")");
      Files.createDirectories(output.getParent());
      if (report != null) {
        Files.createDirectories(report.toAbsolutePath().getParent());
      }
      MavenLog log = new MavenLog(getLog());
      PipelineResult r = PipelineConfig.pipeline(s, output, log).run();
      log.stages(r);
      log.verification(r);
      Gate gate = gate(r, s.maxAccuracyDrop);
      if (gate != null && !gate.passed()) {
        Files.deleteIfExists(output); // a model that failed the gate is not packaged by a later build
        Files.deleteIfExists(BuildStamp.fileFor(output));
        throw new MojoFailureException("onnx-prune: " + name(s) + ": " + gate.text() + "; the pruned model was not"
            + " kept");
      }
      if (gate != null) {
        getLog().info("onnx-prune: accuracy gate passed: " + gate.text());
      }
      now.writeFor(output);
      getLog().info("onnx-prune: wrote " + relative(output) + (report == null ? ""
          : "; report " + relative(dev.onnxprune.report.Reports.main(report))));
    } catch (OnnxPruneException | IOException e) {
      fail(name(s), e);
    }
  }

  /**
   * Fails the build for {@code e}, met while working on the model {@code where} (null: none in
   * particular). A configuration the library refused ({@link InvalidOptionException}) or a file
   * that cannot be read or written is a {@link MojoExecutionException}: the build cannot run as
   * configured. Work whose result fails ({@link dev.onnxprune.errors.TargetUnreachableException},
   * a failed verification, data that does not fit the model) is a {@link MojoFailureException}.
   * The message speaks of POM elements ({@link PomNames}).
   */
  private void fail(String where, Exception e) throws MojoExecutionException, MojoFailureException {
    String message = "onnx-prune: " + (where == null ? "" : where + ": ") + (e instanceof InvalidOptionException ioe
        ? PomNames.translate(ioe) : PomNames.render(e.getMessage()));
    // Maven appends a cause's message that the message lacks: keep the library's keys out of the build's words
    Exception cause = message.contains(String.valueOf(e.getMessage())) ? e : null;
    if (cause == null) {
      getLog().debug(e);
    }
    if (e instanceof InvalidOptionException || e instanceof IOException) {
      throw new MojoExecutionException(message, cause);
    }
    throw new MojoFailureException(message, cause);
  }

  /** {@code <maxAccuracyDrop>} is a number of points that evaluation data can measure. */
  private static void checkAccuracyGate(ModelSettings s) {
    if (s.maxAccuracyDrop != null) {
      InvalidOptionException.require(s.maxAccuracyDrop >= 0 && s.maxAccuracyDrop <= 100, "maxAccuracyDrop",
          "in [0, 100] (percentage points of top-1)", s.maxAccuracyDrop);
      if (s.evaluationImages == null) {
        throw new InvalidOptionException("maxAccuracyDrop", s.maxAccuracyDrop, "needs <evaluationImages> to measure"
            + " top-1 on");
      }
    }
  }

  /** The accuracy gate's verdict: whether the run passed, and the numbers in words. */
  record Gate(boolean passed, String text) {}

  /**
   * The accuracy gate on {@code r}, or null when there is none: top-1 may fall from the original to
   * the final stage by at most {@code maxDrop} percentage points.
   */
  static Gate gate(PipelineResult r, Double maxDrop) {
    if (maxDrop == null) {
      return null;
    }
    PipelineResult.Stage first = r.stages().get(0);
    PipelineResult.Stage last = r.stages().get(r.stages().size() - 1);
    double points = 100 * (first.accuracy().top1() - last.accuracy().top1());
    boolean passed = points <= maxDrop;
    return new Gate(passed, String.format(Locale.ROOT, "top-1 %s (%s) -> %s (%s): a drop of %.2f points, %s"
        + " <maxAccuracyDrop> %s", MavenLog.percent(first.accuracy().top1()), first.name(),
        MavenLog.percent(last.accuracy().top1()), last.name(), points, passed ? "within" : "more than", maxDrop));
  }

  private Path output(ModelSettings s) {
    return outputDirectory.toPath().resolve(s.output).toAbsolutePath().normalize();
  }

  /** The model's file as the log names it: relative to the project. */
  private String name(ModelSettings s) {
    return s.model == null ? null : relative(s.model.toPath());
  }

  private String relative(Path p) {
    Path base = basedir.toPath().toAbsolutePath();
    Path abs = p.toAbsolutePath().normalize();
    return (abs.startsWith(base) ? base.relativize(abs) : abs).toString();
  }

  @Override
  public void setLog(Log log) {
    this.log = log;
  }

  @Override
  public Log getLog() {
    if (log == null) {
      log = new SystemStreamLog();
    }
    return log;
  }
}
