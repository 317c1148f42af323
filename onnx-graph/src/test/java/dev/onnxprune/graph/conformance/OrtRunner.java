package dev.onnxprune.graph.conformance;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.google.protobuf.ByteString;
import dev.onnxprune.graph.conformance.TensorProtos.Decoded;
import dev.onnxprune.graph.proto.Onnx.TensorProto.DataType;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Runs a model file in ONNX Runtime (CPU, one thread) on decoded tensors, for tests. */
public final class OrtRunner implements AutoCloseable {

  /** A value that the Java API cannot create or return as a comparable tensor. */
  public static final class NotComparableException extends Exception {
    public NotComparableException(String message) {
      super(message);
    }
  }

  private final OrtEnvironment env;
  private final OrtSession session;

  private OrtRunner(OrtSession session, OrtEnvironment env) {
    this.session = session;
    this.env = env;
  }

  /** Opens a session on {@code model}; ORT's own errors (unsupported ops, invalid graphs) come as OrtException. */
  public static OrtRunner open(Path model) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, "onnxprune-tests");
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setIntraOpNumThreads(1);
      opts.setInterOpNumThreads(1);
      opts.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
      return new OrtRunner(env.createSession(model.toString(), opts), env);
    }
  }

  /** Runs on {@code inputs} (by name) and returns {@code outputNames} decoded, in that order. */
  public List<Decoded> run(Map<String, Decoded> inputs, List<String> outputNames)
      throws OrtException, NotComparableException {
    Map<String, OnnxTensor> feed = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, Decoded> e : inputs.entrySet()) {
        feed.put(e.getKey(), toOrt(e.getValue()));
      }
      try (OrtSession.Result result = session.run(feed, new java.util.LinkedHashSet<>(outputNames))) {
        List<Decoded> out = new ArrayList<>();
        for (String name : outputNames) {
          OnnxValue v = result.get(name).orElseThrow(() -> new IllegalStateException("ORT returned no output " + name));
          out.add(fromOrt(name, v));
        }
        return out;
      }
    } finally {
      feed.values().forEach(OnnxTensor::close);
    }
  }

  private OnnxTensor toOrt(Decoded d) throws OrtException, NotComparableException {
    if (d.dataType() == DataType.STRING_VALUE) {
      String[] s = new String[d.strings().size()];
      for (int i = 0; i < s.length; i++) {
        s[i] = d.strings().get(i).toStringUtf8();
      }
      return OnnxTensor.createTensor(env, s, d.dims());
    }
    OnnxJavaType type = switch (DataType.forNumber(d.dataType())) {
      case FLOAT -> OnnxJavaType.FLOAT;
      case DOUBLE -> OnnxJavaType.DOUBLE;
      case INT8 -> OnnxJavaType.INT8;
      case UINT8 -> OnnxJavaType.UINT8;
      case INT16 -> OnnxJavaType.INT16;
      case INT32 -> OnnxJavaType.INT32;
      case INT64 -> OnnxJavaType.INT64;
      case BOOL -> OnnxJavaType.BOOL;
      case FLOAT16 -> OnnxJavaType.FLOAT16;
      case BFLOAT16 -> OnnxJavaType.BFLOAT16;
      default -> null;
    };
    if (type == null) {
      throw new NotComparableException("the Java API cannot create a " + d + " input");
    }
    // ORT reads direct buffers in native order; a big-endian buffer would be misread silently.
    ByteBuffer direct = ByteBuffer.allocateDirect(d.littleEndian().remaining()).order(ByteOrder.nativeOrder());
    copyElements(d.littleEndian().duplicate().order(ByteOrder.LITTLE_ENDIAN), direct,
        TensorProtos.elementSize(d.dataType()));
    return OnnxTensor.createTensor(env, direct.flip(), d.dims(), type);
  }

  private static Decoded fromOrt(String name, OnnxValue v) throws OrtException, NotComparableException {
    if (!(v instanceof OnnxTensor t)) {
      throw new NotComparableException("output '" + name + "' is a " + v.getType());
    }
    TensorInfo info = t.getInfo();
    int code = onnxCode(info.onnxType);
    long[] shape = info.getShape();
    if (code == DataType.STRING_VALUE) {
      List<ByteString> strings = new ArrayList<>();
      flattenStrings(t.getValue(), strings);
      return new Decoded(code, shape, null, strings);
    }
    int size = TensorProtos.elementSize(code);
    if (size == 0 || info.type == OnnxJavaType.UNKNOWN) {
      throw new NotComparableException("output '" + name + "' has element type " + info.onnxType
          + ", which the Java API does not return");
    }
    ByteBuffer native_ = t.getByteBuffer().order(ByteOrder.nativeOrder());
    ByteBuffer le = ByteBuffer.allocate(native_.remaining()).order(ByteOrder.LITTLE_ENDIAN);
    copyElements(native_, le, size);
    return new Decoded(code, shape, le.flip(), null);
  }

  /** ORT's Java enum numbers element types its own way; its names carry ONNX's. */
  private static int onnxCode(TensorInfo.OnnxTensorType type) {
    String name = type.name().substring("ONNX_TENSOR_ELEMENT_DATA_TYPE_".length());
    return DataType.valueOf(name).getNumber();
  }

  private static void flattenStrings(Object value, List<ByteString> out) {
    if (value instanceof String s) {
      out.add(ByteString.copyFromUtf8(s));
    } else {
      for (int i = 0; i < Array.getLength(value); i++) {
        flattenStrings(Array.get(value, i), out);
      }
    }
  }

  /** Copies elements of {@code size} bytes between buffers of possibly different byte order. */
  private static void copyElements(ByteBuffer from, ByteBuffer to, int size) {
    while (from.remaining() >= size) {
      switch (size) {
        case 2 -> to.putShort(from.getShort());
        case 4 -> to.putInt(from.getInt());
        case 8 -> to.putLong(from.getLong());
        case 16 -> {
          to.putLong(from.getLong());
          to.putLong(from.getLong());
        }
        default -> to.put(from.get());
      }
    }
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }
}
