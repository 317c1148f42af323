package dev.onnxprune.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.onnxprune.cli.Main;
import dev.onnxprune.graph.GraphVerifier;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.ModelChecker;
import dev.onnxprune.graph.OnnxModels;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * The prune path as a user runs it: {@code inspect --groups}, {@code prune} with a criterion and
 * target drawn from the input, {@code convert --fold-bn} and {@code mask}, in-process on a mutated
 * model ({@link ModelMutator}). A run must end with exit code 0, 1 (one line naming what is wrong)
 * or 2, never in an "internal error" (an exception the code did not expect); a model that prune,
 * fold-bn or mask writes must be valid ({@link ModelChecker}, {@link GraphVerifier}): they refuse
 * invalid input.
 */
class PruneFuzzTest {
  private static final String[] CRITERIA = {"l1", "l2", "bn", "fpgm", "random"};

  @FuzzTest(maxDuration = "10m")
  void prunesMutatedModels(FuzzedDataProvider data) throws IOException {
    var seeds = Seeds.models();
    var seed = seeds.get(data.consumeInt(0, seeds.size() - 1));
    int command = data.consumeInt(0, 3);
    List<String> options = options(command, data);
    byte[] model = ModelMutator.mutate(seed, data).toByteArray();
    try (Scratch dir = Scratch.create()) {
      Path in = Seeds.write(dir.path(), model);
      Path out = dir.path().resolve("out.onnx");
      List<String> args = new ArrayList<>(List.of(switch (command) {
        case 0 -> "inspect";
        case 1 -> "prune";
        case 2 -> "convert";
        default -> "mask";
      }, in.toString()));
      if (command != 0) {
        args.addAll(List.of("-o", out.toString()));
      }
      args.addAll(options);
      args.add("--verbose"); // the stack trace of a failure goes into the finding
      StringWriter err = new StringWriter();
      CommandLine cli = new CommandLine(new Main());
      cli.setOut(new PrintWriter(new StringWriter(), true));
      cli.setErr(new PrintWriter(err, true));
      int code = cli.execute(args.toArray(new String[0]));
      String said = err.toString();
      assertFalse(said.contains("internal error"), String.join(" ", args) + "\n" + said);
      assertTrue(code >= 0 && code <= 2, "exit code " + code + "\n" + said);
      if (code == 0 && command != 0 && Files.exists(out)) {
        Model written = OnnxModels.read(out);
        if (command != 2 || options.contains("--fold-bn")) {
          // prune, mask and fold-bn refuse invalid models, so what they write is valid
          assertEquals(List.of(), GraphVerifier.check(written), String.join(" ", args));
          assertEquals(List.of(), ModelChecker.check(written), String.join(" ", args));
        }
      }
    }
  }

  private static List<String> options(int command, FuzzedDataProvider data) {
    List<String> o = new ArrayList<>();
    switch (command) {
      case 0 -> o.add("--groups");
      case 1 -> {
        o.addAll(List.of("--criterion", data.pickValue(CRITERIA)));
        String target = data.pickValue(new String[] {"--ratio", "--flops", "--params"});
        o.addAll(List.of(target, Double.toString(data.consumeInt(1, 9) / 10.0)));
        if (data.consumeBoolean()) {
          o.add("--global");
        }
        if (data.consumeBoolean()) {
          o.addAll(List.of("--round", Integer.toString(data.pickValue(new int[] {2, 4, 8}))));
        }
        if (data.consumeBoolean()) {
          o.addAll(List.of("--min-channels", Integer.toString(data.consumeInt(1, 4))));
        }
      }
      case 2 -> {
        if (data.consumeBoolean()) {
          o.add("--fold-bn");
        }
      }
      default -> {
        if (data.consumeBoolean()) {
          o.addAll(List.of("--nm", "2:4"));
        } else {
          o.addAll(List.of("--sparsity", "0.5"));
          if (data.consumeBoolean()) {
            o.add("--global");
          }
        }
      }
    }
    return o;
  }
}
