package dev.onnxprune.graph.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import com.google.protobuf.CodedInputStream;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.conformance.OrtRunner.NotComparableException;
import dev.onnxprune.graph.conformance.TensorProtos.Decoded;
import dev.onnxprune.graph.proto.Onnx.GraphProto;
import dev.onnxprune.graph.proto.Onnx.ModelProto;
import dev.onnxprune.graph.proto.Onnx.TensorProto;
import dev.onnxprune.graph.proto.Onnx.TypeProto;
import dev.onnxprune.graph.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX's own test corpus ({@link Corpus}): every model must survive our read and write exactly,
 * and every rewritten model must compute the corpus's expected outputs in ONNX Runtime wherever
 * ORT runs the original. Skipped when the corpus is not installed. Summaries go to stdout and to
 * {@code target/conformance-summary.txt}.
 */
class OnnxBackendCorpusTest {
  /** ONNX's runner uses rtol 1e-3 and atol 1e-7; ORT's CPU kernels need a little more absolute slack. */
  private static final double RTOL = 1e-3;
  private static final double ATOL = 1e-5;
  private static final Path SUMMARY = Path.of("target", "conformance-summary.txt");
  private static final Map<String, List<String>> REPORT = new TreeMap<>();

  @TempDir
  Path tmp;

  @Test
  void everyCorpusModelRoundTripsToAnEqualModelProtoWithStableBytes() throws IOException {
    List<Path> models = Corpus.models();
    List<String> failures = new ArrayList<>();
    int equal = 0;
    int identicalToOriginal = 0;
    int stable = 0;
    Path first = tmp.resolve("first.onnx");
    Path second = tmp.resolve("second.onnx");
    for (Path file : models) {
      String name = Corpus.caseName(file);
      try {
        byte[] original = Files.readAllBytes(file);
        ModelProto expected = parse(original);
        OnnxModels.write(OnnxModels.read(file), first);
        byte[] written = Files.readAllBytes(first);
        String diff = ProtoDiff.firstDifference(expected, parse(written));
        if (diff != null) {
          failures.add(name + ": written model differs at " + diff);
          continue;
        }
        equal++;
        if (Arrays.equals(original, written)) {
          identicalToOriginal++;
        }
        OnnxModels.write(OnnxModels.read(first), second);
        if (Arrays.equals(written, Files.readAllBytes(second))) {
          stable++;
        } else {
          failures.add(name + ": writing the re-read model gives different bytes");
        }
      } catch (IOException | RuntimeException e) {
        failures.add(name + ": " + e);
      }
    }
    String summary = String.format("round trip: read/write equal %d/%d (byte-identical to the original %d),"
        + " read-write-read-write byte-stable %d/%d, failed %d", equal, models.size(), identicalToOriginal, stable,
        models.size(), failures.size());
    record("1 round trip", summary, failures);
    assertEquals(List.of(), failures, summary);
  }

  /**
   * The corpus's models are valid ONNX, so {@link ModelChecker} finds nothing in any of them
   * (convert warns of what it finds: a valid model must give no warning).
   */
  @Test
  void everyCorpusModelPassesTheModelChecker() throws IOException {
    List<Path> models = Corpus.models();
    List<String> failures = new ArrayList<>();
    for (Path file : models) {
      try {
        for (String p : ModelChecker.check(OnnxModels.read(file))) {
          failures.add(Corpus.caseName(file) + ": " + p);
        }
      } catch (IOException | RuntimeException e) {
        failures.add(Corpus.caseName(file) + ": " + e);
      }
    }
    String summary = "model checker: " + (models.size() - failures.stream().map(f -> f.split(":")[0]).distinct()
        .count()) + "/" + models.size() + " valid";
    record("3 model checker", summary, failures);
    assertEquals(List.of(), failures, summary);
  }

  /** Outcome of one test case directory, as counted in the summary. */
  private enum Outcome { PASSED, ORT_UNSUPPORTED, ORT_DIFFERS_TOO, NOT_COMPARABLE, FAILED }

  @Test
  void everyRewrittenCorpusModelComputesTheExpectedOutputsInOnnxRuntime() throws IOException {
    List<Path> models = Corpus.models();
    Map<Outcome, Integer> counts = new TreeMap<>();
    List<String> failures = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    int dataSets = 0;
    for (Path file : models) {
      String name = Corpus.caseName(file);
      List<Path> sets = dataSets(file.getParent());
      if (sets.isEmpty()) {
        continue;
      }
      dataSets += sets.size();
      Outcome outcome;
      String detail;
      try {
        String[] why = new String[1];
        outcome = runCase(file, sets, why);
        detail = why[0];
      } catch (IOException | RuntimeException e) {
        outcome = Outcome.FAILED;
        detail = e.toString();
      }
      counts.merge(outcome, 1, Integer::sum);
      if (outcome == Outcome.FAILED) {
        failures.add(name + ": " + detail);
      } else if (outcome != Outcome.PASSED) {
        notes.add(outcome + " " + name + ": " + detail);
      }
    }
    int cases = counts.values().stream().mapToInt(Integer::intValue).sum();
    String summary = String.format("ORT: %d cases with test data (%d data sets): passed %d, ORT-unsupported %d,"
        + " ORT differs from the reference on the original too %d, not comparable %d, failed %d",
        cases, dataSets, counts.getOrDefault(Outcome.PASSED, 0), counts.getOrDefault(Outcome.ORT_UNSUPPORTED, 0),
        counts.getOrDefault(Outcome.ORT_DIFFERS_TOO, 0), counts.getOrDefault(Outcome.NOT_COMPARABLE, 0),
        failures.size());
    List<String> lines = new ArrayList<>(failures);
    lines.addAll(notes);
    record("2 onnx runtime", summary, lines);
    assertTrue(cases > 0, "no test case with test_data_set_* under " + Corpus.DIR);
    assertEquals(List.of(), failures, summary);
  }

  /**
   * Runs the original, then our rewrite, on every data set of one case. The original decides
   * whether ORT supports the case; only a rewrite that behaves worse is a failure.
   */
  private Outcome runCase(Path file, List<Path> sets, String[] why) throws IOException {
    ModelProto proto = parse(Files.readAllBytes(file));
    GraphProto g = proto.getGraph();
    Set<String> initializers = new HashSet<>();
    g.getInitializerList().forEach(t -> initializers.add(t.getName()));
    g.getSparseInitializerList().forEach(t -> initializers.add(t.getValues().getName()));
    List<String> inputNames = new ArrayList<>();
    for (ValueInfoProto vi : g.getInputList()) {
      if (!initializers.contains(vi.getName())) {
        if (!isTensorOrUntyped(vi)) {
          why[0] = "input '" + vi.getName() + "' is a " + vi.getType().getValueCase();
          return Outcome.NOT_COMPARABLE;
        }
        inputNames.add(vi.getName());
      }
    }
    List<String> outputNames = new ArrayList<>();
    for (ValueInfoProto vi : g.getOutputList()) {
      if (!isTensorOrUntyped(vi)) {
        why[0] = "output '" + vi.getName() + "' is a " + vi.getType().getValueCase();
        return Outcome.NOT_COMPARABLE;
      }
      outputNames.add(vi.getName());
    }
    List<Map<String, Decoded>> inputs = new ArrayList<>();
    List<List<Decoded>> expected = new ArrayList<>();
    try {
      for (Path set : sets) {
        Map<String, Decoded> in = new LinkedHashMap<>();
        List<Path> files = numbered(set, "input_");
        for (int i = 0; i < files.size(); i++) {
          in.put(inputNames.get(i), TensorProtos.decode(TensorProto.parseFrom(Files.readAllBytes(files.get(i)))));
        }
        inputs.add(in);
        List<Decoded> out = new ArrayList<>();
        for (Path f : numbered(set, "output_")) {
          out.add(TensorProtos.decode(TensorProto.parseFrom(Files.readAllBytes(f))));
        }
        expected.add(out);
      }
    } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
      why[0] = "test data: " + e.getMessage();
      return Outcome.NOT_COMPARABLE;
    }

    List<List<Decoded>> originalOut = new ArrayList<>();
    try (OrtRunner ort = OrtRunner.open(file)) {
      for (Map<String, Decoded> in : inputs) {
        originalOut.add(ort.run(in, outputNames));
      }
    } catch (OrtException e) {
      why[0] = firstLine(e);
      return Outcome.ORT_UNSUPPORTED;
    } catch (NotComparableException e) {
      why[0] = e.getMessage();
      return Outcome.NOT_COMPARABLE;
    }

    Model model = OnnxModels.read(file);
    Path rewritten = tmp.resolve("rewritten.onnx");
    OnnxModels.write(model, rewritten);
    List<List<Decoded>> ours = new ArrayList<>();
    try (OrtRunner ort = OrtRunner.open(rewritten)) {
      for (Map<String, Decoded> in : inputs) {
        ours.add(ort.run(in, outputNames));
      }
    } catch (OrtException | RuntimeException | NotComparableException e) {
      why[0] = "ORT runs the original but not our rewrite: " + firstLine(e);
      return Outcome.FAILED;
    }

    Outcome outcome = Outcome.PASSED;
    for (int s = 0; s < sets.size(); s++) {
      for (int o = 0; o < expected.get(s).size(); o++) {
        Decoded want = expected.get(s).get(o);
        String ourDiff = TensorProtos.compare(want, ours.get(s).get(o), RTOL, ATOL);
        if (ourDiff == null) {
          continue;
        }
        String where = sets.get(s).getFileName() + " output '" + outputNames.get(o) + "': ";
        if (TensorProtos.compare(want, originalOut.get(s).get(o), RTOL, ATOL) == null) {
          why[0] = where + "the original matches the reference, our rewrite does not: " + ourDiff;
          return Outcome.FAILED;
        }
        outcome = Outcome.ORT_DIFFERS_TOO;
        why[0] = where + ourDiff;
      }
    }
    return outcome;
  }

  private static boolean isTensorOrUntyped(ValueInfoProto vi) {
    return !vi.hasType() || vi.getType().getValueCase() == TypeProto.ValueCase.TENSOR_TYPE
        || vi.getType().getValueCase() == TypeProto.ValueCase.VALUE_NOT_SET;
  }

  private static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return e.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
  }

  private static ModelProto parse(byte[] bytes) throws IOException {
    CodedInputStream in = CodedInputStream.newInstance(bytes);
    in.setRecursionLimit(1000);
    return ModelProto.parseFrom(in);
  }

  private static List<Path> dataSets(Path caseDir) throws IOException {
    try (Stream<Path> s = Files.list(caseDir)) {
      return s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().startsWith("test_data_set_"))
          .sorted().collect(Collectors.toList());
    }
  }

  /** {@code prefix0.pb, prefix1.pb, ...} of a data set, in numeric order. */
  private static List<Path> numbered(Path set, String prefix) {
    List<Path> out = new ArrayList<>();
    for (int i = 0; Files.exists(set.resolve(prefix + i + ".pb")); i++) {
      out.add(set.resolve(prefix + i + ".pb"));
    }
    return out;
  }

  private static synchronized void record(String key, String summary, List<String> lines) {
    System.out.println("[conformance] " + summary);
    List<String> all = new ArrayList<>();
    all.add(summary);
    lines.forEach(l -> all.add("  " + l));
    REPORT.put(key, all);
  }

  @AfterAll
  static void writeSummary() throws IOException {
    if (REPORT.isEmpty()) {
      return;
    }
    Files.createDirectories(SUMMARY.getParent());
    List<String> out = new ArrayList<>();
    out.add("ONNX test corpus " + Corpus.DIR);
    REPORT.values().forEach(out::addAll);
    Files.write(SUMMARY, out);
  }
}
