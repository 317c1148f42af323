package dev.onnxprune.graph;

/**
 * How {@link OnnxModels#write} stores tensor data.
 *
 * @param externalData where tensor data goes
 * @param externalThreshold tensors of at least this many bytes go to the external file
 * @param dataFileName the name external data file names are made from, beside the model: the
 *     writer inserts 16 hex digits of the data's SHA-256 before its extension ("weights.bin"
 *     gives "weights.0123456789abcdef.bin"); null for "{model file}.data"
 */
public record WriteOptions(ExternalData externalData, long externalThreshold, String dataFileName) {

  /** Protobuf messages are limited to 2 GiB; a model whose tensors pass this must use external data. */
  public static final long PROTOBUF_LIMIT = (1L << 31) - 1;

  /** Where tensor data is written. */
  public enum ExternalData {
    /** All data inside the .onnx file; refused (with a message saying so) for models over 2 GiB. */
    NEVER,
    /** Tensors of at least the threshold size go to one external file beside the model. */
    ALWAYS,
    /** Inline unless the model would pass the 2 GiB protobuf limit, then as ALWAYS. */
    AUTO
  }

  public WriteOptions {
    if (externalThreshold < 0) {
      throw new IllegalArgumentException("externalThreshold must be >= 0: " + externalThreshold);
    }
  }

  /** Inline data unless the model is too large for one protobuf file. */
  public static WriteOptions defaults() {
    return new WriteOptions(ExternalData.AUTO, 1024, null);
  }

  /** Tensors of 1 KiB or more in "{model}.{hash}.data" beside the model. */
  public static WriteOptions withExternalData() {
    return new WriteOptions(ExternalData.ALWAYS, 1024, null);
  }

  public static WriteOptions inline() {
    return new WriteOptions(ExternalData.NEVER, 1024, null);
  }
}
