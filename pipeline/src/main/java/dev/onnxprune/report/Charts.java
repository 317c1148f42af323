package dev.onnxprune.report;

import de.erichseifert.vectorgraphics2d.Document;
import de.erichseifert.vectorgraphics2d.VectorGraphics2D;
import de.erichseifert.vectorgraphics2d.svg.SVGProcessor;
import de.erichseifert.vectorgraphics2d.util.PageSize;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.DoubleFunction;
import java.util.function.IntFunction;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.BoxAndWhiskerRenderer;
import org.jfree.chart.renderer.category.LineAndShapeRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.statistics.BoxAndWhiskerItem;
import org.jfree.data.statistics.DefaultBoxAndWhiskerCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The report's charts: JFreeChart plots drawn by VectorGraphics2D into SVG, returned as an
 * {@code <svg>} element to put inline in the page (no XML prolog, ids made unique in the page, no
 * fixed size: the page's CSS scales it). Axis titles are left to the page's captions: a rotated
 * title would be drawn as glyph outlines, where every other text stays text.
 */
final class Charts {
  /** Colours the page's legend and tables use too. */
  static final Color BEFORE = new Color(0xb8c7d9);
  static final Color AFTER = new Color(0x2b6cb0);
  static final Color MARK = new Color(0xd9480f);
  static final Color GRID = new Color(0xdde3ea);
  static final Color TEXT = new Color(0x333a44);
  /** One colour per series of a line chart, in order. */
  private static final Color[] PALETTE = {new Color(0x2b6cb0), new Color(0xd9480f), new Color(0x2f9e44),
      new Color(0x862e9c), new Color(0xe67700), new Color(0x0b7285), new Color(0xc2255c), new Color(0x5c940d),
      new Color(0x364fc7), new Color(0x868e96), new Color(0xa61e4d), new Color(0x087f5b)};
  private static final Font FONT = new Font("DejaVu Sans", Font.PLAIN, 12);
  private static final AtomicInteger IDS = new AtomicInteger();

  private Charts() {}

  /** One series of a bar chart: a value per category, and the label drawn on the bar of category i (null: none). */
  record Bars(String name, double[] values, Color color, IntFunction<String> label) {}

  /** One line of an XY chart. */
  record Line(String name, double[] x, double[] y, Color color, boolean dashed) {}

  /** A blue from light ({@code t} 0) to dark ({@code t} 1). */
  static Color shade(double t) {
    t = Math.max(0, Math.min(1, t));
    return new Color((int) Math.round(0xa5 + t * (0x0b - 0xa5)), (int) Math.round(0xd8 + t * (0x2a - 0xd8)),
        (int) Math.round(0xff + t * (0x6b - 0xff)));
  }

  /** The i-th colour of the line palette (wraps). */
  static Color palette(int i) {
    return PALETTE[Math.floorMod(i, PALETTE.length)];
  }

  /**
   * Grouped vertical bars: one group of bars per category, a bar per series.
   *
   * @param yMax the top of the value axis, or NaN for automatic
   */
  static String bars(List<String> categories, List<Bars> series, double yMax, DoubleFunction<String> tick,
      int width, int height) {
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    for (Bars s : series) {
      for (int i = 0; i < categories.size(); i++) {
        data.addValue(s.values()[i], s.name(), categories.get(i));
      }
    }
    BarRenderer r = new BarRenderer();
    r.setBarPainter(new StandardBarPainter());
    r.setShadowVisible(false);
    r.setDrawBarOutline(false);
    r.setItemMargin(0.02);
    for (int i = 0; i < series.size(); i++) {
      Bars s = series.get(i);
      r.setSeriesPaint(i, s.color());
      if (s.label() != null) {
        r.setSeriesItemLabelGenerator(i, new StandardCategoryItemLabelGenerator() {
          @Override
          public String generateLabel(org.jfree.data.category.CategoryDataset dataset, int row, int column) {
            return s.label().apply(column);
          }
        });
        r.setSeriesItemLabelsVisible(i, true);
        r.setSeriesItemLabelFont(i, FONT.deriveFont(11f));
        r.setSeriesItemLabelPaint(i, TEXT);
        r.setSeriesPositiveItemLabelPosition(i, new ItemLabelPosition(ItemLabelAnchor.OUTSIDE12,
            TextAnchor.BOTTOM_CENTER));
      }
    }
    CategoryPlot plot = new CategoryPlot(data, categoryAxis(), valueAxis(yMax, tick), r);
    plot.setOrientation(PlotOrientation.VERTICAL);
    if (!Double.isNaN(yMax)) {
      plot.getRangeAxis().setRange(0, yMax);
    } else {
      ((NumberAxis) plot.getRangeAxis()).setUpperMargin(0.12); // room for the labels above the bars
    }
    return svg(chart(plot, series.size() > 1), width, height);
  }

  /**
   * A box per category from precomputed statistics ({@code min, q1, median, q3, max}), and a
   * mark per category ({@code marks[i]}, NaN for none) named {@code markName}.
   */
  static String boxes(List<String> categories, List<double[]> fiveNumbers, double[] marks, String boxName,
      String markName, int width, int height) {
    DefaultBoxAndWhiskerCategoryDataset data = new DefaultBoxAndWhiskerCategoryDataset();
    DefaultCategoryDataset markData = new DefaultCategoryDataset();
    for (int i = 0; i < categories.size(); i++) {
      double[] f = fiveNumbers.get(i);
      data.add(new BoxAndWhiskerItem(f[2], f[2], f[1], f[3], f[0], f[4], null, null, List.of()), boxName,
          categories.get(i));
      markData.addValue(Double.isNaN(marks[i]) ? null : marks[i], markName, categories.get(i));
    }
    BoxAndWhiskerRenderer r = new BoxAndWhiskerRenderer();
    r.setMeanVisible(false);
    r.setFillBox(true);
    r.setSeriesPaint(0, BEFORE);
    r.setSeriesOutlinePaint(0, AFTER);
    r.setDefaultOutlinePaint(AFTER);
    r.setArtifactPaint(AFTER);
    r.setUseOutlinePaintForWhiskers(true);
    r.setMaximumBarWidth(0.5);
    r.setItemMargin(0);
    NumberAxis y = valueAxis(Double.NaN, null);
    y.setAutoRangeIncludesZero(false);
    CategoryPlot plot = new CategoryPlot(data, categoryAxis(), y, r);
    LineAndShapeRenderer m = new LineAndShapeRenderer(false, true);
    m.setSeriesPaint(0, MARK);
    m.setSeriesShape(0, new Rectangle2D.Double(-9, -1.5, 18, 3));
    plot.setDataset(1, markData);
    plot.setRenderer(1, m);
    plot.setDatasetRenderingOrder(org.jfree.chart.plot.DatasetRenderingOrder.FORWARD); // marks over the boxes
    return svg(chart(plot, true), width, height);
  }

  /**
   * Lines over a numeric x axis, each point marked.
   *
   * @param xTick the x tick format, or null for the axis' own
   * @param yMin the bottom of the y axis, or NaN for automatic (also {@code yMax})
   */
  static String lines(List<Line> lines, DoubleFunction<String> xTick, double xUnit, DoubleFunction<String> yTick,
      double yMin, double yMax, boolean legend, int width, int height) {
    return svg(chart(xyPlot(lines, xTick, xUnit, yTick, yMin, yMax, Double.NaN), legend), width, height);
  }

  /**
   * {@link #lines} with each line's {@code labels} entry written in its colour just right of its
   * last point, so a reader need not match colours against the legend; labels of lines that end
   * within a label's height of each other are joined into one ("3, 6, 7") in the text colour,
   * at their mean height. Needs {@code yMin} and {@code yMax}.
   */
  static String labelledLines(List<Line> lines, List<String> labels, DoubleFunction<String> xTick, double xUnit,
      DoubleFunction<String> yTick, double yMin, double yMax, boolean legend, int width, int height) {
    double xMax = Double.NEGATIVE_INFINITY;
    for (Line l : lines) {
      for (double v : l.x()) {
        xMax = Math.max(xMax, v);
      }
    }
    // ticks and grid lines stop at the last point: the labels' room is not more of the x axis
    XYPlot plot = xyPlot(lines, xTick, xUnit, yTick, yMin, yMax, xMax);
    // a label's height in y units: the plot takes about the chart's height less legend and axis
    double plotPixels = height - (legend ? 24 * Math.ceil(lines.size() / 9.0) : 0) - 30;
    double gap = 15 * (yMax - yMin) / Math.max(100, plotPixels);
    record End(double y, List<Integer> lines) {}
    List<End> ends = new java.util.ArrayList<>();
    double xMin = Double.POSITIVE_INFINITY;
    for (int i = 0; i < lines.size(); i++) {
      Line l = lines.get(i);
      for (int k = l.x().length - 1; k >= 0; k--) {
        if (!Double.isNaN(l.y()[k])) {
          ends.add(new End(l.y()[k], List.of(i)));
          break;
        }
      }
      for (double v : l.x()) {
        xMin = Math.min(xMin, v);
      }
    }
    if (ends.isEmpty()) {
      return svg(chart(plot, legend), width, height);
    }
    ends.sort(java.util.Comparator.comparingDouble(End::y));
    boolean merged = true;
    while (merged) { // join neighbours closer than a label's height until none are
      merged = false;
      for (int i = 0; i + 1 < ends.size(); i++) {
        End a = ends.get(i);
        End b = ends.get(i + 1);
        if (b.y() - a.y() < gap) {
          List<Integer> both = new java.util.ArrayList<>(a.lines());
          both.addAll(b.lines());
          double y = (a.y() * a.lines().size() + b.y() * b.lines().size()) / both.size();
          ends.set(i, new End(y, both));
          ends.remove(i + 1);
          merged = true;
          break;
        }
      }
    }
    double span = xMax - xMin;
    for (End e : ends) {
      List<Integer> ids = new java.util.ArrayList<>(e.lines());
      ids.sort(null);
      String text = String.join(", ", ids.stream().map(labels::get).toList());
      org.jfree.chart.annotations.XYTextAnnotation a = new org.jfree.chart.annotations.XYTextAnnotation(text,
          xMax + 0.015 * span, Math.max(yMin + gap / 2, Math.min(yMax - gap / 2, e.y())));
      a.setFont(FONT.deriveFont(Font.BOLD));
      a.setPaint(ids.size() == 1 ? lines.get(ids.get(0)).color() : TEXT);
      a.setTextAnchor(TextAnchor.HALF_ASCENT_LEFT);
      plot.addAnnotation(a);
    }
    // room right of the last points for the longest label (about 7 px a character)
    int longest = ends.stream().mapToInt(e -> e.lines().stream().mapToInt(i -> labels.get(i).length() + 2).sum())
        .max().orElse(0);
    double pixels = width - 60;
    double room = Math.min(0.6, (longest * 7.5 + 12) / pixels);
    plot.getDomainAxis().setRange(xMin, xMax + span * room / (1 - room));
    return svg(chart(plot, legend), width, height);
  }

  /** The plot of {@link #lines}; x ticks only up to {@code xTickMax} (NaN: all). */
  private static XYPlot xyPlot(List<Line> lines, DoubleFunction<String> xTick, double xUnit,
      DoubleFunction<String> yTick, double yMin, double yMax, double xTickMax) {
    XYSeriesCollection data = new XYSeriesCollection();
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
    for (int i = 0; i < lines.size(); i++) {
      Line l = lines.get(i);
      XYSeries s = new XYSeries(l.name(), false, true);
      for (int k = 0; k < l.x().length; k++) {
        if (!Double.isNaN(l.y()[k])) { // a point not measured: the line joins its neighbours
          s.add(l.x()[k], l.y()[k]);
        }
      }
      data.addSeries(s);
      r.setSeriesPaint(i, l.color());
      r.setSeriesShape(i, new Ellipse2D.Double(-2.5, -2.5, 5, 5));
      r.setSeriesStroke(i, l.dashed() ? new BasicStroke(1.6f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f,
          new float[] {5f, 3f}, 0f) : new BasicStroke(1.6f));
    }
    NumberAxis x = valueAxis(Double.NaN, xTick, xTickMax);
    x.setAutoRangeIncludesZero(false);
    if (xUnit > 0) {
      x.setTickUnit(new NumberTickUnit(xUnit, format(xTick)));
    }
    NumberAxis y = valueAxis(Double.NaN, yTick);
    y.setAutoRangeIncludesZero(false);
    if (!Double.isNaN(yMin) && !Double.isNaN(yMax)) {
      y.setRange(yMin, yMax);
    }
    XYPlot plot = new XYPlot(data, x, y, r);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(GRID);
    plot.setRangeGridlinePaint(GRID);
    plot.setOutlineVisible(false);
    return plot;
  }

  private static CategoryAxis categoryAxis() {
    CategoryAxis a = new CategoryAxis();
    a.setTickLabelFont(FONT);
    a.setTickLabelPaint(TEXT);
    a.setCategoryMargin(0.15);
    a.setLowerMargin(0.01);
    a.setUpperMargin(0.01);
    a.setMaximumCategoryLabelLines(2);
    return a;
  }

  private static NumberAxis valueAxis(double max, DoubleFunction<String> tick) {
    return valueAxis(max, tick, Double.NaN);
  }

  /** A value axis whose ticks stop at {@code tickMax} (NaN: do not). */
  @SuppressWarnings({"rawtypes", "unchecked"})
  private static NumberAxis valueAxis(double max, DoubleFunction<String> tick, double tickMax) {
    NumberAxis a = Double.isNaN(tickMax) ? new NumberAxis() : new NumberAxis() {
      @Override
      public List refreshTicks(java.awt.Graphics2D g2, org.jfree.chart.axis.AxisState state, Rectangle2D dataArea,
          RectangleEdge edge) {
        List ticks = new java.util.ArrayList(super.refreshTicks(g2, state, dataArea, edge));
        ticks.removeIf(t -> ((org.jfree.chart.axis.ValueTick) t).getValue() > tickMax + 1e-9);
        return ticks;
      }
    };
    a.setTickLabelFont(FONT);
    a.setTickLabelPaint(TEXT);
    if (tick != null) {
      a.setNumberFormatOverride(format(tick));
      if (!tick.apply(0.5).matches(".*\\d\\.\\d.*")) {
        // a format without decimals on fractional ticks would print one label twice (92%, 92%)
        a.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
      }
    }
    return a;
  }

  /** A {@link DecimalFormat} that prints with {@code f} (JFreeChart's axes take a NumberFormat). */
  private static DecimalFormat format(DoubleFunction<String> f) {
    if (f == null) {
      return new DecimalFormat("0.##", DecimalFormatSymbols.getInstance(Locale.ROOT));
    }
    return new DecimalFormat("0", DecimalFormatSymbols.getInstance(Locale.ROOT)) {
      @Override
      public StringBuffer format(double number, StringBuffer out, java.text.FieldPosition pos) {
        return out.append(f.apply(number));
      }

      @Override
      public StringBuffer format(long number, StringBuffer out, java.text.FieldPosition pos) {
        return out.append(f.apply(number));
      }
    };
  }

  private static JFreeChart chart(org.jfree.chart.plot.Plot plot, boolean legend) {
    // styled here rather than by a ChartTheme, which would repaint the series in its own colours
    JFreeChart c = new JFreeChart(null, FONT, plot, legend);
    c.setBackgroundPaint(Color.WHITE);
    c.setPadding(new RectangleInsets(4, 4, 4, 8));
    plot.setBackgroundPaint(Color.WHITE);
    plot.setOutlineVisible(false);
    LegendTitle l = c.getLegend();
    if (l != null) {
      l.setPosition(RectangleEdge.TOP);
      l.setFrame(BlockBorder.NONE);
      l.setItemFont(FONT);
      l.setItemPaint(TEXT);
      // the browser's font may run a little wider than Java's measure of it
      l.setItemLabelPadding(new RectangleInsets(2, 4, 2, 16));
    }
    if (plot instanceof CategoryPlot p) {
      p.setRangeGridlinePaint(GRID);
      p.setRangeGridlineStroke(new BasicStroke(0.8f));
      p.getRangeAxis().setAxisLineVisible(false);
      p.getRangeAxis().setTickMarksVisible(false);
      p.getDomainAxis().setAxisLinePaint(GRID);
      p.getDomainAxis().setTickMarksVisible(false);
    }
    if (plot instanceof XYPlot p) {
      p.setDomainGridlineStroke(new BasicStroke(0.8f));
      p.setRangeGridlineStroke(new BasicStroke(0.8f));
      p.getRangeAxis().setAxisLineVisible(false);
      p.getDomainAxis().setAxisLinePaint(GRID);
    }
    return c;
  }

  /** The chart as an inline {@code <svg>} element scaled by the page. */
  private static String svg(JFreeChart chart, int width, int height) {
    VectorGraphics2D g = new VectorGraphics2D();
    chart.draw(g, new Rectangle2D.Double(0, 0, width, height));
    Document doc = new SVGProcessor().getDocument(g.getCommands(), new PageSize(0, 0, width, height));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      doc.writeTo(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    String s = bytes.toString(StandardCharsets.UTF_8);
    s = s.substring(s.indexOf("<svg"));
    // clip-path ids are hash codes: unique within one chart, not across the charts of a page
    String prefix = "c" + IDS.incrementAndGet() + "-";
    s = s.replace("id=\"clip", "id=\"" + prefix + "clip").replace("url(#clip", "url(#" + prefix + "clip");
    // inline in HTML an <svg> is in the SVG namespace without saying so (and the page names no URL)
    s = s.replaceFirst(" xmlns:xlink=\"[^\"]*\"", "").replaceFirst(" xmlns=\"[^\"]*\"", "");
    // the page sizes the chart; the view box keeps its proportions
    s = s.replaceFirst("height=\"[0-9.]+px\"", "").replaceFirst("width=\"[0-9.]+px\"", "")
        .replaceFirst("<svg", "<svg class=\"chart\" role=\"img\" style=\"max-width:" + width + "px\"");
    return s.strip();
  }
}
