package dev.onnxprune.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Value;
import dev.onnxprune.testmodels.TestModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Mask inputs: fed a plan's masks they compute what constant masks compute, per sample. */
class MaskInputsTest {
  static Stream<String> fixtures() {
    return Stream.of("resnet20.onnx", "vgg_bn.onnx", "densenet.onnx", "mobilenetv2.onnx", "senet.onnx",
        "inception.onnx");
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void maskInputsEqualConstantMasksPerSample(String file) throws Exception {
    Model original = OnnxModels.read(TestModels.model(file));
    Model constant = Oracle.copy(original);
    Model inputs = Oracle.copy(original);
    ChannelAnalysis ca = ChannelAnalysis.analyze(constant);
    PrunePlan plan = Oracle.everyKth(ca, 3, 1);
    new MaskInsertion(plan).run(plan.analysis().model());
    ChannelAnalysis ia = ChannelAnalysis.analyze(inputs);
    MaskInsertion mi = MaskInsertion.inputs(ia);
    int inserted = mi.run(inputs).masks();
    assertTrue(inserted > 0);
    assertEquals(ia.prunableGroups().size(), mi.maskInputs().size());

    // Two samples: sample 0 with the plan's masks, sample 1 with all ones (the original).
    Random r = new Random(3);
    float[] x = new float[2 * 28 * 28];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    String in = original.graph().runtimeInputs().get(0).name();
    Map<String, float[]> feeds = new HashMap<>(Map.of(in, x));
    Map<String, long[]> shapes = new HashMap<>(Map.of(in, new long[] {2, 1, 28, 28}));
    for (Map.Entry<Integer, String> e : mi.maskInputs().entrySet()) {
      ChannelGroup g = ia.groups().get(e.getKey());
      float[] m = new float[2 * g.size()];
      java.util.Arrays.fill(m, 1f);
      for (int u : plan.removed(ca.groups().get(g.id()))) {
        m[u] = 0f;
      }
      feeds.put(e.getValue(), m);
      shapes.put(e.getValue(), new long[] {2, g.size()});
    }
    float[] viaInputs = Oracle.run(inputs, feeds, shapes).get(0);
    float[] viaConstants = Oracle.run(constant, Map.of(in, x), Map.of(in, new long[] {2, 1, 28, 28})).get(0);
    float[] plain = Oracle.run(original, Map.of(in, x), Map.of(in, new long[] {2, 1, 28, 28})).get(0);
    int classes = viaInputs.length / 2;
    double maxMasked = 0;
    double maxPlain = 0;
    double changed = 0;
    for (int c = 0; c < classes; c++) {
      maxMasked = Math.max(maxMasked, Math.abs(viaInputs[c] - viaConstants[c]));
      maxPlain = Math.max(maxPlain, Math.abs(viaInputs[classes + c] - plain[classes + c]));
      changed = Math.max(changed, Math.abs(viaConstants[c] - plain[c]));
    }
    assertTrue(maxMasked < 1e-4, file + ": masked sample differs from constant masks by " + maxMasked);
    assertTrue(maxPlain < 1e-4, file + ": all-ones sample differs from the original by " + maxPlain);
    assertTrue(changed > 1e-3, file + ": the masks changed nothing");
    List<Value> maskValues = inputs.graph().runtimeInputs();
    assertEquals(1 + mi.maskInputs().size(), maskValues.size());
  }

  @Test
  void oneRowMasksReachAttentionHeadsWhoseSamplesAreMerged() throws Exception {
    // PyTorch's attention feeds its out-projection [seq * batch, width]: one mask per sample cannot
    // be applied there, one mask for the whole batch can (rows(1))
    Model original = OnnxModels.read(TestModels.model("vit_tiny.onnx"));
    Model constant = Oracle.copy(original);
    Model inputs = Oracle.copy(original);
    ChannelAnalysis ca = ChannelAnalysis.analyze(constant);
    PrunePlan.Builder pb = PrunePlan.builder(ca);
    for (ChannelGroup g : ca.prunableGroups()) {
      if (g.kind() == ChannelGroup.Kind.HEADS) {
        pb.remove(g, g.id() % 4, (g.id() + 2) % 4);
      }
    }
    PrunePlan plan = pb.build();
    new MaskInsertion(plan).run(constant);
    ChannelAnalysis ia = ChannelAnalysis.analyze(inputs);
    List<ChannelGroup> heads = ia.prunableGroups().stream().filter(g -> g.kind() == ChannelGroup.Kind.HEADS).toList();
    assertEquals(3, heads.size());
    Model perSample = Oracle.copy(original);
    ChannelAnalysis pa = ChannelAnalysis.analyze(perSample);
    MaskInsertion refused = MaskInsertion.inputs(pa, pa.prunableGroups().stream()
        .filter(g -> g.kind() == ChannelGroup.Kind.HEADS).toList());
    refused.run(perSample);
    assertEquals(3, refused.unmasked().size(), "per sample: " + refused.unmasked());
    MaskInsertion mi = MaskInsertion.inputs(ia, heads).rows(1);
    assertEquals(3, mi.run(inputs).masks());
    assertEquals(3, mi.maskInputs().size());

    Random r = new Random(5);
    float[] x = new float[2 * 28 * 28];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    String in = original.graph().runtimeInputs().get(0).name();
    Map<String, float[]> feeds = new HashMap<>(Map.of(in, x));
    Map<String, long[]> shapes = new HashMap<>(Map.of(in, new long[] {2, 1, 28, 28}));
    for (Map.Entry<Integer, String> e : mi.maskInputs().entrySet()) {
      ChannelGroup g = ia.groups().get(e.getKey());
      float[] m = new float[g.size()];
      java.util.Arrays.fill(m, 1f);
      for (int u : plan.removed(ca.groups().get(g.id()))) {
        m[u] = 0f;
      }
      feeds.put(e.getValue(), m);
      shapes.put(e.getValue(), new long[] {1, g.size()});
    }
    float[] viaInputs = Oracle.run(inputs, feeds, shapes).get(0);
    float[] viaConstants = Oracle.run(constant, Map.of(in, x), Map.of(in, new long[] {2, 1, 28, 28})).get(0);
    float[] plain = Oracle.run(original, Map.of(in, x), Map.of(in, new long[] {2, 1, 28, 28})).get(0);
    double diff = 0;
    double changed = 0;
    for (int i = 0; i < viaInputs.length; i++) {
      diff = Math.max(diff, Math.abs(viaInputs[i] - viaConstants[i]));
      changed = Math.max(changed, Math.abs(viaConstants[i] - plain[i]));
    }
    assertTrue(diff < 1e-5, "one-row head masks differ from constant masks by " + diff);
    assertTrue(changed > 1e-2, "the masks changed the logits: " + changed);
  }
}
