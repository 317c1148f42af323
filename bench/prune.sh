#!/usr/bin/env bash
# Structured pruning end to end (read, analyse, L1 scores, allocate --flops 0.5, apply, write)
# against read+write of the same model, alternating in one JVM; then ONNX Runtime CPU latency of
# the pruned and original model at batch 32.
#
#   bench/prune.sh [MODEL.onnx] [--pairs N] [--batch B] [--threads T] [--runs R]
set -euo pipefail
source "$(dirname "$0")/common.sh"
java -Xmx6g -cp "$cp" dev.onnxprune.bench.PruneBench "$model" "$@"
