package dev.onnxprune.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class SchedulesTest {
  private static final double E = 1e-12;

  @Test
  void constantAndStepDecay() {
    assertEquals(0.1, Schedules.constant(0.1).at(1000), E);
    LrSchedule s = Schedules.step(0.1, 30, 0.1);
    assertEquals(0.1, s.at(0), E);
    assertEquals(0.1, s.at(29), E);
    assertEquals(0.01, s.at(30), E);
    assertEquals(0.001, s.at(65), E);
    LrSchedule m = Schedules.multiStep(1, new long[] {80, 40}, 0.5);
    assertEquals(1, m.at(39), E);
    assertEquals(0.5, m.at(40), E);
    assertEquals(0.25, m.at(80), E);
  }

  @Test
  void cosineAnnealsToMinimum() {
    LrSchedule c = Schedules.cosine(0.1, 100, 0.001);
    assertEquals(0.1, c.at(0), E);
    assertEquals((0.1 + 0.001) / 2, c.at(50), E);
    assertEquals(0.001, c.at(100), E);
    assertEquals(0.001, c.at(150), E);
  }

  @Test
  void warmRestartsRestartAtCycleEnds() {
    LrSchedule w = Schedules.warmRestarts(1, 10, 2, 0);
    assertEquals(1, w.at(0), E);
    assertEquals(0.5, w.at(5), E);
    assertEquals(1, w.at(10), E); // second cycle, length 20
    assertEquals(0.5, w.at(20), E);
    assertEquals(1, w.at(30), E); // third cycle, length 40
    assertEquals(1, Schedules.warmRestarts(1, 10, 1, 0).at(20), E);
  }

  @Test
  void warmupThenInner() {
    LrSchedule s = Schedules.warmup(4, Schedules.constant(0.2));
    assertEquals(0.05, s.at(0), E);
    assertEquals(0.2, s.at(3), E);
    assertEquals(0.2, s.at(10), E);
  }

  @Test
  void rewindingReplaysTheOriginalScheduleFromThePoint() {
    LrSchedule original = Schedules.multiStep(0.1, new long[] {91, 136}, 0.1);
    LrSchedule r = Schedules.rewind(original, 100);
    assertEquals(0.01, r.at(0), E);
    assertEquals(0.001, r.at(36), E);
  }

  @Test
  void badArgumentsNameTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedules.step(0.1, 0, 0.1));
    assertEquals("step size must be > 0: 0", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Schedules.cosine(0.1, 10, 0.2));
  }
}
