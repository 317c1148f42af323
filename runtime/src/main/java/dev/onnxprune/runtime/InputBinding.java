package dev.onnxprune.runtime;

import dev.onnxprune.errors.DataMismatchException;
import dev.onnxprune.graph.DataType;
import dev.onnxprune.graph.Dim;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Shape;
import dev.onnxprune.graph.Value;
import dev.onnxprune.graph.ValueType;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which model input each array of a {@link Batch} feeds, and as what: the batch's
 * {@link Batch#DATA} array goes to the data input (the model's first runtime input unless
 * another is named), a named array to the input of that name; each is converted to the element
 * type the model declares for its input (token ids read as INT64 feed an INT32 input as INT32;
 * a FLOAT array feeding a FLOAT input is passed as it is, without a copy), and checked against
 * the input's declared shape.
 */
public final class InputBinding {
  private final Map<String, Value> inputs = new LinkedHashMap<>();
  private final String dataInput;

  private InputBinding(Map<String, Value> inputs, String dataInput) {
    this.inputs.putAll(inputs);
    this.dataInput = dataInput;
  }

  /** The binding of {@code model}'s runtime inputs, the first of them being the data input. */
  public static InputBinding of(Model model) {
    Map<String, Value> in = new LinkedHashMap<>();
    for (Value v : model.graph().runtimeInputs()) {
      in.put(v.name(), v);
    }
    return new InputBinding(in, in.isEmpty() ? null : in.keySet().iterator().next());
  }

  /**
   * This binding with {@code name} as the data input.
   *
   * @throws IllegalArgumentException when the model has no such input
   */
  public InputBinding withDataInput(String name) {
    require(name);
    return new InputBinding(inputs, name);
  }

  /** The input the batches' {@link Batch#DATA} array feeds, or null for a model without inputs. */
  public String dataInput() {
    return dataInput;
  }

  /** The model's runtime input names, in graph order. */
  public List<String> names() {
    return List.copyOf(inputs.keySet());
  }

  /**
   * The model input that the batch array {@code key} feeds.
   *
   * @throws DataMismatchException when the model has no input of that name
   */
  public String inputFor(String key) {
    if (key.equals(Batch.DATA)) {
      if (dataInput == null) {
        throw new IllegalArgumentException("the model has no runtime input to feed batches to");
      }
      return dataInput;
    }
    if (!inputs.containsKey(key)) {
      throw new DataMismatchException("the data has an array '" + key + "' but the model has no input of that name;"
          + " inputs: " + inputs.keySet());
    }
    return key;
  }

  /** The element type the model declares for {@code input} (FLOAT when it declares none). */
  public DataType typeOf(String input) {
    ValueType.TensorType t = require(input).tensorType();
    return t == null || t.elemType() == null || t.elemType() == DataType.UNDEFINED ? DataType.FLOAT : t.elemType();
  }

  /**
   * The batch's arrays by the model input they feed, each of that input's element type.
   *
   * @throws DataMismatchException when an array names no model input or does not fit the
   *     input's declared shape
   */
  public Map<String, HostTensor> feeds(Batch batch) {
    Map<String, HostTensor> out = new LinkedHashMap<>();
    batch.features().forEach((key, t) -> {
      String name = inputFor(key);
      checkShape(name, t.shape());
      out.put(name, t.as(typeOf(name)));
    });
    return out;
  }

  /**
   * Checks that an array of {@code shape} fits input {@code name}'s declared shape (known dims
   * equal, symbolic and unknown ones anything).
   *
   * @throws DataMismatchException when it does not
   */
  public void checkShape(String name, long[] shape) {
    Shape declared = require(name).shape();
    if (declared == null) {
      return;
    }
    boolean fits = declared.rank() == shape.length;
    for (int i = 0; fits && i < shape.length; i++) {
      Dim d = declared.dim(i);
      fits = !d.isKnown() || d.get() == shape[i];
    }
    if (!fits) {
      String hint = declared.rank() == shape.length && declared.dim(0).isKnown() && declared.dim(0).get() != shape[0]
          ? " (its batch size is fixed at " + declared.dim(0).get() + ")"
          : "";
      throw new DataMismatchException("model input '" + name + "' is " + declared + hint + "; the batch is "
          + Arrays.toString(shape));
    }
  }

  private Value require(String name) {
    Value v = inputs.get(name);
    if (v == null) {
      throw new IllegalArgumentException("the model has no input '" + name + "'; inputs: " + inputs.keySet());
    }
    return v;
  }
}
