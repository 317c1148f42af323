package dev.onnxprune.training;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Sessions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/** Test helper: feeds and reads ONNX Runtime tensors as doubles, whatever their element type. */
final class Ort {
  static final Sessions SESSIONS = new Sessions(dev.onnxprune.runtime.Device.CPU, 0, 1);

  /** A tensor's element type, shape and values. */
  record Data(DataType type, long[] shape, double[] values) {
    static Data of(DataType type, long[] shape, double[] values) {
      return new Data(type, shape, values);
    }
  }

  private Ort() {}

  static OrtSession open(Model m) throws OrtException {
    return SESSIONS.open(m);
  }

  static OnnxTensor tensor(Data d) throws OrtException {
    OrtEnvironment env = Sessions.environment();
    int n = d.values().length;
    return switch (d.type()) {
      case FLOAT -> {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder());
        for (double v : d.values()) {
          b.putFloat((float) v);
        }
        yield OnnxTensor.createTensor(env, b.flip(), d.shape(), OnnxJavaType.FLOAT);
      }
      case DOUBLE -> {
        ByteBuffer b = ByteBuffer.allocateDirect(8 * n).order(ByteOrder.nativeOrder());
        for (double v : d.values()) {
          b.putDouble(v);
        }
        yield OnnxTensor.createTensor(env, b.flip(), d.shape(), OnnxJavaType.DOUBLE);
      }
      case INT64 -> {
        ByteBuffer b = ByteBuffer.allocateDirect(8 * n).order(ByteOrder.nativeOrder());
        for (double v : d.values()) {
          b.putLong((long) v);
        }
        yield OnnxTensor.createTensor(env, b.flip(), d.shape(), OnnxJavaType.INT64);
      }
      default -> throw new IllegalArgumentException("no test feed for " + d.type());
    };
  }

  static double[] values(OnnxValue v) throws OrtException {
    OnnxTensor t = (OnnxTensor) v;
    return switch (t.getInfo().type) {
      case FLOAT -> {
        java.nio.FloatBuffer f = t.getFloatBuffer();
        double[] out = new double[f.remaining()];
        for (int i = 0; i < out.length; i++) {
          out[i] = f.get(i);
        }
        yield out;
      }
      case DOUBLE -> {
        java.nio.DoubleBuffer f = t.getDoubleBuffer();
        double[] out = new double[f.remaining()];
        f.get(out);
        yield out;
      }
      case INT64 -> {
        java.nio.LongBuffer f = t.getLongBuffer();
        double[] out = new double[f.remaining()];
        for (int i = 0; i < out.length; i++) {
          out[i] = f.get(i);
        }
        yield out;
      }
      case BOOL -> {
        ByteBuffer f = t.getByteBuffer();
        double[] out = new double[f.remaining()];
        for (int i = 0; i < out.length; i++) {
          out[i] = f.get(i) != 0 ? 1 : 0;
        }
        yield out;
      }
      default -> throw new IllegalArgumentException("no test reader for " + t.getInfo().type);
    };
  }

  /** Runs {@code s} and returns every output as doubles, by name; feeds it has no input for are skipped. */
  static Map<String, double[]> run(OrtSession s, Map<String, Data> feeds) throws OrtException {
    Map<String, OnnxTensor> in = new LinkedHashMap<>();
    try {
      java.util.Set<String> names = s.getInputNames();
      for (Map.Entry<String, Data> e : feeds.entrySet()) {
        if (names.contains(e.getKey())) {
          in.put(e.getKey(), tensor(e.getValue()));
        }
      }
      Map<String, double[]> out = new LinkedHashMap<>();
      try (OrtSession.Result r = s.run(in)) {
        for (Map.Entry<String, OnnxValue> e : r) {
          out.put(e.getKey(), values(e.getValue()));
        }
      }
      return out;
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }
}
