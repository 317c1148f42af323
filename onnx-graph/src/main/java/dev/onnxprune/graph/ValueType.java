package dev.onnxprune.graph;

import com.google.protobuf.ByteString;

/**
 * The type of a value: a tensor type that the IR understands, or any other ONNX type
 * (sequence, map, optional, sparse tensor, opaque) kept as its serialized TypeProto.
 */
public sealed interface ValueType permits ValueType.TensorType, ValueType.OtherType {

  /**
   * A tensor of {@code elemType}; {@code shape} is null when even the rank is unknown.
   * {@code denotation} is ONNX's optional type denotation.
   */
  record TensorType(DataType elemType, Shape shape, String denotation) implements ValueType {
    public TensorType(DataType elemType, Shape shape) {
      this(elemType, shape, null);
    }

    public TensorType withShape(Shape newShape) {
      return new TensorType(elemType, newShape, denotation);
    }

    @Override
    public String toString() {
      return elemType + (shape == null ? "[?]" : shape.toString());
    }
  }

  /** A non-tensor type, carried as the serialized TypeProto bytes; {@code summary} is for humans. */
  record OtherType(ByteString typeProto, String summary) implements ValueType {
    @Override
    public String toString() {
      return summary;
    }
  }
}
