package dev.onnxprune.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** A plain-text table with aligned columns (two spaces apart, no trailing blanks). */
final class TextTable {
  enum Align { LEFT, RIGHT }

  private final String indent;
  private final Align[] aligns;
  private final List<String[]> rows = new ArrayList<>();

  /** A table with one column per entry of {@code aligns}, each line starting with {@code indent}. */
  TextTable(String indent, Align... aligns) {
    this.indent = indent;
    this.aligns = aligns.clone();
  }

  /** Appends a row (the first one appended is the header, if the table has one). */
  TextTable row(String... cells) {
    if (cells.length != aligns.length) {
      throw new IllegalArgumentException("row of " + cells.length + " cells in a table of " + aligns.length
          + " columns");
    }
    rows.add(cells.clone());
    return this;
  }

  void print(PrintWriter out) {
    int[] width = new int[aligns.length];
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        width[i] = Math.max(width[i], r[i].length());
      }
    }
    StringBuilder line = new StringBuilder();
    for (String[] r : rows) {
      line.setLength(0);
      line.append(indent);
      for (int i = 0; i < r.length; i++) {
        if (i > 0) {
          line.append("  ");
        }
        String pad = " ".repeat(width[i] - r[i].length());
        if (aligns[i] == Align.RIGHT) {
          line.append(pad).append(r[i]);
        } else {
          line.append(r[i]).append(pad);
        }
      }
      out.println(line.toString().stripTrailing());
    }
  }
}
