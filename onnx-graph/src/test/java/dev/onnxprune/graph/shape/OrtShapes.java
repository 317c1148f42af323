package dev.onnxprune.graph.shape;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Graph;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType.TensorType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Runs a model in ONNX Runtime with every node output of its main graph exposed as a graph
 * output, and returns the shapes ORT actually produced: the oracle for the inferred shapes.
 */
final class OrtShapes {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  private OrtShapes() {}

  /**
   * Exposes every node output of {@code copy}'s main graph (an otherwise unused copy of the
   * model, modified here) as a graph output, typed with its element type only so ORT infers
   * shapes on its own, and runs it on random inputs whose symbolic dims take {@code bindings}.
   *
   * @param elemTypes element types of the values to expose (values missing here stay hidden
   *     unless the copy already types them)
   * @param tmpDir where to write the modified model, or null to pass it in memory
   * @return actual shape per exposed value name
   */
  static Map<String, long[]> run(Model copy, Map<String, DataType> elemTypes, Map<String, Long> bindings, Path tmpDir)
      throws OrtException, IOException {
    Graph g = copy.graph();
    Set<Value> outputs = new HashSet<>(g.outputs());
    for (Value v : g.outputs()) {
      if (v.type() == null && elemTypes.containsKey(v.name())) {
        v.setType(new TensorType(elemTypes.get(v.name()), null));
      }
    }
    for (Node n : g.nodes()) {
      for (Value v : n.outputs()) {
        if (v == null || outputs.contains(v)) {
          continue;
        }
        if (v.type() == null) {
          DataType t = elemTypes.get(v.name());
          if (t == null) {
            continue;
          }
          v.setType(new TensorType(t, null));
        }
        g.addOutput(v);
        outputs.add(v);
      }
    }
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
      opts.setIntraOpNumThreads(2);
      // ORT warns when its own (ONNX) inference disagrees with what it computed; the test compares instead.
      opts.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
      Path file = null;
      OrtSession session;
      if (tmpDir == null) {
        session = ENV.createSession(OnnxModels.toBytes(copy), opts);
      } else {
        file = Files.createTempFile(tmpDir, "all-outputs", ".onnx");
        OnnxModels.write(copy, file);
        session = ENV.createSession(file.toString(), opts);
      }
      try (session) {
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
          Random rnd = new Random(7);
          for (Value in : g.runtimeInputs()) {
            feeds.put(in.name(), randomTensor(in, bindings, rnd));
          }
          Map<String, long[]> shapes = new HashMap<>();
          try (OrtSession.Result result = session.run(feeds)) {
            for (Map.Entry<String, OnnxValue> e : result) {
              if (e.getValue() instanceof OnnxTensor t) {
                shapes.put(e.getKey(), ((TensorInfo) t.getInfo()).getShape());
              }
            }
          }
          return shapes;
        } finally {
          for (OnnxTensor t : feeds.values()) {
            t.close();
          }
        }
      } finally {
        if (file != null) {
          Files.deleteIfExists(file);
        }
      }
    }
  }

  /** Sizes of {@code s} with the symbols bound; null when a dim stays unknown. */
  static long[] concrete(Shape s, Map<String, Long> bindings) {
    long[] out = new long[s.rank()];
    for (int i = 0; i < out.length; i++) {
      Long v = SymbolicDims.evaluate(s.dim(i), bindings);
      if (v == null) {
        return null;
      }
      out[i] = v;
    }
    return out;
  }

  private static OnnxTensor randomTensor(Value in, Map<String, Long> bindings, Random rnd) throws OrtException {
    TensorType t = in.tensorType();
    long[] shape = t == null || t.shape() == null ? null : concrete(t.shape(), bindings);
    if (shape == null) {
      throw new IllegalArgumentException("input '" + in.name() + "' has no concrete shape under " + bindings + ": "
          + in.type());
    }
    int n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, (int) d);
    }
    switch (t.elemType()) {
      case FLOAT -> {
        ByteBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
          b.putFloat((float) rnd.nextGaussian());
        }
        b.rewind();
        return OnnxTensor.createTensor(ENV, b.asFloatBuffer(), shape);
      }
      case INT64 -> {
        ByteBuffer b = ByteBuffer.allocateDirect(n * 8).order(ByteOrder.nativeOrder());
        return OnnxTensor.createTensor(ENV, b.asLongBuffer(), shape);
      }
      default -> throw new IllegalArgumentException("input '" + in.name() + "' of " + t.elemType()
          + " is not supported by this test helper (FLOAT and INT64 are)");
    }
  }
}
