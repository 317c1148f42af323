package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Tensor;
import dev.onnxprune.graph.Value;
import dev.onnxprune.runtime.Batch;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * One training step of the resnet20 fixture against PyTorch ({@code
 * testmodels/torch_reference_step.py}): SGD(lr 0.01, momentum 0.9, weight decay 5e-4), train-mode
 * BatchNorm (batch statistics, unbiased running variance), mean cross-entropy, the first 32
 * calibration images. Errors are relative to the tensor's scale: {@code max|ours - torch| /
 * max|torch|}, for the parameters after the step and, more telling, for the step itself
 * ({@code p_after - p_before}).
 */
class PyTorchAgreementTest {
  static final double TOL = 1e-4;

  @Test
  void sgdStepOfResnet20MatchesPyTorch() throws Exception {
    Model ref = Fixtures.model("resnet20_sgd_step.onnx");
    Map<String, Tensor> torch = new HashMap<>();
    for (Value v : ref.graph().initializers()) {
      torch.put(v.name(), v.initializer());
    }
    Model m = Fixtures.model("resnet20.onnx");
    TrainingOptions o = TrainingOptions.builder().optimizer(Optimizer.sgd(0.9, 5e-4)).build();
    TrainingArtifact a = TrainingArtifact.build(m, o);
    Map<String, Tensor> before = new HashMap<>();
    for (Value v : a.checkpoint().graph().initializers()) {
      before.put(v.name(), v.initializer());
    }
    Batch b = Fixtures.calibration(32);
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      double loss = s.step(b, 0.01).loss();
      double torchLoss = torch.get("loss").toFloatArray()[0];
      double lossErr = Math.abs(loss - torchLoss) / Math.abs(torchLoss);
      Map<String, Tensor> after = s.state();
      double worstParam = 0;
      double worstStep = 0;
      double worstBuffer = 0;
      String worstStepName = "";
      int compared = 0;
      for (ArtifactSpec.StateTensor st : a.spec().state()) {
        if (st.kind().equals(ArtifactSpec.OPTIMIZER)) {
          continue;
        }
        Tensor t = torch.get(st.name());
        assertNotNull(t, "PyTorch has " + st.name());
        float[] ours = after.get(st.name()).toFloatArray();
        float[] theirs = t.toFloatArray();
        float[] init = before.get(st.name()).toFloatArray();
        double e = relErr(ours, theirs, null);
        if (st.kind().equals(ArtifactSpec.BUFFER)) {
          worstBuffer = Math.max(worstBuffer, e);
        } else {
          worstParam = Math.max(worstParam, e);
          double d = relErr(ours, theirs, init);
          if (d > worstStep) {
            worstStep = d;
            worstStepName = st.name();
          }
        }
        compared++;
      }
      System.out.printf("PyTorch agreement (%d tensors): loss %.7f vs %.7f (rel %.1e); parameters max rel %.1e;"
          + " step (p_after - p_before) max rel %.1e (%s); running stats max rel %.1e%n", compared, loss, torchLoss,
          lossErr, worstParam, worstStep, worstStepName, worstBuffer);
      assertEquals(65 + 42, compared);
      assertTrue(lossErr <= TOL, "loss " + loss + " vs PyTorch " + torchLoss);
      assertTrue(worstParam <= TOL, "parameters: " + worstParam);
      assertTrue(worstBuffer <= TOL, "running statistics: " + worstBuffer);
      assertTrue(worstStep <= 1e-3, "update of " + worstStepName + ": " + worstStep);
    }
  }

  /** max|a - b| / max|b|, of the differences from {@code base} when given. */
  private static double relErr(float[] a, float[] b, float[] base) {
    double num = 0;
    double den = 1e-30;
    for (int i = 0; i < a.length; i++) {
      double x = base == null ? a[i] : (double) a[i] - base[i];
      double y = base == null ? b[i] : (double) b[i] - base[i];
      num = Math.max(num, Math.abs(x - y));
      den = Math.max(den, Math.abs(y));
    }
    return num / den;
  }

  @Test
  void twoAdamWStepsOfResnet20MatchPyTorch() throws Exception {
    Model ref = Fixtures.model("resnet20_adamw_steps.onnx");
    Map<String, Tensor> torch = new HashMap<>();
    for (Value v : ref.graph().initializers()) {
      torch.put(v.name(), v.initializer());
    }
    TrainingArtifact a = TrainingArtifact.build(Fixtures.model("resnet20.onnx"),
        TrainingOptions.builder().optimizer(Optimizer.adamW(0.01)).build());
    Map<String, Tensor> before = new HashMap<>();
    for (Value v : a.checkpoint().graph().initializers()) {
      before.put(v.name(), v.initializer());
    }
    Batch b = Fixtures.calibration(32);
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      double l1 = s.step(b, 1e-3).loss();
      double l2 = s.step(b, 1e-3).loss();
      double t1 = torch.get("loss1").toFloatArray()[0];
      double t2 = torch.get("loss2").toFloatArray()[0];
      Map<String, Tensor> after = s.state();
      double worstParam = 0;
      double worstStep = 0;
      for (Map.Entry<String, Tensor> e : torch.entrySet()) {
        if (e.getKey().startsWith("loss")) {
          continue;
        }
        float[] ours = after.get(e.getKey()).toFloatArray();
        float[] theirs = e.getValue().toFloatArray();
        worstParam = Math.max(worstParam, relErr(ours, theirs, null));
        worstStep = Math.max(worstStep, relErr(ours, theirs, before.get(e.getKey()).toFloatArray()));
      }
      System.out.printf("PyTorch agreement, 2 AdamW steps: losses %.7f, %.7f vs %.7f, %.7f; parameters max rel %.1e;"
          + " update max rel %.1e%n", l1, l2, t1, t2, worstParam, worstStep);
      assertTrue(Math.abs(l1 - t1) / t1 <= TOL && Math.abs(l2 - t2) / t2 <= TOL, l1 + ", " + l2);
      assertTrue(worstParam <= TOL, "parameters: " + worstParam);
      assertTrue(worstStep <= 1e-2, "updates: " + worstStep);
    }
  }

  @Test
  void sgdStepOfVitTinyMatchesPyTorch() throws Exception {
    // a transformer: Gather, Erf, Pow, Sqrt, Expand, Where, Softmax, the decomposed LayerNorm, class
    // token and position table all on the gradient path
    Model ref = Fixtures.model("vit_tiny_sgd_step.onnx");
    Map<String, Tensor> torch = new HashMap<>();
    for (Value v : ref.graph().initializers()) {
      torch.put(v.name(), v.initializer());
    }
    TrainingArtifact a = TrainingArtifact.build(Fixtures.model("vit_tiny.onnx"),
        TrainingOptions.builder().optimizer(Optimizer.sgd(0.9, 5e-4)).build());
    Map<String, Tensor> before = new HashMap<>();
    for (Value v : a.checkpoint().graph().initializers()) {
      before.put(v.name(), v.initializer());
    }
    try (TrainingSession s = TrainingSession.open(a, Ort.SESSIONS)) {
      double loss = s.step(Fixtures.calibration(32), 0.01).loss();
      double torchLoss = torch.get("loss").toFloatArray()[0];
      Map<String, Tensor> after = s.state();
      double worstParam = 0;
      double worstStep = 0;
      String worstName = "";
      int compared = 0;
      for (ArtifactSpec.StateTensor st : a.spec().state(ArtifactSpec.PARAMETER)) {
        Tensor t = torch.get(st.name());
        assertNotNull(t, "PyTorch has " + st.name());
        float[] ours = after.get(st.name()).toFloatArray();
        worstParam = Math.max(worstParam, relErr(ours, t.toFloatArray(), null));
        double d = relErr(ours, t.toFloatArray(), before.get(st.name()).toFloatArray());
        if (d > worstStep) {
          worstStep = d;
          worstName = st.name();
        }
        compared++;
      }
      System.out.printf("PyTorch agreement, vit_tiny (%d parameters): loss %.7f vs %.7f; parameters max rel %.1e;"
          + " step max rel %.1e (%s)%n", compared, loss, torchLoss, worstParam, worstStep, worstName);
      assertEquals(torch.size() - 2, compared, "every PyTorch parameter is trained");
      assertTrue(Math.abs(loss - torchLoss) / torchLoss <= TOL, loss + " vs " + torchLoss);
      assertTrue(worstParam <= TOL, "parameters: " + worstParam);
      assertTrue(worstStep <= 1e-3, "update of " + worstName + ": " + worstStep);
    }
  }
}
