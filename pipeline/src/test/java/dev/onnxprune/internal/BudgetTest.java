package dev.onnxprune.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The budget's share used and the projection that gives up on a run whose pace cannot meet the target. */
class BudgetTest {
  @Test
  void aSteadyPaceThatMeetsTheTargetAtTheEndOfItsBudgetIsNeverGivenUp() {
    Budget b = new Budget(100, null);
    for (int step = 1; step < 100; step++) {
      assertNull(b.projection(step, step / 100.0), "step " + step);
    }
  }

  @Test
  void aPaceThatWouldNeedMoreThanTwiceItsRecentRateIsGivenUpWithTheNumbers() {
    Budget b = new Budget(100, null);
    // half the way in the first 10 steps, then 0.2% a step: 0.5 + 2 * 0.2 * 0.8 < 1 at step 20
    String why = null;
    int step = 1;
    for (; step <= 100 && why == null; step++) {
      double progress = step <= 10 ? 0.05 * step : 0.5 + 0.002 * (step - 10);
      why = b.projection(step, progress);
    }
    assertNotNull(why);
    assertEquals(21, step, "given up at the first check, a fifth of the budget");
    assertEquals("at 20% of its budget it had gone 52% of the way to the target and 2% over the last 10% of the"
        + " budget: even at 2x that rate it would end at 84% of the way", why);
  }

  @Test
  void aRunThatSpeedsUpIsJudgedByItsRecentPace() {
    Budget b = new Budget(100, null);
    // nothing in the first 15 steps, then 1.5% a step: at step 20 the recent rate (steps 10-20)
    // projects 0.075 + 2 * 0.75 * 0.8 >= 1
    for (int step = 1; step <= 40; step++) {
      double progress = step <= 15 ? 0 : 0.015 * (step - 15);
      assertNull(b.projection(step, progress), "step " + step);
    }
  }

  @Test
  void theShareUsedIsTheLargerOfStepsAndTime() {
    Budget b = new Budget(10, Duration.ofDays(1));
    assertEquals(0.3, b.used(3), 1e-6);
    Budget spent = new Budget(1_000_000, Duration.ofNanos(1));
    assertTrue(spent.outOfTime());
    assertEquals(1.0, Math.min(1, spent.used(0)), 1e-12);
    assertTrue(!new Budget(10, null).outOfTime(), "no time budget is never out of time");
  }

  @Test
  void aProjectionIsDueAfterEachHundredthOfTheBudget() {
    Budget b = new Budget(1000, null);
    assertTrue(b.due(0));
    b.projection(0, 0);
    assertTrue(!b.due(9));
    assertTrue(b.due(10));
  }
}
