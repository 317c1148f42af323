package dev.onnxprune.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.errors.TargetUnreachableException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SensitivityAllocationTest {
  /** Three groups of 10 channels; each channel removes 1 unit of cost of 30. */
  private static final List<Integer> GROUPS = List.of(0, 1, 2);

  /** A curve of 10 channels measured at 2, 4, 6, 8 removed, with these top-1 values (baseline 0.9). */
  private static Sensitivity.Curve curve(int group, double... top1) {
    List<Sensitivity.Point> points = new ArrayList<>();
    for (int i = 0; i < top1.length; i++) {
      points.add(new Sensitivity.Point(0.2 * (i + 1), 2 * (i + 1), top1[i], 1, 0, 0, 0));
    }
    return new Sensitivity.Curve(group, List.of("conv" + group), 10, points);
  }

  private static Sensitivity.Result result(Sensitivity.Curve... curves) {
    return new Sensitivity.Result(Sensitivity.FORMAT, null, "l1", new PipelineResult.Accuracy(500, 0.9, 1, 0.3),
        List.of(0.2, 0.4, 0.6, 0.8), List.of(curves), 1, 1);
  }

  private static double reduction(Map<Integer, Integer> counts) {
    return counts.values().stream().mapToInt(Integer::intValue).sum() / 30.0;
  }

  @Test
  void robustGroupsLoseMoreThanSensitiveOnes() {
    SensitivityAllocation a = new SensitivityAllocation(result(
        curve(0, 0.9, 0.9, 0.89, 0.85),     // robust
        curve(1, 0.8, 0.5, 0.2, 0.1),       // sensitive
        curve(2, 0.9, 0.88, 0.8, 0.6)));    // in between

    Map<Integer, Integer> counts = a.allocate(GROUPS, (g, k) -> k < 9 ? k + 1 : -1, SensitivityAllocationTest::reduction,
        0.4);

    assertEquals(12, counts.values().stream().mapToInt(Integer::intValue).sum(), "40% of 30 channels: " + counts);
    assertTrue(counts.get(0) > counts.get(2) && counts.get(2) > counts.get(1), counts.toString());
    assertEquals(0, counts.get(1), "the sensitive group is spared: " + counts);
    // the uniform split (4, 4, 4) is predicted worse
    assertTrue(a.predicted(counts) < a.predicted(Map.of(0, 4, 1, 4, 2, 4)), counts.toString());
  }

  @Test
  void predictedLossInterpolatesAndNeverFallsWithMoreChannels() {
    SensitivityAllocation a = new SensitivityAllocation(result(curve(0, 0.88, 0.89, 0.80, 0.70)));

    assertEquals(0, a.predicted(0, 0), 1e-12);
    assertEquals(1, a.predicted(0, 1), 1e-9, "half of the 2 points lost at 2 channels");
    assertEquals(2, a.predicted(0, 4), 1e-9, "0.89 at 4 is taken as 0.88, the drop before it");
    assertEquals(20, a.predicted(0, 8), 1e-9);
    assertEquals(Double.POSITIVE_INFINITY, a.predicted(0, 9), "beyond what was measured");
    assertEquals(8, a.measuredMax(0));
  }

  @Test
  void theLastStepsAreGivenBackWhileTheTargetHolds() {
    SensitivityAllocation a = new SensitivityAllocation(result(curve(0, 0.9, 0.9, 0.9, 0.9), curve(1, 0.9, 0.9, 0.9,
        0.9), curve(2, 0.9, 0.9, 0.9, 0.9)));

    // steps of 4 channels: 0 -> 4 -> 8; the target needs 5 of 30
    Map<Integer, Integer> counts = a.allocate(GROUPS, (g, k) -> k + 4 <= 8 ? k + 4 : -1,
        SensitivityAllocationTest::reduction, 5 / 30.0);

    assertEquals(8, counts.values().stream().mapToInt(Integer::intValue).sum(), "two steps of 4, not more: " + counts);
  }

  @Test
  void aTargetBeyondTheCurvesIsUnreachableAndCurvesOfAnotherModelAreRefused() {
    SensitivityAllocation a = new SensitivityAllocation(result(curve(0, 0.9, 0.9, 0.9, 0.9)));

    assertThrows(TargetUnreachableException.class, () -> a.allocate(List.of(0), (g, k) -> k < 10 ? k + 1 : -1,
        c -> c.get(0) / 10.0, 0.9));
    assertEquals("allocation", assertThrows(InvalidOptionException.class, () -> a.check(Map.of(0, 12))).key());
  }
}
