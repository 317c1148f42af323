package dev.onnxprune.graph;

/** An operator set import: {@code domain} ("" or "ai.onnx" for the default) and its version. */
public record OpsetId(String domain, long version) {
  public OpsetId {
    domain = domain == null ? "" : domain;
  }

  /** True for the default ONNX domain, written as "" or "ai.onnx". */
  public boolean isDefaultDomain() {
    return domain.isEmpty() || domain.equals("ai.onnx");
  }
}
