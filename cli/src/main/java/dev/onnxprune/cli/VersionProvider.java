package dev.onnxprune.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/**
 * The project version, from the Maven descriptor that the jar (and the shaded jar) carries;
 * "development build" when running from class folders.
 */
public final class VersionProvider implements IVersionProvider {
  private static final String POM_PROPERTIES = "/META-INF/maven/dev.onnxprune/onnx-prune-cli/pom.properties";

  @Override
  public String[] getVersion() {
    return new String[] {
        "onnx-prune " + projectVersion(),
        "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"
    };
  }

  /** The Maven project version, or "development build" when no descriptor is on the class path. */
  public static String projectVersion() {
    try (InputStream in = VersionProvider.class.getResourceAsStream(POM_PROPERTIES)) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        String v = p.getProperty("version");
        if (v != null && !v.isBlank()) {
          return v;
        }
      }
    } catch (IOException e) {
      // an unreadable descriptor only costs the version string
    }
    String fromManifest = VersionProvider.class.getPackage().getImplementationVersion();
    return fromManifest != null ? fromManifest : "development build";
  }
}
