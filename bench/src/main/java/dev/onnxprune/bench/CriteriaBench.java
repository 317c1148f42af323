package dev.onnxprune.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.criteria.Criteria;
import dev.onnxprune.criteria.Criterion;
import dev.onnxprune.criteria.DataCriteria;
import dev.onnxprune.criteria.DataCriterion;
import dev.onnxprune.prune.PruneProgress;
import dev.onnxprune.prune.PruneResult;
import dev.onnxprune.prune.Pruner;
import dev.onnxprune.criteria.ScoringStats;
import dev.onnxprune.prune.Target;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.runtime.ArrayDataset;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Device;
import dev.onnxprune.runtime.IdxDataset;
import dev.onnxprune.runtime.Normalization;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.surgery.ChannelAnalysis;
import dev.onnxprune.surgery.ChannelGroup;
import dev.onnxprune.surgery.MaskInsertion;
import dev.onnxprune.surgery.PrunePlan;
import dev.onnxprune.testmodels.TestModels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Criteria side by side on the six trained Fashion-MNIST fixtures: each model pruned to
 * {@code --flops} (default 0.5, uniform allocation, no fine-tuning) by random, L1, BN |gamma|,
 * APoZ, mean activation, Oracle (the default: re-scored 3 times after removing 10% of each group;
 * {@code oracle-1} one-shot; {@code oracle-r} re-scored {@code --rescore} times), AOFP (Binary Filter Search scores through the allocator; AOFP's own plan;
 * and eq. 6 per single channel), Taylor (mean |a * dL/da| per channel);
 * top-1 on the 2,000-image test subset; the wall time of each criterion's scoring; the ORT
 * throughput of a plain forward pass over the calibration images in the same run; and Oracle's
 * cost per scored channel in forward-pass equivalents (FPE: the time of one plain forward pass
 * over the same samples) for three ways of running it: a constant-masked model and a new session
 * per channel (naive), mask inputs with one ablation per run, and packed ablations with suffix
 * runs (the default). With random, l1, taylor, oracle and aofp among the criteria it also says on
 * how many models the AOFP paper's ordering (Oracle >= AOFP > heuristics > random) holds.
 *
 * <p>Usage: {@code CriteriaBench [MODEL...] [--calib N] [--oracle-calib N] [--cost-calib N]
 * [--flops F] [--theta T] [--phi P] [--rescore R] [--threads T] [--criteria a,b,...|none]
 * [--cost 0|1]}; Oracle
 * and AOFP eq. 6 use the first {@code --oracle-calib} (default 256) calibration images, the
 * others all {@code --calib} (default 1000).
 */
public final class CriteriaBench {
  private static final Normalization NORM = new Normalization(new float[] {0.286f}, new float[] {0.353f});

  public static void main(String[] args) throws Exception {
    List<String> models = new ArrayList<>();
    for (String a : args) {
      if (a.startsWith("--")) {
        break;
      }
      models.add(a);
    }
    if (models.isEmpty()) {
      models = List.of("resnet20", "vgg_bn", "densenet", "mobilenetv2", "senet", "inception");
    }
    int calibN = intArg(args, "--calib", 1000);
    int oracleN = intArg(args, "--oracle-calib", 256);
    int costN = intArg(args, "--cost-calib", 128);
    double flops = doubleArg(args, "--flops", 0.5);
    double theta = doubleArg(args, "--theta", 0.05);
    int phi = intArg(args, "--phi", 256);
    int rescore = intArg(args, "--rescore", 3);
    int threads = intArg(args, "--threads", 0);
    String only = stringArg(args, "--criteria", "random,l1,bn,apoz,mean,oracle,oracle-1,aofp,aofp-plan,aofp-eq6,taylor");
    Sessions sessions = new Sessions(Device.CPU, 0, threads);
    ArrayDataset calib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), NORM, calibN);
    ArrayDataset oracleCalib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), NORM, oracleN);
    ArrayDataset costCalib = IdxDataset.read(TestModels.file("fmnist-calib-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-calib-labels-idx1-ubyte.gz"), NORM, costN);
    ArrayDataset test = IdxDataset.read(TestModels.file("fmnist-test-images-idx3-ubyte.gz"),
        TestModels.file("fmnist-test-labels-idx1-ubyte.gz"), NORM, 0);
    System.out.printf(Locale.ROOT, "calibration %d images (oracle %d), test %d images, --flops %.2f uniform, no"
        + " fine-tuning; ORT CPU, %s threads; AOFP theta %.3f phi %d; oracle re-scoring rounds %d%n", calib.size(),
        oracleCalib.size(), test.size(), flops, threads == 0 ? "default" : threads, theta, phi, rescore);

    Map<String, Map<String, String>> acc = new LinkedHashMap<>();
    Map<String, Map<String, String>> secs = new LinkedHashMap<>();
    List<String> costRows = new ArrayList<>();
    List<String> crit = only.equals("none") ? List.of() : List.of(only.split(","));
    boolean cost = intArg(args, "--cost", 1) != 0;
    for (String name : models) {
      Model original = OnnxModels.read(TestModels.model(name + ".onnx"));
      byte[] bytes = OnnxModels.toBytes(original);
      double fwd = forwardSeconds(bytes, calib, sessions);
      double top1 = top1(original, test, sessions);
      Map<String, String> a = new LinkedHashMap<>();
      Map<String, String> s = new LinkedHashMap<>();
      a.put("unpruned", pct(top1));
      s.put("fwd img/s", String.format(Locale.ROOT, "%.0f", calib.size() / fwd));
      for (String c : crit) {
        DataCriteria.Options o = new DataCriteria.Options().batchSize(64).theta(theta).phi(phi);
        Criterion criterion = switch (c) {
          case "random" -> Criteria.random(0);
          case "l1" -> Criteria.l1();
          case "bn" -> Criteria.bnGamma();
          case "apoz" -> DataCriteria.apoz(calib, sessions, o);
          case "mean" -> DataCriteria.meanActivation(calib, sessions, o);
          case "oracle" -> DataCriteria.oracle(oracleCalib, sessions, o); // the default: re-scored
          case "oracle-1" -> DataCriteria.oracle(oracleCalib, sessions, o.rescore(0, 0.1));
          case "aofp" -> DataCriteria.aofp(calib, sessions, o);
          case "aofp-plan" -> DataCriteria.aofp(calib, sessions, o.ownPlan(true));
          case "aofp-eq6" -> DataCriteria.aofp(oracleCalib, sessions, o.binarySearch(false));
          case "oracle-r" -> DataCriteria.oracle(oracleCalib, sessions, o.rescore(Math.max(1, rescore), 0.1));
          case "taylor" -> DataCriteria.taylor(calib, sessions, o);
          default -> throw new IllegalArgumentException("unknown criterion " + c);
        };
        double[] scoring = new double[1];
        PruneProgress progress = (phase, took) -> {
          if (phase == PruneProgress.Phase.SCORING) {
            scoring[0] = took.toNanos() / 1e9;
          }
        };
        Model m = OnnxModels.read(bytes, null);
        try {
          PruneResult r = Pruner.builder().criterion(criterion).target(Target.flops(flops)).sessions(sessions)
              .progress(progress).build().prune(m);
          double t = top1(r.model(), test, sessions);
          a.put(c, pct(t));
          String extra = "";
          if (criterion instanceof DataCriterion dc && dc.lastStats() != null) {
            ScoringStats st = dc.lastStats();
            extra = String.format(Locale.ROOT, " (%.1f FPE)", st.forwardEquivalents());
          }
          s.put(c, String.format(Locale.ROOT, "%.2f s%s", scoring[0], extra));
          System.out.printf(Locale.ROOT, "%-12s %-10s top-1 %s  scoring %.2f s  FLOPs -%.1f%%%n", name, c, pct(t),
              scoring[0], 100 * r.report().achieved());
        } catch (IllegalArgumentException e) {
          a.put(c, "n/a");
          s.put(c, "n/a");
          System.out.printf("%-12s %-10s %s%n", name, c, e.getMessage());
        }
      }
      acc.put(name, a);
      secs.put(name, s);
      if (cost) {
        costRows.add(oracleCost(name, bytes, costCalib, sessions));
      }
    }
    System.out.println();
    System.out.println("Top-1 on the test subset after pruning (no fine-tuning):");
    table(acc);
    ordering(acc);
    System.out.println();
    System.out.println("Scoring wall time (data-driven: forward-pass equivalents of work in brackets), and plain"
        + " forward throughput:");
    table(secs);
    if (!costRows.isEmpty()) {
      System.out.println();
      System.out.printf("Oracle cost per scored channel, in FPE (one plain forward pass over the same %d images):%n",
          costCalib.size());
      System.out.println("| model | channels | naive: const mask + session per channel | mask inputs, 1 ablation/run"
          + " | packed, 256 samples/run | packed + suffix (default) |");
      System.out.println("|---|---|---|---|---|---|");
      costRows.forEach(System.out::println);
    }
  }

  /**
   * The AOFP paper's ordering (Figure 3: Oracle >= AOFP > heuristics > random; heuristics here L1
   * and Taylor) on each model that has all five columns, and each of its comparisons on its own.
   */
  private static void ordering(Map<String, Map<String, String>> acc) {
    String[][] pairs = {{"oracle", "aofp", ">="}, {"aofp", "l1", ">"}, {"aofp", "taylor", ">"}, {"l1", "random", ">"},
        {"taylor", "random", ">"}};
    int models = 0;
    int holds = 0;
    int[] pairHolds = new int[pairs.length];
    StringBuilder per = new StringBuilder();
    for (Map.Entry<String, Map<String, String>> e : acc.entrySet()) {
      Map<String, String> a = e.getValue();
      if (!List.of("random", "l1", "taylor", "oracle", "aofp").stream().allMatch(k -> a.containsKey(k)
          && !a.get(k).equals("n/a"))) {
        continue;
      }
      models++;
      boolean all = true;
      for (int i = 0; i < pairs.length; i++) {
        double x = Double.parseDouble(a.get(pairs[i][0]));
        double y = Double.parseDouble(a.get(pairs[i][1]));
        boolean ok = pairs[i][2].equals(">=") ? x >= y : x > y;
        pairHolds[i] += ok ? 1 : 0;
        all &= ok;
      }
      holds += all ? 1 : 0;
      per.append(' ').append(e.getKey()).append(all ? " yes;" : " no;");
    }
    if (models == 0) {
      return;
    }
    System.out.println();
    System.out.printf("Paper's ordering (Oracle >= AOFP > L1, Taylor > random) holds on %d of %d models:%s%n", holds,
        models, per);
    for (int i = 0; i < pairs.length; i++) {
      System.out.printf("  %s %s %s: %d of %d%n", pairs[i][0], pairs[i][2], pairs[i][1], pairHolds[i], models);
    }
  }

  /** Oracle cost per scored channel, in FPE, for the three ways of running it. */
  private static String oracleCost(String name, byte[] bytes, Dataset data, Sessions sessions) throws Exception {
    double fwd = forwardSeconds(bytes, data, sessions);
    Model m = OnnxModels.read(bytes, null);
    ChannelAnalysis a = ChannelAnalysis.analyze(m);
    // naive: a constant mask and a new session per channel, for a few channels
    int naiveChannels = 0;
    long t0 = System.nanoTime();
    for (ChannelGroup g : a.prunableGroups()) {
      if (g.size() < 2 || naiveChannels >= 8) {
        continue;
      }
      Model c = OnnxModels.read(bytes, null);
      ChannelAnalysis ca = ChannelAnalysis.analyze(c);
      new MaskInsertion(PrunePlan.builder(ca).remove(ca.groups().get(g.id()), 0).build()).run(c);
      forwardSeconds(OnnxModels.toBytes(c), data, sessions);
      naiveChannels++;
    }
    double naive = (System.nanoTime() - t0) / 1e9 / naiveChannels / fwd;
    double[] fpe = new double[3];
    DataCriteria.Options[] opts = {
        new DataCriteria.Options().batchSize(64).runSamples(64).suffix(false),
        new DataCriteria.Options().batchSize(64).runSamples(256).suffix(false),
        new DataCriteria.Options().batchSize(64).runSamples(256)};
    long channels = 0;
    for (int i = 0; i < opts.length; i++) {
      DataCriterion oracle = DataCriteria.oracle(data, sessions, opts[i]);
      oracle.score(a);
      ScoringStats st = oracle.lastStats();
      channels = st.ablations();
      fpe[i] = st.seconds() / st.ablations() / fwd;
    }
    return String.format(Locale.ROOT, "| %s | %d | %.2f | %.2f | %.2f | %.2f |", name, channels, naive, fpe[0], fpe[1],
        fpe[2]);
  }

  private static void table(Map<String, Map<String, String>> rows) {
    List<String> cols = new ArrayList<>();
    rows.values().forEach(r -> r.keySet().forEach(k -> {
      if (!cols.contains(k)) {
        cols.add(k);
      }
    }));
    StringBuilder h = new StringBuilder("| model |");
    StringBuilder sep = new StringBuilder("|---|");
    for (String c : cols) {
      h.append(' ').append(c).append(" |");
      sep.append("---|");
    }
    System.out.println(h);
    System.out.println(sep);
    rows.forEach((model, r) -> {
      StringBuilder line = new StringBuilder("| " + model + " |");
      for (String c : cols) {
        line.append(' ').append(r.getOrDefault(c, "")).append(" |");
      }
      System.out.println(line);
    });
  }

  private static String pct(double x) {
    return String.format(Locale.ROOT, "%.2f", 100 * x);
  }

  /** Wall time of one forward pass over {@code data} at batch 64 (after one untimed pass). */
  static double forwardSeconds(byte[] model, Dataset data, Sessions sessions) throws Exception {
    try (OrtSession s = sessions.open(model)) {
      String in = s.getInputNames().iterator().next();
      double best = Double.POSITIVE_INFINITY;
      for (int rep = 0; rep < 2; rep++) {
        long t0 = System.nanoTime();
        for (Iterator<Batch> it = data.batches(64); it.hasNext(); ) {
          Batch b = it.next();
          try (OnnxTensor x = tensor(b); OrtSession.Result r = s.run(Map.of(in, x))) {
            r.get(0);
          }
        }
        double t = (System.nanoTime() - t0) / 1e9;
        if (rep > 0) {
          best = Math.min(best, t);
        }
      }
      return best;
    }
  }

  /** Top-1 accuracy of {@code model} on {@code data}. */
  static double top1(Model model, Dataset data, Sessions sessions) throws Exception {
    int right = 0;
    int total = 0;
    try (OrtSession s = sessions.open(model)) {
      String in = s.getInputNames().iterator().next();
      for (Iterator<Batch> it = data.batches(250); it.hasNext(); ) {
        Batch b = it.next();
        try (OnnxTensor x = tensor(b); OrtSession.Result r = s.run(Map.of(in, x))) {
          float[][] logits = (float[][]) r.get(0).getValue();
          for (int i = 0; i < logits.length; i++) {
            int best = 0;
            for (int c = 1; c < logits[i].length; c++) {
              if (logits[i][c] > logits[i][best]) {
                best = c;
              }
            }
            right += best == b.labels()[i] ? 1 : 0;
            total++;
          }
        }
      }
    }
    return (double) right / total;
  }

  private static OnnxTensor tensor(Batch b) throws Exception {
    FloatBuffer fb = ByteBuffer.allocateDirect(b.inputs().length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    fb.put(b.inputs()).rewind();
    return OnnxTensor.createTensor(Sessions.environment(), fb, b.shape());
  }

  private static int intArg(String[] args, String name, int dflt) {
    return Integer.parseInt(stringArg(args, name, Integer.toString(dflt)));
  }

  private static double doubleArg(String[] args, String name, double dflt) {
    return Double.parseDouble(stringArg(args, name, Double.toString(dflt)));
  }

  private static String stringArg(String[] args, String name, String dflt) {
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals(name)) {
        return args[i + 1];
      }
    }
    return dflt;
  }
}
