package dev.onnxprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class UnitsTest {
  @Test
  void countsUseSiSuffixesWithOneDecimal() {
    assertEquals("999", Units.count(999));
    assertEquals("1.5K", Units.count(1_500));
    assertEquals("40.8M", Units.count(40_812_544));
    assertEquals("1.0M", Units.count(999_999));
    assertEquals("2.1G", Units.count(2_100_000_000L));
  }

  @Test
  void sizesUseBinaryUnits() {
    assertEquals("512 B", Units.bytes(512));
    assertEquals("1.0 KiB", Units.bytes(1024));
    assertEquals("1.1 MiB", Units.bytes(1_112_948));
  }

  @Test
  void groupedIgnoresTheDefaultLocale() {
    assertEquals("1,112,948", Units.grouped(1_112_948));
  }

  @Test
  void tableAlignsColumnsWithoutTrailingBlanks() {
    StringWriter buf = new StringWriter();
    new TextTable("  ", TextTable.Align.LEFT, TextTable.Align.RIGHT, TextTable.Align.LEFT)
        .row("name", "n", "x")
        .row("a", "1000", "")
        .print(new PrintWriter(buf, true));

    assertEquals("  name     n  x\n  a     1000\n", buf.toString());
  }
}
