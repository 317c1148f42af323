package dev.onnxprune.report;

import java.util.List;

/**
 * An HTML page built top to bottom: sections with headings, cards, tables, figures with captions.
 * Its CSS is inline and it has no script, so the page opens from disk with no network. Text
 * arguments are HTML already (callers escape what they did not write, with {@link #esc}).
 */
final class Page {
  private static final String CSS = """
      :root { color-scheme: light; }
      body { font-family: "DejaVu Sans", Verdana, "Segoe UI", Helvetica, Arial, sans-serif; color: #333a44;
        background: #f6f8fa; margin: 0; line-height: 1.45; font-size: 15px; }
      main { max-width: 960px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; min-height: 100vh;
        box-shadow: 0 0 0 1px #e3e8ee; }
      h1 { font-size: 26px; margin: 0 0 4px; }
      h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e8ee; }
      .sub { color: #5a6472; margin: 0 0 8px; overflow-wrap: anywhere; }
      .story { margin: 6px 0 4px; }
      .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px;
        margin: 12px 0 18px; }
      .card { border: 1px solid #e3e8ee; border-radius: 6px; padding: 10px 12px; }
      .card .k { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #5a6472; }
      .card .v { font-size: 17px; font-weight: bold; margin: 2px 0; }
      .card .d { font-size: 12.5px; color: #5a6472; }
      table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
      th, td { padding: 4px 10px; border-bottom: 1px solid #e3e8ee; text-align: right; vertical-align: top; }
      th { background: #f1f4f8; font-weight: bold; }
      td.l, th.l { text-align: left; overflow-wrap: anywhere; }
      .nw { white-space: nowrap; }
      .heat { display: inline-block; min-width: 2.6em; padding: 0 3px; border-radius: 3px; }
      table.dense th, table.dense td { padding: 4px 5px; }
      td .s { font-size: 12.5px; }
      .more { color: #8a94a3; white-space: nowrap; }
      .why { color: #a15c00; }
      tbody tr:hover { background: #f8fafc; }
      figure { margin: 8px 0 4px; overflow-x: auto; }
      .charts { display: flex; flex-wrap: wrap; gap: 8px; }
      .charts svg { flex: 1 1 400px; }
      svg.chart { width: 100%; height: auto; display: block; }
      svg.chart text { font-family: "DejaVu Sans", Verdana, sans-serif; font-size: 12px; }
      figcaption, .note { color: #5a6472; font-size: 13px; margin: 4px 0 8px; }
      .warn { border-left: 4px solid #e67700; background: #fff8ec; padding: 6px 10px; margin: 6px 0; }
      .pass { color: #2f9e44; }
      .fail { color: #c92a2a; }
      details summary { cursor: pointer; color: #2b6cb0; margin: 6px 0; }
      footer { margin-top: 36px; color: #8a94a3; font-size: 12.5px; }
      """;

  private final StringBuilder b = new StringBuilder();
  private boolean inSection;

  Page(String title) {
    b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .append("<title>").append(esc(title)).append("</title>\n<style>\n").append(CSS).append("</style>\n</head>\n")
        .append("<body>\n<main>\n");
  }

  void h1(String text) {
    b.append("<h1>").append(esc(text)).append("</h1>\n");
  }

  void subtitle(String html) {
    if (!html.isEmpty()) {
      b.append("<p class=\"sub\">").append(html).append("</p>\n");
    }
  }

  /** Ends the section before (if any) and begins one. */
  void section(String id, String title) {
    endSection();
    b.append("<section id=\"").append(id).append("\">\n<h2>").append(title).append("</h2>\n");
    inSection = true;
  }

  /** Key numbers as cards: {label, value, detail}. */
  void cards(List<String[]> cards) {
    b.append("<div class=\"cards\">\n");
    for (String[] c : cards) {
      b.append("<div class=\"card\"><div class=\"k\">").append(c[0]).append("</div><div class=\"v\">").append(c[1])
          .append("</div><div class=\"d\">").append(c[2]).append("</div></div>\n");
    }
    b.append("</div>\n");
  }

  /** A table; {@code align} has an {@code l} (text, left) or {@code r} (numbers, right) per column. */
  void table(String[] header, List<String[]> rows, String align) {
    table(header, rows, align, null);
  }

  /** {@link #table(String[], List, String)} with a CSS class ({@code dense}: narrow padding), or null. */
  void table(String[] header, List<String[]> rows, String align, String cssClass) {
    b.append(cssClass == null ? "<table>" : "<table class=\"" + cssClass + "\">").append("\n<thead><tr>");
    for (int i = 0; i < header.length; i++) {
      b.append(align.charAt(i) == 'l' ? "<th class=\"l\">" : "<th>").append(header[i]).append("</th>");
    }
    b.append("</tr></thead>\n<tbody>\n");
    for (String[] r : rows) {
      b.append("<tr>");
      for (int i = 0; i < r.length; i++) {
        b.append(align.charAt(i) == 'l' ? "<td class=\"l\">" : "<td>").append(r[i]).append("</td>");
      }
      b.append("</tr>\n");
    }
    b.append("</tbody>\n</table>\n");
  }

  void figure(String svg, String caption) {
    b.append("<figure>\n").append(svg).append("\n<figcaption>").append(caption).append("</figcaption>\n</figure>\n");
  }

  /** Charts side by side (wrapping on a narrow window), one caption. */
  void row(List<String> svgs, String caption) {
    b.append("<figure>\n<div class=\"charts\">\n");
    svgs.forEach(s -> b.append(s).append('\n'));
    b.append("</div>\n<figcaption>").append(caption).append("</figcaption>\n</figure>\n");
  }

  void paragraph(String cssClass, String html) {
    b.append("<p class=\"").append(cssClass).append("\">").append(html).append("</p>\n");
  }

  void note(String html) {
    b.append("<p class=\"note\">").append(html).append("</p>\n");
  }

  void warning(String text) {
    b.append("<p class=\"warn\">").append(esc(text)).append("</p>\n");
  }

  /** {@code body} inside a disclosure, closed when {@code closed}. */
  void details(boolean closed, String summary, Runnable body) {
    b.append(closed ? "<details>" : "<details open>").append("<summary>").append(esc(summary)).append("</summary>\n");
    body.run();
    b.append("</details>\n");
  }

  void footer(String text) {
    endSection();
    b.append("<footer>").append(esc(text)).append("</footer>\n");
  }

  String html() {
    endSection();
    return b + "</main>\n</body>\n</html>\n";
  }

  private void endSection() {
    if (inSection) {
      b.append("</section>\n");
      inSection = false;
    }
  }

  /** {@code s} with the five HTML-special characters escaped. */
  static String esc(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder o = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> o.append("&lt;");
        case '>' -> o.append("&gt;");
        case '&' -> o.append("&amp;");
        case '"' -> o.append("&quot;");
        case '\'' -> o.append("&#39;");
        default -> o.append(c);
      }
    }
    return o.toString();
  }
}
