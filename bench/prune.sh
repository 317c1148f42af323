#!/usr/bin/env bash
# Structured pruning end to end (read, analyse, L1 scores, allocate --flops 0.5, apply, write)
# against read+write of the same model, alternating in one JVM; then ONNX Runtime CPU latency of
# the pruned and original model at batch 32.
#
#   bench/prune.sh [MODEL.onnx] [--pairs N] [--batch B] [--threads T] [--runs R]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model="testmodels/zoo/resnet50.onnx"
if [[ $# -gt 0 && "$1" != --* ]]; then
  model="$1"
  shift
fi
if [[ ! -f "$model" ]]; then
  echo "bench: $model not found; export it with: /usr/bin/python3 testmodels/export_zoo.py resnet50" >&2
  exit 2
fi
mvn -q -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx6g -cp "$cp" dev.onnxprune.bench.PruneBench "$model" "$@"
